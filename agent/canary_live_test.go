package agent_test

import (
	"context"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/taskenv"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
)

// catTask runs a task whose hostile model writes the canary, encoded by
// enc and cut at its middle, into two files (lead before the first half,
// tail after the second: neither write's arguments carry the token), then
// runs command (which prints the files) through the task's real Exec: a
// command run without a sandbox, or in one with sandboxed. It returns the
// outcome, the harness, the encoded token and the live output of each
// stream (stdout, stderr) put together.
func catTask(t *testing.T, sandboxed bool, enc func(string) string, lead, tail, command string) (agent.Outcome, *harness, string, [2]string) {
	t.Helper()
	var word string
	h := newHarness(t, "openai", func(r *llmtest.Request) llmtest.Turn {
		m := canaryRE.FindStringSubmatch(r.Messages[0].Content)
		if m == nil {
			return finish("no canary")
		}
		word = enc(m[1])
		half := len(word) / 2
		switch (len(r.Messages) - 2) / 2 {
		case 0:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a", "content": lead + word[:half]})}}
		case 1:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "b", "content": word[half:] + tail})}}
		case 2:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("run_shell", map[string]string{"command": command})}}
		}
		return finish("done")
	})
	o := taskenv.Options{TaskID: "t_test", Tenant: "tn_canary_live", Model: h.cfg.Model, Workspace: h.ws,
		Sandbox: taskenv.SandboxOptions{Off: !sandboxed, AllowExec: []string{"bash", "sh", "cat", "sleep"}}}
	e, err := taskenv.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	if e.SandboxProblem != "" {
		t.Fatalf("no sandbox: %s", e.SandboxProblem)
	}
	h.cfg.Tools = tool.NewRegistry(append(files.Tools(), code.Shell(), interact.Finish())...)
	// The first piece of live output makes the file "streamed", which a
	// command waits for (afterLive) before it prints the rest: a pause
	// that lasts as long as the stream takes, on a loaded host too.
	sink := h.cfg.Sink
	h.cfg.Sink = func(e bulwark.Event) {
		sink(e)
		if e.Type == bulwark.EventToolOutput && !h.exists("streamed") {
			if err := h.ws.WriteFile("streamed", nil); err != nil {
				t.Error(err)
			}
		}
	}
	h.cfg.Env.Exec, h.cfg.Mask, h.cfg.MaskStream = e.Exec, e.Mask, e.MaskStream
	out := h.run(t, context.Background())
	var live [2]strings.Builder
	for _, ev := range h.ofType(bulwark.EventToolOutput) {
		i := 0
		if ev.IsError {
			i = 1
		}
		live[i].WriteString(ev.Text)
	}
	return out, h, word, [2]string{live[0].String(), live[1].String()}
}

// TestCanaryLiveOutputOfACommand is the attack: the model writes the
// token's halves into two files and prints them with a real command, in
// one piece, in two with a pause between (each may stream alone), the
// halves to stdout and stderr, the token just inside the hold and past
// it, in several encodings. No byte of the token streams live; the
// result is withheld and the task ends for the leak. The same command
// with a text that is not the token streams whole.
func TestCanaryLiveOutputOfACommand(t *testing.T) {
	runCatTasks(t, false)
}

// TestCanaryLiveOutputOfASandboxedCommand is TestCanaryLiveOutputOfACommand
// with the commands in the sandbox.
func TestCanaryLiveOutputOfASandboxedCommand(t *testing.T) {
	testfamily.Sandbox.Require(t)
	runCatTasks(t, true)
}

// afterLive waits, in a command, until some of its output has streamed
// (catTask's sink makes the file), for at most 10 s: where nothing
// streams before the token comes, the command goes on after that.
const afterLive = "i=0; until [ -e streamed ] || [ $i = 200 ]; do sleep 0.05; i=$((i+1)); done"

func runCatTasks(t *testing.T, sandboxed bool) {
	filler := strings.Repeat("line of output\n", 40) // 600 bytes
	cases := []struct {
		name, lead, tail, command string
		streams                   bool // some of lead streams before the token comes
	}{
		{"one piece", "here it is ", "\n" + filler, "cat a b", false},
		{"two pieces", filler + "here it is ", "\n" + filler, "cat a; " + afterLive + "; cat b", true},
		{"stdout then stderr", "here it is ", "\n" + filler, "cat a; sleep 0.3; cat b >&2", false},
		{"a line inside the hold", strings.Repeat("x", 509) + "\n", " " + filler + filler, "cat a; sleep 0.3; cat b", false},
		{"a line past the hold", strings.Repeat("x", 514) + "\n", " " + filler + filler, "cat a; " + afterLive + "; cat b", true},
	}
	for _, e := range notesEncodings[:3] { // plain, base64, hex
		for _, c := range cases {
			out, h, word, live := catTask(t, sandboxed, e.enc, c.lead, c.tail, c.command)
			if out.Reason != bulwark.FinishLeak {
				t.Errorf("%s, %s: the task ended with %s (%s), want leak", e.name, c.name, out.Reason, out.Answer)
			}
			if live[0] == "" && c.streams {
				t.Errorf("%s, %s: nothing streamed live", e.name, c.name)
			}
			half := len(word) / 2
			for i, s := range live {
				// Whatever streamed is the start of its file, before the token.
				if s != "" && !strings.HasPrefix(c.lead, s) {
					t.Errorf("%s, %s: stream %d sent %q", e.name, c.name, i, s[max(0, len(s)-80):])
				}
			}
			for _, r := range h.ofType(bulwark.EventToolResult) {
				if strings.Contains(r.Text, word[:half]) || strings.Contains(r.Text, word[half:]) {
					t.Errorf("%s, %s: a result carried a half: %q", e.name, c.name, r.Text)
				}
			}
		}
	}
	// Not the token: the same commands stream all of it.
	notToken := func(string) string { return hex.EncodeToString([]byte("not the token, just text")) }
	for _, c := range cases {
		out, _, word, live := catTask(t, sandboxed, notToken, c.lead, c.tail, c.command)
		if out.Reason != bulwark.FinishDone || !strings.Contains(live[0]+live[1], word[len(word)/2:]) {
			t.Errorf("%s, not the token: ended %s, streamed %q", c.name, out.Reason, live)
		}
	}
}

// TestCanaryLiveOutputStopsTheCommand: a command whose output carried the
// token is stopped, not waited for: what it would do next (write a file,
// after a pause far longer than the check takes) is not done, and the
// task ends for the leak.
func TestCanaryLiveOutputStopsTheCommand(t *testing.T) {
	plain := func(s string) string { return s }
	out, h, _, _ := catTask(t, false, plain, "here it is ", "\n", "cat a b; sleep 20; echo went on > c")
	if out.Reason != bulwark.FinishLeak {
		t.Errorf("the task ended with %s (%s), want leak", out.Reason, out.Answer)
	}
	if _, err := h.ws.Stat("c"); err == nil {
		t.Error("the command went on after its output carried the token")
	}
}
