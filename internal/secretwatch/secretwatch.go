// Package secretwatch tells running tasks that their tenant's secrets may
// have changed. A task's redactor is built from its tenant's secrets as
// it starts; a secret added while it runs (a key noticed in its output,
// then registered) must be masked from then on in what the model is sent
// and what the task shows, on whichever node the task runs.
//
// A Watcher reads a store's authentication version (bulwark.AuthVersioner,
// which every change of a secret moves, made by any process or node) every
// interval while anything watches, and calls each watcher whose version
// it moved past. The version moves for other changes too (keys, users,
// settings): a call says the secrets may have changed, and the watcher
// reads them again.
package secretwatch

import (
	"context"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// Every is how often a Watcher reads the version while anything watches.
const Every = time.Second

// Watcher calls its watchers when the store's version moved.
type Watcher struct {
	store bulwark.AuthVersioner
	every time.Duration

	mu      sync.Mutex
	subs    map[int]*sub
	next    int
	running bool
}

type sub struct {
	seen    uint64 // the version the watcher's secrets were read at, or before
	changed func()
}

// New returns a Watcher of store's version, read every interval (0:
// Every). A nil store is watched by nobody: Version is 0 and Watch calls
// nothing.
func New(store bulwark.AuthVersioner, every time.Duration) *Watcher {
	if every <= 0 {
		every = Every
	}
	return &Watcher{store: store, every: every, subs: map[int]*sub{}}
}

// Version is the store's version now (0 when it cannot be read): read it
// before the secrets, and pass it to Watch.
func (w *Watcher) Version(ctx context.Context) uint64 {
	if w == nil || w.store == nil {
		return 0
	}
	v, _, _ := w.store.AuthVersion(ctx)
	return v
}

// Watch calls changed, from the Watcher's goroutine, within an interval
// of each time the store's version, stable, is found past the one seen
// last (first: since, which Version read before the caller read its
// secrets), until stop is called. changed must not block for long: every
// watcher waits for the one before it. A version that cannot be read, or
// is unstable (a change under way), calls nothing: the change is seen
// once it has committed.
func (w *Watcher) Watch(since uint64, changed func()) (stop func()) {
	if w == nil || w.store == nil {
		return func() {}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	id := w.next
	w.next++
	w.subs[id] = &sub{seen: since, changed: changed}
	if !w.running {
		w.running = true
		go w.run()
	}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.subs, id)
	}
}

// run reads the version every interval until nothing watches.
func (w *Watcher) run() {
	t := time.NewTicker(w.every)
	defer t.Stop()
	for range t.C {
		v, stable, err := w.store.AuthVersion(context.Background())
		w.mu.Lock()
		if len(w.subs) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		var calls []func()
		if err == nil && stable {
			for _, s := range w.subs {
				if s.seen != v {
					s.seen = v
					calls = append(calls, s.changed)
				}
			}
		}
		w.mu.Unlock()
		for _, f := range calls {
			f()
		}
	}
}
