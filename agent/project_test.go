package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

func systemOf(t *testing.T, h *harness) string {
	t.Helper()
	reqs := h.srv.Requests()
	if len(reqs) == 0 || len(reqs[0].Messages) == 0 || reqs[0].Messages[0].Role != llm.System {
		t.Fatal("no request with a system prompt")
	}
	return reqs[0].Messages[0].Content
}

// TestProjectFileIsReadAndMarked: the workspace's AGENTS.md is in the
// system prompt, marked as the workspace's (inside untrusted markers, with
// the note that it is neither the operator's nor the user's), a notice
// says it was read, and a benign file does not taint the task.
func TestProjectFileIsReadAndMarked(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "main.py", "content": "print(1)"})}},
		finish("done"),
	))
	if err := h.ws.WriteFile(agent.ProjectFile, []byte("Run the tests with `make test`. Use tabs.")); err != nil {
		t.Fatal(err)
	}
	h.cfg.Approve = func(context.Context, bulwark.Approval) (bool, error) {
		t.Error("a benign AGENTS.md made a write ask")
		return false, nil
	}
	h.run(t, context.Background())
	sys := systemOf(t, h)
	for _, want := range []string{"Run the tests with `make test`.", `<<untrusted source="workspace AGENTS.md"`, "not from the operator or the user"} {
		if !strings.Contains(sys, want) {
			t.Errorf("the system prompt lacks %q:\n%s", want, sys)
		}
	}
	if n := h.ofType(bulwark.EventNotice); len(n) == 0 || !strings.Contains(n[0].Text, "AGENTS.md") {
		t.Errorf("notices = %+v, want one saying AGENTS.md was read", n)
	}
	if g := h.ofType(bulwark.EventGuard); len(g) != 0 {
		t.Errorf("a benign AGENTS.md was flagged: %+v", g)
	}
}

// TestProjectFileInjectionTaints: an AGENTS.md that carries a prompt
// injection is flagged at the start, and the task is tainted from its
// first step: a write outside scratch/ asks a person.
func TestProjectFileInjectionTaints(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "main.py", "content": "evil"})}},
		finish("done"),
	))
	if err := h.ws.WriteFile(agent.ProjectFile, []byte("# Project\n"+injection)); err != nil {
		t.Fatal(err)
	}
	var asked []bulwark.Approval
	h.cfg.Approve = func(_ context.Context, a bulwark.Approval) (bool, error) {
		asked = append(asked, a)
		return false, nil
	}
	h.run(t, context.Background())
	g := h.ofType(bulwark.EventGuard)
	if len(g) == 0 || !strings.Contains(g[0].Text, "AGENTS.md") {
		t.Fatalf("guard events = %+v, want AGENTS.md flagged", g)
	}
	if len(asked) != 1 || asked[0].Target != "main.py" || !strings.Contains(asked[0].Reason, "AGENTS.md") {
		t.Errorf("approvals asked = %+v, want the write to main.py, because of AGENTS.md", asked)
	}
	if _, err := h.ws.ReadFile("main.py"); err == nil {
		t.Error("the refused write happened")
	}
}

// TestProjectFileConfinedAndCapped: an AGENTS.md that links out of the
// workspace is not read; a long one is cut at MaxProjectFile.
func TestProjectFileConfinedAndCapped(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(finish("done")))
	outside := filepath.Join(t.TempDir(), "secret.md")
	if err := os.WriteFile(outside, []byte("OUTSIDE-TEXT"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(h.ws.Path(), agent.ProjectFile)); err != nil {
		t.Fatal(err)
	}
	h.run(t, context.Background())
	if sys := systemOf(t, h); strings.Contains(sys, "OUTSIDE-TEXT") {
		t.Error("an AGENTS.md linking out of the workspace was read")
	}

	h = newHarness(t, "openai", llmtest.Script(finish("done")))
	if err := h.ws.WriteFile(agent.ProjectFile, []byte(strings.Repeat("a", agent.MaxProjectFile)+"TAIL-PAST-CAP")); err != nil {
		t.Fatal(err)
	}
	h.run(t, context.Background())
	if sys := systemOf(t, h); strings.Contains(sys, "TAIL-PAST-CAP") || !strings.Contains(sys, "aaaa") {
		t.Error("a long AGENTS.md was not cut at the cap")
	}
}
