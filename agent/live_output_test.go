package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
	"github.com/bulwark-agents/bulwark/tool/interact"
)

// liveHarness runs one run_shell call whose command is exec, with the
// task's secrets masked by a redactor holding secrets, and tells deltas
// (the text of each tool_output_delta) as they are sent.
func liveHarness(t *testing.T, exec func(ctx context.Context, out tool.OutputFunc) (*tool.ExecResult, error), secrets ...string) (*harness, chan string) {
	t.Helper()
	h := newHarness(t, "openai", func(r *llmtest.Request) llmtest.Turn {
		if len(r.Messages) > 2 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "done"})}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("run_shell", map[string]string{"command": "job"})}}
	})
	red := secret.NewRedactor()
	for i, s := range secrets {
		red.Add("S"+string(rune('A'+i)), s)
	}
	h.cfg.Mask = red.String
	h.cfg.MaskStream = func() agent.StreamMasker { return red.NewStream() }
	h.cfg.Tools = tool.NewRegistry(code.Shell(), interact.Finish())
	h.cfg.Env.Exec = func(ctx context.Context, cmd []string) (*tool.ExecResult, error) {
		out := tool.OutputOf(ctx)
		if out == nil {
			t.Error("the command's context has no output hook")
			out = func(bool, []byte) {}
		}
		return exec(ctx, out)
	}
	deltas := make(chan string, 1024)
	sink := h.cfg.Sink
	h.cfg.Sink = func(e bulwark.Event) {
		sink(e)
		if e.Type == bulwark.EventToolOutput {
			deltas <- e.Text
		}
	}
	return h, deltas
}

// TestLiveOutputBeforeTheEnd: a command's first line reaches the sink
// as a tool_output_delta while the command still runs (it waits for
// that), once more than the canary check's hold (512 bytes) followed it,
// and the stored-kind events keep the whole output in the result.
func TestLiveOutputBeforeTheEnd(t *testing.T) {
	seen := make(chan struct{})
	var deltas chan string
	var h *harness
	h, deltas = liveHarness(t, func(ctx context.Context, out tool.OutputFunc) (*tool.ExecResult, error) {
		out(false, []byte("first line\n"+strings.Repeat("progress .\n", 60)))
		select {
		case <-seen:
		case <-time.After(20 * time.Second): // a hang guard, not a speed assertion
			t.Error("the first line was not sent while the command ran")
		}
		out(false, []byte("second line\n"))
		out(true, []byte("a warning\n"))
		return &tool.ExecResult{Stdout: []byte("first line\nsecond line\n"), Stderr: []byte("a warning\n")}, nil
	})
	go func() {
		var got strings.Builder
		for d := range deltas {
			got.WriteString(d)
			if strings.Contains(got.String(), "first line") {
				close(seen)
				return
			}
		}
	}()
	if out := h.run(t, context.Background()); out.Reason != bulwark.FinishDone {
		t.Fatalf("the task ended with %s", out.Reason)
	}
	ds := h.ofType(bulwark.EventToolOutput)
	if len(ds) == 0 || ds[0].CallID == "" || ds[0].Tool != "run_shell" || ds[0].Step != 1 {
		t.Fatalf("deltas %+v, want the call's, with its id, tool and step", ds)
	}
	results := h.ofType(bulwark.EventToolResult)
	if len(results) == 0 || results[0].CallID != ds[0].CallID || !strings.Contains(results[0].Text, "second line") {
		t.Errorf("the result %+v does not hold the whole output of the call", results)
	}
	for _, d := range ds {
		if d.Usage != nil {
			t.Errorf("a delta carries usage %+v: it would be counted by no store", d.Usage)
		}
	}
	checkEventOrder(t, h)
}

