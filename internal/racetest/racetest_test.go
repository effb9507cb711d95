package racetest

import (
	"sync/atomic"
	"testing"
)

// TestLoop: every goroutine runs its body at least once before stop
// returns when stop waits for a call from each, none runs after stop
// returned, and a second stop does nothing.
func TestLoop(t *testing.T) {
	const n = 4
	var calls [n]atomic.Int64
	var ready atomic.Int64
	seen := make(chan struct{})
	stop := Loop(n, func(i int) {
		if calls[i].Add(1) == 1 && ready.Add(1) == n {
			close(seen)
		}
	})
	<-seen
	stop()
	var after [n]int64
	for i := range calls {
		after[i] = calls[i].Load()
		if after[i] == 0 {
			t.Errorf("goroutine %d never ran its body", i)
		}
	}
	stop()
	for i := range calls {
		if got := calls[i].Load(); got != after[i] {
			t.Errorf("goroutine %d ran its body after stop returned (%d, then %d)", i, after[i], got)
		}
	}
}
