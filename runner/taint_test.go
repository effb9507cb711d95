package runner_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// A served task runs in its Setup's taint mode: in source mode, a file it
// reads taints it, and its later write outside scratch/ waits for a
// person, who is told which file and the guard's score.
func TestSetupTaintSource(t *testing.T) {
	e := newEnv(t, steps(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "notes.txt", "content": "Release notes: faster start-up."})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("read_file", map[string]string{"path": "notes.txt"})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "main.py", "content": "x"})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}},
	))
	e.taint = bulwark.TaintSource
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitStatus(t, e, e.a, task.ID, bulwark.TaskWaiting)
	aps := must(e.rt.Approvals(ctx, e.a, task.ID))
	if len(aps) != 1 || aps[0].Target != "main.py" || aps[0].Rule != "taint" ||
		!strings.Contains(aps[0].Reason, "read_file: notes.txt (guard score") || !strings.Contains(aps[0].Reason, "not flagged") {
		t.Fatalf("approvals = %+v, want the write to main.py, naming notes.txt and the guard's score", aps)
	}
	if err := e.rt.Decide(ctx, e.a, "k", task.ID, aps[0].ID, false); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
}
