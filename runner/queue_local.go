package runner

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/queue"
)

// LocalQueue is the in-process queue.Queue, over the runner's fair
// scheduler (sched): for SQLite and a single server. Its tasks live in
// memory; a restart finds them again in the store (Runtime.Start).
type LocalQueue struct {
	s       *sched
	ctx     context.Context // canceled by Stop with queue.ErrStopping
	stop    context.CancelCauseFunc
	started chan struct{} // closed by Start
	once    sync.Once

	mu      sync.Mutex
	run     queue.RunFunc // nil until Start
	pending []key         // queued before Start, in order
	tasks   map[key]*localTask
}

// localTask is what LocalQueue knows of a task it holds.
type localTask struct {
	state     localState
	started   bool // it has run before: the next run is resumed
	continued bool // Continue came while it ran: queue it again when the run returns Waiting
	requeued  bool // Enqueue came while it ran (a new turn): queue it again when the run returns
	failures  int  // runs in a row that returned an error
}

type localState int

const (
	localQueued localState = iota
	localRunning
	localWaiting
)

// NewLocalQueue returns an in-process queue with workers workers (at
// least 1) and quota(tenant) of a tenant's tasks at once (at least 1;
// its answers are cached a few seconds, see quotaCache).
func NewLocalQueue(workers int, quota func(bulwark.TenantID) int) *LocalQueue {
	ctx, stop := context.WithCancelCause(context.Background())
	return &LocalQueue{
		s:       newSched(workers, newQuotaCache(quota, time.Now).get),
		ctx:     ctx,
		stop:    stop,
		started: make(chan struct{}),
		tasks:   map[key]*localTask{},
	}
}

var _ queue.Queue = (*LocalQueue)(nil)

// Start implements queue.Queue. Tasks queued before Start wait for it.
func (q *LocalQueue) Start(ctx context.Context, run queue.RunFunc) error {
	q.mu.Lock()
	if q.run != nil {
		q.mu.Unlock()
		return nil
	}
	q.run = run
	pending := q.pending
	q.pending = nil
	q.mu.Unlock()
	q.once.Do(func() { close(q.started) })
	for _, k := range pending {
		if err := q.submit(k); err != nil {
			return err
		}
	}
	return nil
}

// Enqueue implements queue.Queue.
func (q *LocalQueue) Enqueue(ctx context.Context, tenant bulwark.TenantID, taskID string) error {
	k := key{tenant, taskID}
	q.mu.Lock()
	if t, ok := q.tasks[k]; ok {
		switch t.state {
		case localRunning:
			// A new turn queued while the run before winds down.
			t.requeued = true
		case localWaiting:
			t.state = localQueued
			q.mu.Unlock()
			return q.submit(k)
		}
		q.mu.Unlock()
		return nil
	}
	q.tasks[k] = &localTask{state: localQueued}
	if q.run == nil {
		q.pending = append(q.pending, k)
		q.mu.Unlock()
		return nil
	}
	q.mu.Unlock()
	return q.submit(k)
}

// submit hands a queued task to the scheduler: one that ran before goes
// ahead of its tenant's queued tasks, as it would have gone on had it not
// waited.
func (q *LocalQueue) submit(k key) error {
	q.mu.Lock()
	first := q.tasks[k] != nil && q.tasks[k].started
	q.mu.Unlock()
	if !q.s.submit(&job{tenant: k.tenant, id: k.id, run: func() { q.do(k) }, first: first}) {
		q.mu.Lock()
		delete(q.tasks, k)
		q.mu.Unlock()
		return bulwark.Errorf(bulwark.Unavailable, "queue.Enqueue", "the server is shutting down; the task is queued and starts after the restart")
	}
	return nil
}

