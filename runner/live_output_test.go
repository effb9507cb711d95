package runner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/tool"
)

func maskNothing() agent.StreamMasker { return passThrough{} }

// passThrough is a StreamMasker that masks nothing and holds nothing.
type passThrough struct{}

func (passThrough) Push(s string) string { return s }
func (passThrough) Release() string      { return "" }
func (passThrough) Flush() string        { return "" }

// TestLiveOutputForLateWatchers: a person who starts watching while a
// command runs gets what it printed so far (live only, never stored),
// then the rest; the stored events hold no piece of it.
func TestLiveOutputForLateWatchers(t *testing.T) {
	release := make(chan struct{})
	e := newEnv(t, steps(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("run_shell", map[string]string{"command": "job"})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ran"})}},
	))
	e.exec = func(ctx context.Context, cmd []string) (*tool.ExecResult, error) {
		// More than the 512 bytes the canary check holds back of a
		// command's live output follows the first line.
		tool.OutputOf(ctx)(false, []byte("first line\n"+strings.Repeat("working .\n", 60)))
		select {
		case <-release:
		case <-ctx.Done():
		}
		return &tool.ExecResult{Stdout: []byte("first line\n")}, nil
	}
	e.rt = e.newRuntime(t, e.db) // with exec
	ctx := context.Background()
	task, err := e.rt.Submit(ctx, e.a, "test", bulwark.Task{Input: "run it"})
	if err != nil {
		t.Fatal(err)
	}
	early, err := e.rt.Subscribe(ctx, e.a, task.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitDelta := func(ch <-chan bulwark.Event) {
		t.Helper()
		timeout := time.After(20 * time.Second) // a hang guard
		for {
			select {
			case ev, ok := <-ch:
				if !ok || ev.Type == bulwark.EventToolResult {
					t.Fatal("no live output before the command's result")
				}
				if ev.Type == bulwark.EventToolOutput && strings.Contains(ev.Text, "first line") {
					return
				}
			case <-timeout:
				t.Fatal("no live output while the command ran")
			}
		}
	}
	waitDelta(early) // it was sent
	late, err := e.rt.Subscribe(ctx, e.a, task.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	waitDelta(late) // and it is kept for those who come later
	close(release)
	rest := collect(t, late)
	if n := len(rest); n == 0 || rest[n-1].Type != bulwark.EventTaskFinished {
		t.Fatalf("the late stream ended with %v", types(rest))
	}
	stored, err := e.db.Events(ctx, e.a, task.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range stored {
		if ev.Type.Live() {
			t.Errorf("a live-only %s event was stored", ev.Type)
		}
	}
}

func types(es []bulwark.Event) []bulwark.EventType {
	out := make([]bulwark.EventType, len(es))
	for i, e := range es {
		out[i] = e.Type
	}
	return out
}
