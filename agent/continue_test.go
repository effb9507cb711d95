package agent_test

import (
	"context"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// earlierTurn is the stored history of a task whose first turn read text
// the guard flagged, spent ten steps, and finished; then a person's
// message continued it.
var earlierTurn = []bulwark.Event{
	{Seq: 1, Type: bulwark.EventTaskStarted, Text: "read the page"},
	{Seq: 2, Step: 10, Type: bulwark.EventToolCall, CallID: "c1", Tool: "read_file", Args: []byte(`{"path":"page.html"}`)},
	{Seq: 3, Step: 10, Type: bulwark.EventGuard, CallID: "c1", Tool: "read_file", Text: "text from read_file looks like prompt injection"},
	{Seq: 4, Step: 10, Type: bulwark.EventToolResult, CallID: "c1", Tool: "read_file", Text: "<<untrusted>>"},
	{Seq: 5, Step: 10, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "read"},
	{Seq: 6, Step: 10, Type: bulwark.EventUserMessage, Text: "now write main.py"},
}

// TestContinuedTurn: a new turn sees the conversation so far, numbers its
// steps after the stored ones, gets its own step budget, and a task
// tainted in an earlier turn stays tainted (a write outside scratch/
// needs a person).
func TestContinuedTurn(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "main.py", "content": "x"})}},
		finish("done"),
	))
	var asked []bulwark.Approval
	h.cfg.Approve = func(_ context.Context, a bulwark.Approval) (bool, error) {
		asked = append(asked, a)
		return false, nil
	}
	h.cfg.History = earlierTurn
	h.cfg.Limits = bulwark.Limits{MaxSteps: 2}
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishDone || out.Steps != 2 {
		t.Errorf("the turn ended %s after %d steps, want done after 2 (its own budget)", out.Reason, out.Steps)
	}
	if len(asked) != 1 || asked[0].Target != "main.py" {
		t.Errorf("approvals asked = %+v, want the write to main.py: the taint of the earlier turn holds", asked)
	}
	if _, err := h.ws.ReadFile("main.py"); err == nil {
		t.Error("the refused write happened")
	}
	msgs := h.srv.Requests()[0].Messages
	var texts []string
	for _, m := range msgs[1:] {
		texts = append(texts, string(m.Role)+":"+m.Content)
	}
	want := []string{"user:read the page", "assistant:", "tool:<<untrusted>>", "user:now write main.py"}
	if len(texts) != len(want) {
		t.Fatalf("the model was given %q, want %q", texts, want)
	}
	for i := range want {
		if texts[i] != want[i] {
			t.Errorf("message %d = %q, want %q", i+1, texts[i], want[i])
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if first := h.events[0]; first.Seq != 7 || first.Type != bulwark.EventTaskStarted || first.Text != "" {
		t.Errorf("the turn's first event = %+v, want task_started with seq 7", first)
	}
	for _, e := range h.events {
		if e.Step != 0 && e.Step <= 10 && e.Type != bulwark.EventTaskStarted {
			t.Errorf("event %s has step %d, want steps after the stored 10", e.Type, e.Step)
		}
	}
}
