package agent_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// cutOff is a turn a restart interrupted: the model asked to write w.txt
// and to read r.txt; both calls were stored as started, neither result.
var cutOff = []bulwark.Event{
	{Seq: 1, Type: bulwark.EventTaskStarted, Text: "write and read"},
	{Seq: 2, Step: 3, Type: bulwark.EventToolCall, CallID: "c1", Tool: "write_file", Args: json.RawMessage(`{"path":"w.txt","content":"again"}`)},
	{Seq: 3, Step: 3, Type: bulwark.EventToolCall, CallID: "c2", Tool: "read_file", Args: json.RawMessage(`{"path":"r.txt"}`)},
}

// TestResumeCutOffCalls: a resumed turn runs no call twice (the write is
// reported interrupted, its tool_call not sent again), runs the read
// again (it declares itself idempotent), counts its budgets on from the
// checkpoint, and checkpoints each step before the event recording it.
func TestResumeCutOffCalls(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("list_files", map[string]string{})}},
		finish("never reached: the step budget runs out first"),
	))
	if err := h.ws.WriteFile("r.txt", []byte("read me")); err != nil {
		t.Fatal(err)
	}
	var cps []bulwark.Checkpoint
	h.cfg.Checkpoint = func(c bulwark.Checkpoint) { cps = append(cps, c) }
	h.cfg.History = cutOff
	h.cfg.Limits = bulwark.Limits{MaxSteps: 3, MaxTokens: 1_000_000, MaxDuration: time.Hour}
	h.cfg.Resume = &bulwark.Checkpoint{Seq: 3, Step: 3, Spent: bulwark.Spent{Steps: 2, Usage: bulwark.Usage{InputTokens: 100}, Elapsed: time.Minute},
		Taint: bulwark.Taint{Flagged: "earlier injection"}}
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishMaxSteps || out.Steps != 3 {
		t.Errorf("the resumed turn ended %s after %d steps, want max_steps after 3 (2 spent before, 1 now)", out.Reason, out.Steps)
	}
	if out.Usage.InputTokens <= 100 {
		t.Errorf("usage %+v does not count on from the 100 tokens spent before", out.Usage)
	}
	if _, err := h.ws.ReadFile("w.txt"); err == nil {
		t.Error("the interrupted write ran again")
	}
	if n := len(h.ofType(bulwark.EventToolCall)); n != 1 {
		t.Errorf("%d tool_call events, want 1 (list_files): the cut-off calls are not sent again", n)
	}
	results := map[string]bulwark.Event{}
	for _, e := range h.ofType(bulwark.EventToolResult) {
		results[e.CallID] = e
	}
	if r := results["c1"]; !r.IsError || !strings.Contains(r.Text, "interrupted by a restart and was not retried") {
		t.Errorf("the cut-off write's result = %+v, want it reported interrupted", r)
	}
	if r := results["c2"]; r.IsError || !strings.Contains(r.Text, "read me") {
		t.Errorf("the cut-off read's result = %+v, want it run again", r)
	}
	// The model saw a well-formed conversation: both results right after
	// its reply, then the notice.
	msgs := h.srv.Requests()[0].Messages
	var roles []string
	for _, m := range msgs[1:] {
		roles = append(roles, string(m.Role))
	}
	if got := strings.Join(roles, " "); got != "user assistant tool tool user" {
		t.Errorf("the model was given roles %q, want user assistant tool tool user", got)
	}
	// Each checkpoint's Seq is the seq of the event that follows it.
	h.mu.Lock()
	defer h.mu.Unlock()
	seqs := map[int64]bool{}
	for _, e := range h.events {
		seqs[e.Seq] = true
	}
	if len(cps) < 2 {
		t.Fatalf("%d checkpoints, want one per step (the read, the model's reply, the listing)", len(cps))
	}
	for _, c := range cps {
		if !seqs[c.Seq] || c.Seq <= 3 {
			t.Errorf("checkpoint at seq %d matches no event of this run", c.Seq)
		}
		if c.Taint.Flagged != "earlier injection" {
			t.Errorf("checkpoint taint = %+v, want the resumed one", c.Taint)
		}
		if c.Spent.Elapsed < time.Minute {
			t.Errorf("checkpoint elapsed %s, want counted on from a minute", c.Spent.Elapsed)
		}
	}
	if last := cps[len(cps)-1]; last.Spent.Steps != 3 || last.Spent.Usage.InputTokens <= 100 {
		t.Errorf("last checkpoint spent %+v, want 3 steps and over 100 tokens", last.Spent)
	}
}

// TestResumeWaitingAsksAgain: a call that waited for a person's approval
// when the process stopped asks again.
func TestResumeWaitingAsksAgain(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(finish("done")))
	var asked []bulwark.Approval
	h.cfg.Approve = func(_ context.Context, a bulwark.Approval) (bool, error) {
		asked = append(asked, a)
		return true, nil
	}
	h.cfg.Policy = bulwark.Policy{Rules: []bulwark.Rule{{Tool: "write_file", Decision: bulwark.Ask}}}
	h.cfg.History = []bulwark.Event{
		{Seq: 1, Type: bulwark.EventTaskStarted, Text: "write"},
		{Seq: 2, Step: 1, Type: bulwark.EventToolCall, CallID: "c1", Tool: "write_file", Args: json.RawMessage(`{"path":"w.txt","content":"ok"}`)},
		{Seq: 3, Step: 1, Type: bulwark.EventApproval, CallID: "c1", Tool: "write_file", Text: "Allow write_file: w.txt?"},
	}
	h.cfg.Resume = &bulwark.Checkpoint{Seq: 2, Step: 1, Spent: bulwark.Spent{Steps: 1}}
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishDone {
		t.Errorf("ended %s, want done", out.Reason)
	}
	if len(asked) != 1 || asked[0].Target != "w.txt" {
		t.Errorf("asked %+v, want the write asked about again", asked)
	}
	if data, err := h.ws.ReadFile("w.txt"); err != nil || string(data) != "ok" {
		t.Errorf("w.txt = %q, %v; want written once approved", data, err)
	}
}
