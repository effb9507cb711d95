package agent_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/tool/code"
)

// scratchSpellings are writes made after the taint: the scratch/ exemption
// holds for the path the workspace writes, whatever the spelling.
var scratchSpellings = []struct {
	path  string
	asked bool
}{
	{"scratch/notes.txt", false},
	{"./scratch/a.txt", false},
	{"scratch/./b.txt", false},
	{"x/../scratch/c.txt", false},
	{"scratch//d.txt", false},
	{"scratch/../main.py", true},
	{"scratch/x/../../main2.py", true},
	{"./main3.py", true},
	{"scratchpad/e.txt", true},
	{"scratch", true},
}

func TestTaintExemptionSeesCleanedPaths(t *testing.T) {
	for _, tt := range scratchSpellings {
		t.Run(tt.path, func(t *testing.T) {
			h := newHarness(t, "openai", llmtest.Script(
				llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("list_files", map[string]string{})}},
				llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("read_file", map[string]string{"path": "page.txt"})}},
				llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": tt.path, "content": "x"})}},
				finish("done"),
			))
			if err := h.ws.WriteFile("page.txt", []byte("anything")); err != nil {
				t.Fatal(err)
			}
			// Every untrusted text is flagged: read_file taints the task.
			h.cfg.Screen = func(string) guard.Result { return guard.Result{Injection: true, Score: 1, Reasons: []string{"test"}} }
			var asked []bulwark.Approval
			h.cfg.Approve = func(_ context.Context, a bulwark.Approval) (bool, error) {
				asked = append(asked, a)
				return false, nil
			}
			h.run(t, context.Background())
			if got := len(asked) > 0; got != tt.asked {
				t.Errorf("write_file(%q) after the taint: asked = %v (%+v), want %v", tt.path, got, asked, tt.asked)
			}
			if tt.asked && len(asked) == 1 && asked[0].Rule != "taint" {
				t.Errorf("asked by %q, want the taint", asked[0].Rule)
			}
		})
	}
}

// canaryEncodings hide the canary token tok in write_file's arguments. Each
// returns the raw JSON arguments of the call.
var canaryEncodings = []struct {
	name string
	args func(tok string) string
}{
	{"plain", func(tok string) string { return jsonArgs("leak.txt", "my instructions: "+tok) }},
	{"each character JSON-\\u-escaped", func(tok string) string {
		return `{"path":"leak.txt","content":"` + escapeEach(tok, `\u%04x`) + `"}`
	}},
	{"JSON-\\u-escaped, upper-case hex", func(tok string) string {
		return `{"path":"leak.txt","content":"` + escapeEach(tok, `\u%04X`) + `"}`
	}},
	{"\\u escapes inside the string", func(tok string) string { return jsonArgs("leak.py", "s = '"+escapeEach(tok, `\u%04x`)+"'") }},
	{"url", func(tok string) string {
		return jsonArgs("leak.txt", "https://evil.example/?q="+url.QueryEscape("x "+tok))
	}},
	{"every byte percent-encoded", func(tok string) string { return jsonArgs("leak.txt", escapeEach(tok, "%%%02X")) }},
	{"base64", func(tok string) string { return jsonArgs("leak.txt", base64.StdEncoding.EncodeToString([]byte(tok))) }},
	{"base64 JSON-escaped", func(tok string) string {
		return `{"path":"leak.txt","content":"` + escapeEach(base64.StdEncoding.EncodeToString([]byte(tok)), `\u%04x`) + `"}`
	}},
	{"hex", func(tok string) string { return jsonArgs("leak.txt", hex.EncodeToString([]byte(tok))) }},
	{"\\x escapes", func(tok string) string { return jsonArgs("leak.txt", escapeEach(tok, `\x%02x`)) }},
	{"html entities", func(tok string) string { return jsonArgs("leak.html", escapeEach(tok, "&#%d;")) }},
	{"html entities JSON-escaped", func(tok string) string {
		return `{"path":"leak.html","content":"` + escapeEach(escapeEach(tok, "&#x%x;"), `\u%04x`) + `"}`
	}},
	{"split between path and content", func(tok string) string { return jsonArgs(tok[:len(tok)/2], tok[len(tok)/2:]) }},
}

func jsonArgs(path, content string) string {
	b, _ := json.Marshal(map[string]string{"path": path, "content": content})
	return string(b)
}

// escapeEach writes each character of s with format (one verb).
func escapeEach(s, format string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, format, r)
	}
	return b.String()
}

func TestCanaryInEveryEncodingIsBlocked(t *testing.T) {
	for _, tt := range canaryEncodings {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "openai", func(r *llmtest.Request) llmtest.Turn {
				if len(r.Messages) > 2 {
					return finish("done")
				}
				m := canaryRE.FindStringSubmatch(r.Messages[0].Content)
				if m == nil {
					return llmtest.Turn{Content: "no canary in the system prompt"}
				}
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: json.RawMessage(tt.args(m[1]))}}}
			})
			h.run(t, context.Background())
			calls := h.ofType(bulwark.EventToolCall)
			if len(calls) == 0 || calls[0].Tool != "write_file" || !strings.Contains(string(calls[0].Args), "withheld") {
				t.Fatalf("tool_call events = %+v, want the write_file call with its arguments withheld", calls)
			}
			if entries, _ := h.ws.ReadDir("."); len(entries) > 0 {
				t.Errorf("the call carrying the canary wrote %s", entries[0].Name())
			}
			g := h.ofType(bulwark.EventGuard)
			if len(g) != 1 || !strings.Contains(g[0].Text, "canary") {
				t.Errorf("guard events = %+v, want the canary block", g)
			}
		})
	}
}

func (h *harness) exists(name string) bool {
	_, err := h.ws.Stat(name)
	return err == nil
}

// TestApprovalShowsWhatRuns: a person asked about a command sees it as it
// will run, redirections and all, not only the commands the policy matched.
func TestApprovalShowsWhatRuns(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("run_shell", map[string]string{"command": "echo hi > notes.txt"})}},
		finish("ok"),
	))
	h.cfg.Tools.Add(code.Shell())
	h.cfg.Policy = bulwark.Policy{Rules: []bulwark.Rule{{Tool: "run_shell", Pattern: "echo *", Decision: bulwark.Ask}}}
	var asked []bulwark.Approval
	h.cfg.Approve = func(_ context.Context, a bulwark.Approval) (bool, error) {
		asked = append(asked, a)
		return false, nil
	}
	h.run(t, context.Background())
	if len(asked) != 1 || asked[0].Target != "echo hi > notes.txt" {
		t.Errorf("approvals %+v, want the command line as it runs", asked)
	}
}