// do runs a task on a worker of the scheduler.
func (q *LocalQueue) do(k key) {
	select {
	case <-q.started:
	case <-q.ctx.Done():
		return
	}
	if q.ctx.Err() != nil {
		return // stopping: the store has the task for the next start
	}
	q.mu.Lock()
	t := q.tasks[k]
	if t == nil || t.state != localQueued {
		q.mu.Unlock()
		return // removed meanwhile
	}
	resumed, failures := t.started, t.failures
	t.state, t.started = localRunning, true
	run := q.run
	q.mu.Unlock()

	outcome, err := run(queue.WithFailures(q.ctx, failures), k.tenant, k.id, resumed)

	q.mu.Lock()
	defer q.mu.Unlock()
	stopping := q.ctx.Err() != nil
	switch {
	case err != nil && !stopping:
		t.failures++
		t.state = localQueued
		backoff := queue.Backoff(t.failures)
		slog.Error("a task could not run; trying again", "task", k.id, "in", backoff, "err", err)
		time.AfterFunc(backoff, func() { q.submit(k) })
	case err == nil && outcome == queue.Waiting && !stopping:
		t.failures = 0
		if t.continued || t.requeued {
			t.continued, t.requeued = false, false
			t.state = localQueued
			go q.submit(k)
		} else {
			t.state = localWaiting
		}
	case err == nil && outcome == queue.Finished && t.requeued && !stopping:
		// A new turn was queued while this one ended. An answer that
		// came meanwhile (continued) is no reason: the run had it, or its
		// turn is over.
		t.failures = 0
		t.continued, t.requeued, t.started = false, false, false
		t.state = localQueued
		go q.submit(k)
	case err == nil && outcome == queue.Interrupted && !stopping:
		t.failures = 0
		t.state = localQueued
		go q.submit(k)
	default:
		// Finished, or the process is stopping: the store has the task,
		// and the next start finds it.
		delete(q.tasks, k)
	}
}

// Continue implements queue.Queue.
func (q *LocalQueue) Continue(ctx context.Context, tenant bulwark.TenantID, taskID string) error {
	k := key{tenant, taskID}
	q.mu.Lock()
	t := q.tasks[k]
	if t == nil {
		q.mu.Unlock()
		return bulwark.Errorf(bulwark.NotFound, "queue.Continue", "the task is not in the queue")
	}
	switch t.state {
	case localRunning:
		t.continued = true
		q.mu.Unlock()
		return nil
	case localQueued:
		q.mu.Unlock()
		return nil
	}
	t.state = localQueued
	q.mu.Unlock()
	return q.submit(k)
}

// Remove implements queue.Queue.
func (q *LocalQueue) Remove(ctx context.Context, tenant bulwark.TenantID, taskID string) (bool, error) {
	k := key{tenant, taskID}
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.tasks[k]
	if t == nil || t.state == localRunning {
		return false, nil
	}
	if i := slices.Index(q.pending, k); i >= 0 {
		q.pending = slices.Delete(q.pending, i, i+1)
	} else if t.state == localQueued {
		// Not yet handed to a worker: take it off the scheduler's queue (a
		// job already dispatched finds it gone and returns).
		q.s.remove(tenant, taskID)
	}
	delete(q.tasks, k)
	return true, nil
}

// Position implements queue.Queue.
func (q *LocalQueue) Position(ctx context.Context, tenant bulwark.TenantID, taskID string) (int, error) {
	q.mu.Lock()
	if q.run == nil {
		defer q.mu.Unlock()
		n := 0
		for _, k := range q.pending {
			if k.tenant == tenant {
				n++
				if k.id == taskID {
					return n, nil
				}
			}
		}
		return 0, nil
	}
	q.mu.Unlock()
	return q.s.position(tenant, taskID), nil
}

// Stop implements queue.Queue.
func (q *LocalQueue) Stop(ctx context.Context) error {
	q.stop(queue.ErrStopping)
	q.s.close()
	done := make(chan struct{})
	go func() { q.s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return bulwark.E(bulwark.Unavailable, "queue.Stop", "tasks still running", ctx.Err())
	}
}
