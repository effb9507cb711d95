package secretwatch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeVersion is a store's version: v, stable, or failing; reads counts
// the reads.
type fakeVersion struct {
	mu     sync.Mutex
	v      uint64
	stable bool
	err    error
	reads  atomic.Int64
}

func (f *fakeVersion) AuthVersion(context.Context) (uint64, bool, error) {
	f.reads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.v, f.stable, f.err
}

func (f *fakeVersion) set(v uint64, stable bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.v, f.stable, f.err = v, stable, err
}

// ticks waits until the watcher has read the version n more times (a
// hang guard, not a speed assertion).
func (f *fakeVersion) ticks(t *testing.T, n int64) {
	t.Helper()
	want := f.reads.Load() + n
	for range 5000 {
		if f.reads.Load() >= want {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("the watcher stopped reading the version")
}

// TestWatchCallsOnceEachTimeTheVersionMoved: a watcher is called when the
// stable version differs from the one it saw last (first: the one given,
// read before its secrets were), not while it holds, not for a version
// that cannot be read or is unstable (a change under way, called once it
// commits), and never after stop; the goroutine ends when nothing
// watches.
func TestWatchCallsOnceEachTimeTheVersionMoved(t *testing.T) {
	f := &fakeVersion{v: 5, stable: true}
	w := New(f, time.Millisecond)
	var a, b atomic.Int64
	stopA := w.Watch(5, func() { a.Add(1) })
	stopB := w.Watch(4, func() { b.Add(1) }) // its secrets were read before version 5
	f.ticks(t, 3)
	if a.Load() != 0 || b.Load() != 1 {
		t.Fatalf("calls at a version that held = %d, %d; want 0 for the one that saw it, 1 for the one that saw 4", a.Load(), b.Load())
	}
	f.set(6, false, nil) // a change under way
	f.ticks(t, 3)
	f.set(6, true, errors.New("unreadable"))
	f.ticks(t, 3)
	if a.Load() != 0 || b.Load() != 1 {
		t.Fatalf("calls while the version was unstable or unreadable = %d, %d; want none", a.Load(), b.Load())
	}
	f.set(6, true, nil)
	f.ticks(t, 3)
	if a.Load() != 1 || b.Load() != 2 {
		t.Fatalf("calls once the change committed = %d, %d; want one more each", a.Load(), b.Load())
	}
	f.set(2, true, nil) // a store restored: the version went back
	f.ticks(t, 3)
	if a.Load() != 2 {
		t.Fatalf("calls after the version went back = %d; want one more", a.Load())
	}
	stopA()
	f.set(9, true, nil)
	f.ticks(t, 3)
	if a.Load() != 2 || b.Load() != 4 {
		t.Fatalf("calls after stop = %d (want no more), the other's %d (want 4)", a.Load(), b.Load())
	}
	stopB()
	// The goroutine ends at its next tick. It may have read the version
	// for the last time before stopB, so wait for it to end, not for a read.
	ended := false
	for range 5000 {
		w.mu.Lock()
		running := w.running
		w.mu.Unlock()
		if !running {
			ended = true
			break
		}
		time.Sleep(time.Millisecond)
	}
	if !ended {
		t.Fatal("the watcher's goroutine still runs with nothing watching")
	}
	reads := f.reads.Load()
	time.Sleep(20 * time.Millisecond)
	if f.reads.Load() != reads {
		t.Error("the watcher still reads the version with nothing watching")
	}
	// Watching again starts it again.
	var c atomic.Int64
	defer w.Watch(9, func() { c.Add(1) })()
	f.set(10, true, nil)
	for range 5000 {
		if c.Load() == 1 {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("a watcher added after the goroutine ended is never called")
}

// TestNoStoreWatchesNothing: without a versioned store, Version is 0 and
// Watch returns a stop that does nothing.
func TestNoStoreWatchesNothing(t *testing.T) {
	w := New(nil, 0)
	if w.Version(context.Background()) != 0 {
		t.Error("Version of no store is not 0")
	}
	w.Watch(0, func() { t.Error("called without a store") })()
	if w.running {
		t.Error("a goroutine started without a store")
	}
}
