package agent_test

import (
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/interact"
)

// heldModel holds every call until release is closed, and counts the
// calls in.
type heldModel struct {
	in      sync.WaitGroup
	release chan struct{}
}

func (*heldModel) Name() string { return "held" }

func (m *heldModel) Stream(ctx context.Context, _ llm.Request, _ func(string)) (*llm.Response, error) {
	m.in.Done()
	<-m.release
	return nil, errors.New("released")
}

// A task's goroutine has the stack it will need, 16 KiB, from the task's
// start: grown once there (a task reaches 9.5 to 10 KiB), not three times
// on the way, deep in a model or tool call. The goroutines held in their
// first model call, short of 8 KiB deep, hold 16 KiB stacks each.
func TestRunGrowsTheStackAtItsStart(t *testing.T) {
	start := []metrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	metrics.Read(start)
	if start[0].Value.Kind() == metrics.KindUint64 && start[0].Value.Uint64() >= 16<<10 {
		t.Skipf("goroutines start with %d bytes of stack already", start[0].Value.Uint64())
	}
	// No collection during the test: it may shrink stacks.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	const n = 256
	m := &heldModel{release: make(chan struct{})}
	m.in.Add(n)
	tools := tool.NewRegistry(interact.Finish())
	var before, held runtime.MemStats
	runtime.ReadMemStats(&before)
	var done sync.WaitGroup
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			agent.Run(t.Context(), agent.Config{Model: m, Tools: tools}, bulwark.Task{ID: "t", Input: "go"})
		}()
	}
	m.in.Wait()
	runtime.ReadMemStats(&held)
	close(m.release)
	done.Wait()

	per := (int64(held.StackInuse) - int64(before.StackInuse)) / n
	if per < 12<<10 {
		t.Errorf("%d tasks held in their first model call: %d bytes of stack each, want 16 KiB", n, per)
	}
}
