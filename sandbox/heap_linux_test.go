package sandbox

import "testing"

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
