package audit

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestToolCallRecordsEffects: a tool call is audited with what its tool
// declared it acts on (the cleaned path), and a refusal with who decided.
func TestToolCallRecordsEffects(t *testing.T) {
	a := &TaskAuditor{}
	a.record(bulwark.Event{Type: bulwark.EventToolCall, TaskID: "t1", Tool: "write_file", CallID: "c1",
		Args:    json.RawMessage(`{"path":"x/../src/main.py","content":"x"}`),
		Effects: &bulwark.Effects{Writes: []string{"src/main.py"}, Targets: []string{"src/main.py"}}})
	r, ok := a.record(bulwark.Event{Type: bulwark.EventToolResult, TaskID: "t1", Tool: "write_file", CallID: "c1", Step: 1})
	if !ok || r.Action != "tool.call" || r.Details["effects"] != "writes src/main.py" {
		t.Errorf("record = %+v, %v; want the effects: writes src/main.py", r, ok)
	}
	r, ok = a.record(bulwark.Event{Type: bulwark.EventApproval, TaskID: "t1", Tool: "run_shell", CallID: "c2",
		Decision: "deny", DecidedBy: bulwark.DecidedByPolicy, Text: "refused by the policy rule run_shell(rm -rf *)=deny"})
	if !ok || r.Outcome != OutcomeDenied || r.Details["decided_by"] != "policy" {
		t.Errorf("record = %+v, %v; want a denial decided by the policy", r, ok)
	}
	long := strings.Repeat("é", maxEffects)
	a.record(bulwark.Event{Type: bulwark.EventToolCall, CallID: "c3", Effects: &bulwark.Effects{Runs: []string{long}}})
	r, _ = a.record(bulwark.Event{Type: bulwark.EventToolResult, CallID: "c3"})
	if got := r.Details["effects"]; len(got) > maxEffects+len("…") || !strings.HasSuffix(got, "…") {
		t.Errorf("effects of %d bytes recorded as %d bytes", len(long), len(got))
	}
}

// TestPendingNamesResumedCalls: a run that resumes a task carries out a
// call an earlier run started (an approval asked again); told the stored
// events, the auditor records what the call was, and nothing for calls
// that already ended.
func TestPendingNamesResumedCalls(t *testing.T) {
	a := &TaskAuditor{}
	a.Pending([]bulwark.Event{
		{Type: bulwark.EventToolCall, TaskID: "t1", Tool: "write_file", CallID: "c1", Args: json.RawMessage(`{"path":"a.txt","content":"x"}`)},
		{Type: bulwark.EventToolResult, TaskID: "t1", Tool: "write_file", CallID: "c1"},
		{Type: bulwark.EventToolCall, TaskID: "t1", Tool: "run_shell", CallID: "c2", Args: json.RawMessage(`{"command":"echo hi"}`),
			Effects: &bulwark.Effects{Runs: []string{"echo"}, Targets: []string{"echo"}}},
	})
	r, ok := a.record(bulwark.Event{Type: bulwark.EventToolResult, TaskID: "t1", Tool: "run_shell", CallID: "c2", Step: 2})
	if !ok || r.Details["target"] != "echo" || len(r.Details["args_sha256"]) != 64 || r.Details["effects"] != "runs echo" {
		t.Errorf("the resumed call's record = %+v, %v; want its target, args hash and effects", r, ok)
	}
	if len(a.calls) != 0 {
		t.Errorf("calls left pending: %v", a.calls)
	}
}

// TestMCPCallRecords: the record of an MCP tool call names the server and
// the tool, the program it called and that it was declared destructive,
// and never the arguments' content.
func TestMCPCallRecords(t *testing.T) {
	a := &TaskAuditor{}
	a.record(bulwark.Event{Type: bulwark.EventToolCall, TaskID: "t1", Tool: "mcp__github__delete_repo", CallID: "c1",
		Args:    json.RawMessage(`{"repo":"acme/secret-plans","reason":"the launch code is 0000"}`),
		Effects: &bulwark.Effects{Calls: []string{"github/delete_repo"}, Destructive: true, Targets: []string{`{"reason":"the launch code is 0000","repo":"acme/secret-plans"}`}}})
	r, ok := a.record(bulwark.Event{Type: bulwark.EventToolResult, TaskID: "t1", Tool: "mcp__github__delete_repo", CallID: "c1", IsError: true})
	if !ok || r.Details["mcp_server"] != "github" || r.Details["mcp_tool"] != "delete_repo" || r.Outcome != OutcomeError {
		t.Fatalf("record = %+v, %v; want the server, the tool and the error outcome", r, ok)
	}
	if got := r.Details["effects"]; got != "calls github/delete_repo; declared destructive" {
		t.Errorf("effects %q", got)
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "launch code") || strings.Contains(string(b), "secret-plans") {
		t.Errorf("the record holds the arguments' content: %s", b)
	}
}
