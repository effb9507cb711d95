// Package notify wakes the followers of a task's events when new events
// of it are committed, wherever the task runs: in this process (Memory),
// in another process on the same SQLite data folder (Poll), or on another
// node over PostgreSQL (package pgnotify). A wake-up carries nothing but
// "look again": the store is the truth, and a follower re-reads it after
// the last event it has seen, so a wake-up lost or doubled costs a delay
// or a read, never an event missed or sent twice.
package notify

import (
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// Notifier wakes the followers of the events of tasks.
type Notifier interface {
	// Follow starts following the events of task id of tenant. Its
	// channel receives a value soon after events of the task may have
	// been committed since the previous value was taken (wake-ups
	// coalesce: the buffer holds one). Register before reading the store,
	// then re-read it after the last Seq seen on every wake-up, and
	// nothing committed falls between. Call stop, once or more, when done.
	Follow(tenant bulwark.TenantID, id string) (wake <-chan struct{}, stop func())
}

type key struct {
	tenant bulwark.TenantID
	id     string
}

// Memory is a Notifier within one process: Notify wakes the followers of
// a task, WakeAll every follower. The zero Memory is ready to use; it
// must not be copied after first use.
type Memory struct {
	mu   sync.Mutex
	subs map[key]map[chan struct{}]struct{}
}

var _ Notifier = (*Memory)(nil)

// Follow implements Notifier.
func (m *Memory) Follow(tenant bulwark.TenantID, id string) (<-chan struct{}, func()) {
	k := key{tenant, id}
	ch := make(chan struct{}, 1)
	m.mu.Lock()
	if m.subs == nil {
		m.subs = map[key]map[chan struct{}]struct{}{}
	}
	set := m.subs[k]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		m.subs[k] = set
	}
	set[ch] = struct{}{}
	m.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			m.mu.Lock()
			defer m.mu.Unlock()
			delete(m.subs[k], ch)
			if len(m.subs[k]) == 0 {
				delete(m.subs, k)
			}
		})
	}
}

// Notify wakes the followers of task id of tenant: call it after events
// of the task were committed.
func (m *Memory) Notify(tenant bulwark.TenantID, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ch := range m.subs[key{tenant, id}] {
		wake(ch)
	}
}

// WakeAll wakes every follower of every task, so that each re-reads the
// store: for when wake-ups may have been lost (a connection that carried
// them dropped).
func (m *Memory) WakeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, set := range m.subs {
		for ch := range set {
			wake(ch)
		}
	}
}

// Followers is how many follow task id of tenant at this moment.
func (m *Memory) Followers(tenant bulwark.TenantID, id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.subs[key{tenant, id}])
}

// wake puts a value in ch unless one waits there already.
func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// DefaultPollInterval is the interval of a Poll that sets none.
const DefaultPollInterval = 500 * time.Millisecond

// Poll is the Notifier of last resort, for writers it hears nothing from
// (another process on the same SQLite data folder): it wakes each
// follower every Interval (DefaultPollInterval when zero), so a follower
// re-reads the store that often while it follows. A follower stops
// following once its task has ended, so polling costs nothing after.
type Poll struct {
	Interval time.Duration
}

var _ Notifier = Poll{}

// Follow implements Notifier.
func (p Poll) Follow(bulwark.TenantID, string) (<-chan struct{}, func()) {
	every := p.Interval
	if every <= 0 {
		every = DefaultPollInterval
	}
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				wake(ch)
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return ch, func() { once.Do(func() { close(done) }) }
}