// TestLiveOutputMasksSplitSecrets is the attack: a command prints a
// secret in pieces, each piece in its own chunk (and a short pause
// between, so that each could go out alone). No delta, nor all of them
// put together, holds the secret or the start of it.
func TestLiveOutputMasksSplitSecrets(t *testing.T) {
	const canary = "canary-7Hq2LmZ9xP4wR8sK"
	h, deltas := liveHarness(t, func(ctx context.Context, out tool.OutputFunc) (*tool.ExecResult, error) {
		pieces := []string{"token: can", "ary-7Hq2", "LmZ9xP4", "wR8sK and", " more\n"}
		for _, p := range pieces {
			out(false, []byte(p))
			time.Sleep(150 * time.Millisecond) // past the flush interval: each piece may go alone
		}
		out(true, []byte("err "+canary[:12]))
		time.Sleep(150 * time.Millisecond)
		out(true, []byte(canary[12:]+" end\n"))
		time.Sleep(150 * time.Millisecond)
		return &tool.ExecResult{Stdout: []byte(strings.Join(pieces, ""))}, nil
	}, canary)
	h.run(t, context.Background())
	close(deltas)
	var all strings.Builder
	n := 0
	for d := range deltas {
		all.WriteString(d)
		n++
	}
	if n == 0 || !strings.Contains(all.String(), "token: ") || !strings.Contains(all.String(), "] and") || !strings.Contains(all.String(), "err [") {
		t.Fatalf("the deltas %q do not show the command's output", all.String())
	}
	for _, leak := range []string{canary, canary[:8], "7Hq2", "LmZ9", "wR8sK"} {
		if strings.Contains(all.String(), leak) {
			t.Errorf("the live output %q shows %q of the secret", all.String(), leak)
		}
	}
}

// TestLiveOutputCapped: a command that floods its output streams at most
// the cap, then a line that says the rest comes with the result.
func TestLiveOutputCapped(t *testing.T) {
	line := strings.Repeat("x", 1023) + "\n"
	h, deltas := liveHarness(t, func(ctx context.Context, out tool.OutputFunc) (*tool.ExecResult, error) {
		for range 2048 { // 2 MiB
			out(false, []byte(line))
		}
		return &tool.ExecResult{Stdout: []byte("flooded\n")}, nil
	})
	h.run(t, context.Background())
	close(deltas)
	total, n := 0, 0
	var last string
	for d := range deltas {
		total += len(d)
		last = d
		n++
	}
	if total > 300<<10 || !strings.Contains(last, "live output cut") {
		t.Errorf("%d deltas of %d bytes in all, the last ending %q; want at most ~256KiB, ending with the cut notice", n, total, last[max(0, len(last)-80):])
	}
	if n > 64 {
		t.Errorf("%d deltas for one flood, want them gathered into few", n)
	}
}

// TestLiveOutputWaitingLineNoOracle: a command that prints a line without
// its end and waits shows it while it waits (once the canary check's
// hold, 512 bytes, follows it: blanks here), whether or not the line ends
// in the start of a secret: the masker holds back the end of every text
// alike, and releases it once the command has paused. Else one who
// watches could tell a right guess at a secret's start (held back) from a
// wrong one (shown), a byte at a time.
func TestLiveOutputWaitingLineNoOracle(t *testing.T) {
	const canary = "canary-7Hq2LmZ9xP4wR8sK"
	for _, guess := range []string{canary[:9], canary[:8] + "X"} {
		printed := "guess: " + guess
		seen := make(chan struct{})
		h, deltas := liveHarness(t, func(ctx context.Context, out tool.OutputFunc) (*tool.ExecResult, error) {
			out(false, []byte(printed+strings.Repeat(" ", 512)))
			select {
			case <-seen:
			case <-time.After(20 * time.Second): // a hang guard, not a speed assertion
				t.Errorf("%q was not sent while the command waited", printed)
			}
			out(false, []byte(" done\n"))
			return &tool.ExecResult{Stdout: []byte(printed + strings.Repeat(" ", 512) + " done\n")}, nil
		}, canary)
		var first string
		go func() {
			first = <-deltas
			close(seen)
		}()
		h.run(t, context.Background())
		<-seen
		if first != printed {
			t.Errorf("the first delta for %q is %q, want all of it", printed, first)
		}
	}
}
