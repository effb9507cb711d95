package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func delegateExample(t *testing.T) string {
	p, err := filepath.Abs("../../examples/delegate/script.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunDelegateExample: the README's sub-agent example runs without an
// API key, one replay script playing the parent and its child in turn,
// the child's steps shown indented under the delegate call.
func TestRunDelegateExample(t *testing.T) {
	ws := t.TempDir()
	r := runBulwark(t, nil, "run", "--model", "replay:"+delegateExample(t), "--workspace", ws, "Make a small temperature report")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, name := range []string{"data.csv", "report.md"} {
		if _, err := os.Stat(filepath.Join(ws, name)); err != nil {
			t.Errorf("the example did not write %s: %v", name, err)
		}
	}
	for _, want := range []string{"→ delegate", "! sub-agent t_", "    │ → write_file path=\"data.csv\"", "    │ ✔ done", "  ✓ data.csv holds 3 readings", "A sub-agent wrote data.csv"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestRunDelegateJSON: in --json, the child's events are lines of their
// own task id, and the parent's notice names it.
func TestRunDelegateJSON(t *testing.T) {
	r := runBulwark(t, nil, "run", "--json", "--model", "replay:"+delegateExample(t), "--workspace", t.TempDir(), "task")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	ids := map[string]int{}
	var child string
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var e struct {
			TaskID string `json:"task_id"`
			Child  string `json:"child"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		ids[e.TaskID]++
		if e.Child != "" {
			child = e.Child
		}
	}
	if len(ids) != 2 || child == "" || ids[child] == 0 {
		t.Errorf("events by task = %v, child named %q; want a parent and its child", ids, child)
	}
}

// TestRunMaxAgentDepth: BULWARK_MAX_AGENT_DEPTH=0 offers no delegate
// tool, and a value that is not a depth is a usage error.
func TestRunMaxAgentDepth(t *testing.T) {
	r := runBulwark(t, []string{"BULWARK_MAX_AGENT_DEPTH=0"}, "run", "--model", "replay:"+delegateExample(t), "--workspace", t.TempDir(), "task")
	if !strings.Contains(r.stdout, `there is no tool "delegate"`) || strings.Contains(r.stdout, "sub-agent t_") {
		t.Errorf("with depth 0 a sub-agent started or delegate was offered:\n%s", r.stdout)
	}
	r = runBulwark(t, []string{"BULWARK_MAX_AGENT_DEPTH=deep"}, "run", "--model", "replay:"+delegateExample(t), "--workspace", t.TempDir(), "task")
	if r.code != 2 || !strings.Contains(r.stderr, "BULWARK_MAX_AGENT_DEPTH") {
		t.Errorf("a bad depth: exit %d, %q; want 2 naming the variable", r.code, r.stderr)
	}
}

// TestRunChildApprovalAtTheTerminal: an ask rule met by a sub-agent is put
// to the person at the terminal, as its parent's would be.
func TestRunChildApprovalAtTheTerminal(t *testing.T) {
	for _, answer := range []string{"y\n", "n\n"} {
		ws := t.TempDir()
		cmd := bulwarkCmd(t, nil, "run", "--approve", "ask", "--policy", "write_file(data.csv)=ask",
			"--model", "replay:"+delegateExample(t), "--workspace", ws, "task")
		cmd.Stdin = strings.NewReader(answer)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), "data.csv") || !strings.Contains(string(out), "sub-agent t_") {
			t.Fatalf("no sub-agent or no question:\n%s", out)
		}
		_, err := os.Stat(filepath.Join(ws, "data.csv"))
		if written := err == nil; written != (answer == "y\n") {
			t.Errorf("answer %q: data.csv written = %v\n%s", answer, written, out)
		}
	}
}
