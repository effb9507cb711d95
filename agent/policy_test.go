package agent_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

func TestPolicy(t *testing.T) {
	rules, err := bulwark.ParseRules("write_file(*.env)=deny; write_file(notes/*)=ask")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     string
		approve  func(context.Context, bulwark.Approval) (bool, error)
		written  bool
		approval []string // decisions of the approval events, "" for the question
		want     string   // in the tool result
	}{
		{"allowed by default", "a.txt", nil, true, nil, "created"},
		{"denied by rule", "prod.env", alwaysYes, false, []string{"deny"}, "the policy refuses"},
		{"asked and allowed", "notes/a.txt", alwaysYes, true, []string{"", "allow"}, "created"},
		{"asked and refused", "notes/a.txt", alwaysNo, false, []string{"", "deny"}, "a person refused"},
		{"asked with no one to answer", "notes/a.txt", nil, false, []string{"", "deny"}, "a person refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "openai", llmtest.Script(
				llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": tt.path, "content": "x"})}},
				finish("ok"),
			))
			h.cfg.Policy = bulwark.Policy{Rules: rules}
			var asked []bulwark.Approval
			if tt.approve != nil {
				h.cfg.Approve = func(ctx context.Context, a bulwark.Approval) (bool, error) {
					asked = append(asked, a)
					return tt.approve(ctx, a)
				}
			}
			h.run(t, context.Background())
			_, err := h.ws.ReadFile(tt.path)
			if written := err == nil; written != tt.written {
				t.Errorf("file written = %v, want %v", written, tt.written)
			}
			var decisions []string
			for _, e := range h.ofType(bulwark.EventApproval) {
				decisions = append(decisions, e.Decision)
			}
			if strings.Join(decisions, ",") != strings.Join(tt.approval, ",") {
				t.Errorf("approval events %q, want %q", decisions, tt.approval)
			}
			res := h.ofType(bulwark.EventToolResult)[0]
			if !strings.Contains(res.Text, tt.want) {
				t.Errorf("tool result %q, want it to contain %q", res.Text, tt.want)
			}
			for _, a := range asked {
				if a.Target != tt.path || a.Tool != "write_file" || a.Rule != "write_file(notes/*)=ask" || a.TaskID != "t_test" {
					t.Errorf("approval asked = %+v, want the exact path and the rule", a)
				}
			}
		})
	}
}

func alwaysYes(context.Context, bulwark.Approval) (bool, error) { return true, nil }
func alwaysNo(context.Context, bulwark.Approval) (bool, error)  { return false, nil }
