package runner

import (
	"context"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/notify"
)

// Streams of events
//
// A task that runs in this process is followed through its hub, which
// hands over each event once it is stored. A task that runs elsewhere (on
// another node, or in a `bulwark run` on the same data folder) is
// followed through the store: the stream registers with Config.Notifier,
// then reads the events after the last one it sent each time it is woken,
// until it reads them once more after seeing the task stopped. Either
// way, the store is read after registering, so nothing committed falls
// between, and an event is sent only when its Seq is past the last one
// sent, so none comes twice.

// followRecheck is how often a stream of a task that runs elsewhere reads
// the store without being woken: the guard against a wake-up that never
// came (a notifier that missed one, or a status changed without an event).
const followRecheck = 30 * time.Second

// Subscribe streams the events of a task of tenant whose Seq is greater
// than after: first those stored, then new ones as they are committed,
// each once and in order, until the task stops (it ends, or is
// interrupted), ctx is done, the runtime shuts down or the subscriber
// falls too far behind (then the channel closes and the caller resumes
// with the last Seq it saw).
// The task may run in this process or elsewhere; live-only events
// (bulwark.EventType.Live) come only from a task running in this process.
func (rt *Runtime) Subscribe(ctx context.Context, tenant bulwark.TenantID, id string, after int64) (<-chan bulwark.Event, error) {
	if _, err := rt.cfg.Store.Task(ctx, tenant, id); err != nil {
		return nil, err
	}
	s := &stream{rt: rt, ctx: ctx, tenant: tenant, id: id, last: after, out: make(chan bulwark.Event, 64)}
	// Register before reading the store, so nothing falls between.
	var liveCh chan bulwark.Event
	l := rt.live(tenant, id)
	if l != nil {
		liveCh = l.hub.subscribe()
	}
	var wake <-chan struct{}
	stop := func() {}
	if liveCh == nil {
		wake, stop = rt.notifier().Follow(tenant, id)
	}
	go func() {
		defer close(s.out)
		if liveCh != nil {
			defer l.hub.unsubscribe(liveCh)
			s.followLive(l, liveCh)
			return
		}
		defer stop()
		s.followStore(wake)
	}()
	return s.out, nil
}

// notifier is Config.Notifier, or polling without one.
func (rt *Runtime) notifier() notify.Notifier {
	if rt.cfg.Notifier != nil {
		return rt.cfg.Notifier
	}
	return notify.Poll{}
}

// stream is one subscriber's stream of the events of a task.
type stream struct {
	rt     *Runtime
	ctx    context.Context
	tenant bulwark.TenantID
	id     string
	last   int64 // the Seq of the last event sent
	out    chan bulwark.Event
}

// send sends e unless it was sent already; false when ctx is done.
func (s *stream) send(e bulwark.Event) bool {
	if e.Seq <= s.last {
		return true
	}
	select {
	case s.out <- e:
		s.last = e.Seq
		return true
	case <-s.ctx.Done():
		return false
	}
}

// catchUp sends the stored events after the last one sent; false when the
// stream must end (ctx is done, or the store failed).
func (s *stream) catchUp(ctx context.Context) bool {
	for {
		batch, err := s.rt.cfg.Store.Events(ctx, s.tenant, s.id, s.last, 500)
		if err != nil {
			return false
		}
		for _, e := range batch {
			if !s.send(e) {
				return false
			}
		}
		if len(batch) < 500 {
			return true
		}
	}
}

// followLive follows a task running in this process: the stored events,
// what its running command printed so far (live only, kept for watchers
// who come late), then its hub.
func (s *stream) followLive(l *live, ch chan bulwark.Event) {
	if !s.catchUp(s.ctx) {
		return
	}
	for _, e := range l.keptOutput(s.last) {
		if !s.send(e) {
			return
		}
	}
	s.followHub(ch)
}

// followHub sends the events of a task running in this process as its hub
// publishes them, until the hub closes ch.
func (s *stream) followHub(ch chan bulwark.Event) {
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				// Ended or dropped: what was committed meanwhile is in the store.
				s.catchUp(context.WithoutCancel(s.ctx))
				return
			}
			if !s.send(e) {
				return
			}
		case <-s.ctx.Done():
			return
		}
	}
}

// followStore sends the events of a task as the store has them, each time
// wake (or the recheck) says to look, until the task has stopped.
func (s *stream) followStore(wake <-chan struct{}) {
	recheck := time.NewTicker(followRecheck)
	defer recheck.Stop()
	again := false
	for {
		// The status first: once it says stopped, the events read after
		// it are all there will be.
		t, err := s.rt.cfg.Store.Task(s.ctx, s.tenant, s.id)
		if err != nil || !s.catchUp(s.ctx) {
			return
		}
		switch t.Status {
		case bulwark.TaskQueued, bulwark.TaskRunning, bulwark.TaskWaiting:
		default:
			return // ended or interrupted
		}
		if l := s.rt.live(s.tenant, s.id); l != nil {
			// It runs here now (queued here since): follow it live.
			if ch := l.hub.subscribe(); ch != nil {
				defer l.hub.unsubscribe(ch)
				s.followLive(l, ch)
				return
			}
			if !again {
				// Its run here has just ended: its status is stored.
				again = true
				continue
			}
		}
		again = false
		select {
		case <-wake:
		case <-recheck.C:
		case <-s.ctx.Done():
			return
		case <-s.rt.ctx.Done():
			return // shut down: the caller resumes on another server
		}
	}
}
