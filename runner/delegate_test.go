package runner_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// isChild reports whether r is a sub-agent's conversation: its task is
// the one the parent delegated.
func isChild(r *llmtest.Request) bool {
	for _, m := range r.Messages {
		if m.Role == llm.User && m.Content == "the sub-task" {
			return true
		}
	}
	return false
}

func childOf(t *testing.T, e *env, tenant bulwark.TenantID, parent string) bulwark.Task {
	t.Helper()
	var child bulwark.Task
	waitFor(t, func() bool {
		page, err := e.rt.Tasks(context.Background(), tenant, bulwark.TaskQuery{Parent: parent})
		if err != nil || len(page.Tasks) == 0 {
			return false
		}
		child = page.Tasks[0]
		return true
	})
	return child
}

// TestDelegateApprovalsReachTheParent: a child runs inline in its parent's
// only worker (no deadlock), is a task of its own with parent_id, and its
// approval is listed and decided through its parent as through itself;
// another tenant sees neither.
func TestDelegateApprovalsReachTheParent(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if isChild(r) {
			if toolResults(r) == 0 {
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "notes/c.txt", "content": "c"})}}
			}
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "child wrote c.txt"})}}
		}
		if toolResults(r) == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("delegate", map[string]string{"task": "the sub-task"})}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "parent done"})}}
	})
	e.workers, e.quota, e.delegate = 1, 1, true
	e.policy = bulwark.Policy{Rules: []bulwark.Rule{{Tool: "write_file", Decision: bulwark.Ask}}}
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	parent := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test", CreatedBy: "u_alice"}))
	child := childOf(t, e, e.a, parent.ID)
	if child.ParentID != parent.ID {
		t.Fatalf("child's parent_id = %q, want %q", child.ParentID, parent.ID)
	}
	if child.CreatedBy != "u_alice" { // a sub-agent acts for, and remembers as, whoever started its parent
		t.Errorf("child's created_by = %q, want its parent's u_alice", child.CreatedBy)
	}
	waitStatus(t, e, e.a, child.ID, bulwark.TaskWaiting)
	var aps []bulwark.Approval
	waitFor(t, func() bool { aps = must(e.rt.Approvals(ctx, e.a, parent.ID)); return len(aps) == 1 })
	if aps[0].TaskID != child.ID {
		t.Errorf("approval listed under the parent names task %s, want the child %s", aps[0].TaskID, child.ID)
	}
	if own := must(e.rt.Approvals(ctx, e.a, child.ID)); len(own) != 1 || own[0].ID != aps[0].ID {
		t.Errorf("the child's own approvals = %+v", own)
	}
	for name, err := range map[string]error{
		"Approvals": second(e.rt.Approvals(ctx, e.b, child.ID)),
		"Decide":    e.rt.Decide(ctx, e.b, "k", child.ID, aps[0].ID, true),
		"Cancel":    e.rt.Cancel(ctx, e.b, "k", child.ID),
		"Subscribe": second(e.rt.Subscribe(ctx, e.b, child.ID, 0)),
	} {
		if bulwark.ErrorKind(err) != bulwark.NotFound {
			t.Errorf("another tenant's %s on the child: %v, want not found", name, err)
		}
	}
	if page := must(e.rt.Tasks(ctx, e.b, bulwark.TaskQuery{Parent: parent.ID})); len(page.Tasks) != 0 {
		t.Errorf("another tenant lists the children: %+v", page.Tasks)
	}
	if err := e.rt.Decide(ctx, e.a, "k", parent.ID, aps[0].ID, true); err != nil {
		t.Fatalf("deciding the child's approval through its parent: %v", err)
	}
	done := waitStatus(t, e, e.a, parent.ID, bulwark.TaskSucceeded)
	if done.Answer != "parent done" {
		t.Errorf("parent's answer = %q", done.Answer)
	}
	c := waitStatus(t, e, e.a, child.ID, bulwark.TaskSucceeded)
	if c.Answer != "child wrote c.txt" {
		t.Errorf("child's answer = %q", c.Answer)
	}
	// The parent's usage includes its child's.
	if done.Usage.InputTokens < c.Usage.InputTokens || c.Usage.InputTokens == 0 {
		t.Errorf("parent usage %+v does not include the child's %+v", done.Usage, c.Usage)
	}
	evs := must(e.db.Events(ctx, e.a, child.ID, 0, 0))
	var wrote bool
	for _, ev := range evs {
		wrote = wrote || ev.Type == bulwark.EventToolResult && ev.Tool == "write_file" && !ev.IsError
	}
	if !wrote {
		t.Error("the child's write is not among its own stored events")
	}
}

