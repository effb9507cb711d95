package runner

import (
	"context"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// TestParkedJobFreesItsWorker: a task waiting for a person's approval
// holds no worker. With one worker, tenant a's task waits for an
// approval; tenant b's task must run meanwhile, and a's, once approved,
// goes on only when a worker is free again.
func TestParkedJobFreesItsWorker(t *testing.T) {
	t.Parallel()
	s := newSched(1, func(bulwark.TenantID) int { return 4 })
	parked, approve, aDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	s.submit(&job{tenant: "a", id: "a1", run: func() {
		s.park()
		close(parked)
		<-approve
		s.resume(context.Background())
		close(aDone)
	}})
	wait := func(ch chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(30 * time.Second): // a hang guard, not a speed assertion
			t.Fatal(what)
		}
	}
	wait(parked, "tenant a's task never waited for its approval")
	bStarted, bRelease := make(chan struct{}), make(chan struct{})
	s.submit(&job{tenant: "b", id: "b1", run: func() { close(bStarted); <-bRelease }})
	wait(bStarted, "tenant b's task did not start while a's only waited for an approval")
	close(approve)
	select {
	case <-aDone:
		t.Fatal("a's task went on while b's held the only worker")
	case <-time.After(50 * time.Millisecond):
	}
	close(bRelease)
	wait(aDone, "a's task did not go on once the worker was free")
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running != 0 {
		t.Errorf("after every job ended, %d workers are counted busy", s.running)
	}
}

// TestParkedJobCanceled: a parked job whose context ends while it waits
// for a worker goes on (to wind down), and the count is right afterwards.
func TestParkedJobCanceled(t *testing.T) {
	t.Parallel()
	s := newSched(1, func(bulwark.TenantID) int { return 4 })
	bStarted, bRelease, aDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	s.submit(&job{tenant: "a", id: "a1", run: func() {
		s.park()
		s.submit(&job{tenant: "b", id: "b1", run: func() { close(bStarted); <-bRelease }})
		<-bStarted
		cancel()
		s.resume(ctx)
		close(aDone)
	}})
	<-aDone
	close(bRelease)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running != 0 || len(s.resumers) != 0 {
		t.Errorf("after every job ended: running %d, resumers %d; want 0, 0", s.running, len(s.resumers))
	}
}
