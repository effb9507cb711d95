package sandbox

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/sandbox/internal/prefault"
)

// A process's first sandbox has the heap it is about to allocate past
// prefault's init budget mapped in (prefault.Extend, tested there), once.
func TestRunExtendsTheHeapOnce(t *testing.T) {
	requireSandbox(t)
	heapExtended.Store(false)
	mustRun(t, Spec{AllowExec: []string{"true"}}, "true")
	if !heapExtended.Load() {
		t.Error("Run did not extend the heap's mapped-in range")
	}
}

// Run's heap extension runs beside the sandbox's start, not before it: a
// Run completes while the extension is still held.
func TestRunStartsBesideItsHeapExtension(t *testing.T) {
	requireSandbox(t)
	called, release := make(chan struct{}), make(chan struct{})
	extendHeap = func(int) {
		close(called)
		<-release
	}
	heapExtended.Store(false)
	t.Cleanup(func() {
		close(release)
		extendHeap = prefault.Extend
	})
	done := make(chan error, 1)
	go func() {
		res, err := Run(context.Background(), Spec{AllowExec: []string{"true"}}, []string{"true"})
		if err == nil && res.ExitCode != 0 {
			err = fmt.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run waits for its heap extension")
	}
	select {
	case <-called:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not extend the heap")
	}
	assertNothingLeft(t)
}
