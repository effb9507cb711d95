package agent_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
	"github.com/bulwark-agents/bulwark/tool/interact"
)

// TestCanceledCommandKeepsItsOutput cancels a task while its command
// runs: what the command printed until then is kept as the call's result
// in the task's events, marked as an error, before the task's end.
func TestCanceledCommandKeepsItsOutput(t *testing.T) {
	h := newHarness(t, "openai", func(*llmtest.Request) llmtest.Turn {
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("run_shell", map[string]string{"command": "long-job"})}}
	})
	running := make(chan struct{})
	h.cfg.Tools = tool.NewRegistry(code.Shell(), interact.Finish())
	h.cfg.Env.Exec = func(ctx context.Context, cmd []string) (*tool.ExecResult, error) {
		close(running)
		<-ctx.Done()
		return &tool.ExecResult{ExitCode: -1, Stdout: []byte("step 1 done\nstep 2 done\n"), Duration: time.Second},
			bulwark.E(bulwark.Canceled, "sandbox.Run", "sandbox: canceled", ctx.Err())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan bulwark.FinishReason, 1)
	go func() { done <- h.run(t, ctx).Reason }()
	<-running
	cancel()
	select {
	case reason := <-done:
		if reason != bulwark.FinishCanceled {
			t.Fatalf("the task ended with %s, want canceled", reason)
		}
	case <-time.After(10 * time.Second): // a hang guard, not a speed assertion
		t.Fatal("the loop did not stop after cancellation")
	}
	results := h.ofType(bulwark.EventToolResult)
	if len(results) != 1 {
		t.Fatalf("%d tool results after the cancel, want the command's one", len(results))
	}
	r := results[0]
	if !strings.Contains(r.Text, "step 2 done") || !strings.Contains(r.Text, "canceled") || !r.IsError {
		t.Errorf("the canceled command's result = %q (error %v), want its output so far, marked canceled", r.Text, r.IsError)
	}
	checkEventOrder(t, h)
}