// TestDelegateCancelCascade: cancelling the parent while its child runs
// ends both, canceled.
func TestDelegateCancelCascade(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if isChild(r) {
			return llmtest.Turn{Content: "thinking", Hang: true}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("delegate", map[string]string{"task": "the sub-task"})}}
	})
	e.delegate = true
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	parent := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	child := childOf(t, e, e.a, parent.ID)
	waitStatus(t, e, e.a, child.ID, bulwark.TaskRunning)
	if err := e.rt.Cancel(ctx, e.a, "k", parent.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, e.a, child.ID, bulwark.TaskCanceled)
	waitStatus(t, e, e.a, parent.ID, bulwark.TaskCanceled)
}

// TestDelegateCancelChildAlone: a sub-agent cancelled by its own id ends
// canceled, and its parent goes on, told the sub-agent stopped.
func TestDelegateCancelChildAlone(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if isChild(r) {
			return llmtest.Turn{Content: "thinking", Hang: true}
		}
		if toolResults(r) == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("delegate", map[string]string{"task": "the sub-task"})}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "went on: " + r.Messages[len(r.Messages)-1].Content})}}
	})
	e.delegate = true
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	parent := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	child := childOf(t, e, e.a, parent.ID)
	waitStatus(t, e, e.a, child.ID, bulwark.TaskRunning)
	if err := e.rt.Cancel(ctx, e.a, "k", child.ID); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, e.a, child.ID, bulwark.TaskCanceled)
	done := waitStatus(t, e, e.a, parent.ID, bulwark.TaskSucceeded)
	if want := "stopped without finishing (canceled)"; !strings.Contains(done.Answer, want) {
		t.Errorf("parent's answer = %q, want it told %q", done.Answer, want)
	}
}

// TestDelegateGrandchildApprovals: a sub-agent's own sub-agent hangs under
// it, and its approval is listed under each of its ancestors.
func TestDelegateGrandchildApprovals(t *testing.T) {
	level := func(r *llmtest.Request) string {
		for _, m := range r.Messages {
			if m.Role == llm.User && (m.Content == "level 1" || m.Content == "level 2") {
				return m.Content
			}
		}
		return "root"
	}
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		n := toolResults(r)
		switch level(r) {
		case "root", "level 1":
			if n == 0 {
				next := map[string]string{"root": "level 1", "level 1": "level 2"}[level(r)]
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("delegate", map[string]string{"task": next})}}
			}
		case "level 2":
			if n == 0 {
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "g.txt", "content": "g"})}}
			}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}}
	})
	e.delegate = true
	e.policy = bulwark.Policy{Rules: []bulwark.Rule{{Tool: "write_file", Decision: bulwark.Ask}}}
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	root := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	child := childOf(t, e, e.a, root.ID)
	grand := childOf(t, e, e.a, child.ID)
	waitStatus(t, e, e.a, grand.ID, bulwark.TaskWaiting)
	for _, id := range []string{grand.ID, child.ID, root.ID} {
		var aps []bulwark.Approval
		waitFor(t, func() bool { aps = must(e.rt.Approvals(ctx, e.a, id)); return len(aps) == 1 })
		if aps[0].TaskID != grand.ID {
			t.Errorf("approvals of %s = %+v, want the grandchild's", id, aps)
		}
	}
	aps := must(e.rt.Approvals(ctx, e.a, child.ID))
	if err := e.rt.Decide(ctx, e.a, "k", child.ID, aps[0].ID, true); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, e.a, root.ID, bulwark.TaskSucceeded)
	waitStatus(t, e, e.a, grand.ID, bulwark.TaskSucceeded)
}
