package runner

import (
	"sync"

	"github.com/bulwark-agents/bulwark"
)

// subBuffer is how many events a subscriber may fall behind before it is
// dropped; a dropped subscriber reconnects and catches up from the store.
const subBuffer = 1024

// hub fans the events of one running task out to its live subscribers.
type hub struct {
	mu     sync.Mutex
	subs   map[chan bulwark.Event]struct{}
	closed bool
}

func newHub() *hub { return &hub{subs: map[chan bulwark.Event]struct{}{}} }

// subscribe returns a channel of the events published from now on, closed
// when the task ends or the subscriber falls too far behind; nil when the
// task has ended already.
func (h *hub) subscribe() chan bulwark.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	ch := make(chan bulwark.Event, subBuffer)
	h.subs[ch] = struct{}{}
	return ch
}

func (h *hub) unsubscribe(ch chan bulwark.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

// publish hands e to every subscriber without blocking.
func (h *hub) publish(e bulwark.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default: // too far behind: drop it; it resumes from the store
			delete(h.subs, ch)
			close(ch)
		}
	}
}

// close ends every subscription: the task has ended.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		close(ch)
	}
	h.subs = nil
}
