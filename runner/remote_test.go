package runner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// TestRequestsFromAnotherProcess: a task runs in one runtime; a second
// runtime on the same store (another process) decides its approval,
// answers its question and, for another task, cancels it, each through
// the store's control requests.
func TestRequestsFromAnotherProcess(t *testing.T) {
	var seen modelHeard
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		seen.add(r)
		if strings.Contains(r.Messages[1].Content, "hang") {
			return llmtest.Turn{Content: "thinking", Hang: true}
		}
		switch toolResults(r) {
		case 0:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "notes/x.txt", "content": "x"})}}
		case 1:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("ask_user", map[string]string{"question": "name?"})}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}}
	})
	e.policy = bulwark.Policy{Rules: []bulwark.Rule{{Tool: "write_file", Pattern: "notes/*", Decision: bulwark.Ask}}}
	e.controls = e.db
	runs := e.newRuntime(t, e.db)
	other := e.newRuntime(t, e.db)
	ctx := context.Background()

	task := must(runs.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitStatus(t, e, e.a, task.ID, bulwark.TaskWaiting)
	aps := must(runs.Approvals(ctx, e.a, task.ID))
	if len(aps) != 1 {
		t.Fatalf("approvals = %+v, want one", aps)
	}
	if err := other.Decide(ctx, e.b, "k", task.ID, aps[0].ID, true); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("another tenant deciding from elsewhere: %v, want not found", err)
	}
	if err := other.Decide(ctx, e.a, "k", task.ID, aps[0].ID, true); err != nil {
		t.Fatalf("deciding from another process: %v", err)
	}
	waitFor(t, func() bool {
		evs, _ := e.db.Events(ctx, e.a, task.ID, 0, 0)
		for _, ev := range evs {
			if ev.Type == bulwark.EventAskUser {
				return true
			}
		}
		return false
	})
	if err := other.Send(ctx, e.a, task.ID, "Ada Lovelace"); err != nil {
		t.Fatalf("answering from another process: %v", err)
	}
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	if !seen.has("Ada Lovelace") {
		t.Error("the answer sent from another process never reached the model")
	}

	hung := must(runs.Submit(ctx, e.a, "k", bulwark.Task{Input: "hang", Model: "openai:test"}))
	waitStatus(t, e, e.a, hung.ID, bulwark.TaskRunning)
	if err := other.Cancel(ctx, e.a, "k", hung.ID); err != nil {
		t.Fatalf("canceling from another process: %v", err)
	}
	waitStatus(t, e, e.a, hung.ID, bulwark.TaskCanceled)
}

// TestRequestForAnEndedTurnIsDropped: a cancel made for a turn that ended
// before it was taken does not reach the next turn of the conversation.
func TestRequestForAnEndedTurnIsDropped(t *testing.T) {
	finish := []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}
	// The second turn thinks long enough for many polls to take the
	// request (a margin, not a speed assertion).
	e := newEnv(t, steps(llmtest.Turn{ToolCalls: finish}, llmtest.Turn{Delay: 500 * time.Millisecond, ToolCalls: finish}))
	e.controls = e.db
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	// Sent to turn 1 as it ended, taken only now.
	if _, err := e.db.SendControl(ctx, e.a, bulwark.ControlRequest{TaskID: task.ID, Turn: 1, Kind: bulwark.ControlCancel}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.Continue(ctx, e.a, "k", task.ID, "again", nil); err != nil {
		t.Fatal(err)
	}
	if got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded); got.Turns != 2 {
		t.Errorf("the second turn ended as turn %d", got.Turns)
	}
}

// TestOrphanedTaskGoesOn: a task stored as running whose process stopped
// after this runtime started (no process holds it) is not sent requests
// no one would take: a cancel ends it at once, and a message resumes it
// in a new turn.
func TestOrphanedTaskGoesOn(t *testing.T) {
	e := newEnv(t, steps(llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}}))
	e.controls = e.db
	e.elsewhere = func(bulwark.Task) bool { return false } // the process is gone
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	a := must(e.db.CreateTask(ctx, e.a, bulwark.Task{Input: "x", Model: "openai:test", Status: bulwark.TaskRunning}))
	b := must(e.db.CreateTask(ctx, e.a, bulwark.Task{Input: "y", Model: "openai:test", Status: bulwark.TaskRunning}))
	if err := e.rt.Cancel(ctx, e.a, "k", a.ID); err != nil {
		t.Fatalf("cancel of an orphaned task: %v", err)
	}
	if got := must(e.db.Task(ctx, e.a, a.ID)); got.Status != bulwark.TaskCanceled {
		t.Errorf("the orphaned task is %s after cancel, want canceled", got.Status)
	}
	_, continued, err := e.rt.Message(ctx, e.a, "k", b.ID, "go on", nil)
	if err != nil || !continued {
		t.Fatalf("a message to an orphaned task: continued %v, %v; want a new turn", continued, err)
	}
	if got := waitStatus(t, e, e.a, b.ID, bulwark.TaskSucceeded); got.Turns != 2 {
		t.Errorf("the orphaned task went on in turn %d, want 2", got.Turns)
	}
	if got, _ := e.db.TakeControls(ctx, []bulwark.TaskRef{{Tenant: e.a, ID: a.ID}, {Tenant: e.a, ID: b.ID}}); len(got) != 0 {
		t.Errorf("requests were stored for tasks no process runs: %+v", got)
	}
}
