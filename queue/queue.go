// Package queue is the seam between the runner and whatever decides where
// and when a task runs. The runner says "this task is ready to run"
// (Enqueue) and is called back, on some node with a free worker, with "run
// task X now" (RunFunc). Two implementations keep the same promises:
//
//   - in process (runner.NewLocalQueue), over the runner's fair scheduler,
//     for SQLite and a single server;
//   - on PostgreSQL with River (package queue/riverqueue), for several
//     servers sharing one database.
//
// The promises:
//
//   - Exactly once: a task handed to Enqueue runs once (again only when
//     its run asks to wait, and Continue brings it back, or when the node
//     that ran it died, and then with resumed set).
//   - Quota: no more than the tenant's quota of its tasks run at once
//     (over the whole cluster for River). A task over the quota waits; it
//     does not fail, and does not hold up other tenants.
//   - Order: a tenant's queued tasks start in the order they were queued
//     (a continued task, having started before, goes first).
//   - Waiting holds no worker: a run that returns Waiting gives up its
//     worker and its quota slot; Continue queues it again, on any node.
//
// Task content never goes through the queue: it carries the tenant and
// the task id, and the callback reads the task from the store.
package queue

import (
	"context"
	"errors"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// Outcome is how a run of a task ended, as far as the queue cares.
type Outcome int

const (
	// Finished: the task's run is over (it succeeded, failed or was
	// canceled); the queue forgets it. A new turn of a conversation is a
	// new Enqueue.
	Finished Outcome = iota
	// Waiting: the task waits for a person (an approval, an answer). Its
	// worker and quota slot are free; Continue queues it again.
	Waiting
	// Interrupted: the run stopped before its end because the node is
	// stopping (its context ended with ErrStopping). The task goes back to
	// the queue, ahead of its tenant's other queued tasks, and runs again
	// with resumed set, on this node or another.
	Interrupted
)

func (o Outcome) String() string {
	switch o {
	case Finished:
		return "finished"
	case Waiting:
		return "waiting"
	case Interrupted:
		return "interrupted"
	}
	return "unknown"
}

// RunFunc runs one task of tenant now, on this node, and returns when its
// run is over (or waits for a person). resumed is true when the task has
// run before (it was continued after a wait, interrupted by a stopping
// node, or rescued from a node that died): the run goes on from the
// task's stored checkpoints rather than starting over.
//
// ctx ends when the node stops (cause ErrStopping) or when the node lost
// its hold on the task (cause ErrLeaseLost: another node may run it now,
// so this one must stop writing). A non-nil error means the task could
// not be run at all (the store is unreachable): the task goes back to the
// queue and is tried again later, with backoff; a task that fails is
// Finished, with its failure recorded by the runner.
//
// Failures(ctx) is how many runs of the task in a row before this one
// returned an error: the runner gives up at a bound of its own (it fails
// the task, saying why, and returns nil), since the queue, which knows
// nothing of tasks, tries again as long as it can, after Backoff.
type RunFunc func(ctx context.Context, tenant bulwark.TenantID, taskID string, resumed bool) (Outcome, error)

// Backoff is how long a queue waits before it runs again a task whose
// last n runs in a row returned an error: a second, doubled each time,
// up to a minute.
func Backoff(n int) time.Duration {
	return min(time.Second<<min(max(n, 1)-1, 6), time.Minute)
}

type failuresKey struct{}

// WithFailures returns ctx for a run of a task whose last n runs returned
// an error (see RunFunc); for queues.
func WithFailures(ctx context.Context, n int) context.Context {
	if n <= 0 {
		return ctx
	}
	return context.WithValue(ctx, failuresKey{}, n)
}

// Failures is how many runs of the task in a row before the run of ctx
// returned an error (see RunFunc).
func Failures(ctx context.Context) int {
	n, _ := ctx.Value(failuresKey{}).(int)
	return n
}

// ErrStopping is the cause of the cancellation of a run's context when its
// node stops: the run should return Interrupted promptly.
var ErrStopping = errors.New("the node is stopping")

// ErrLeaseLost is the cause of the cancellation of a run's context when
// the node could not keep its hold on the task (it could not reach the
// database for longer than the lease): another node may run it now.
var ErrLeaseLost = errors.New("the node lost its hold on the task")

// Queue dispatches tasks to workers. Its methods are safe for concurrent
// use. Errors come as *bulwark.Error.
type Queue interface {
	// Start begins working tasks: run is called for each task this node
	// runs, on its own goroutine. Enqueue may be called before Start.
	Start(ctx context.Context, run RunFunc) error
	// Enqueue queues a task of tenant that is ready to run. Queuing a task
	// that is queued already does nothing more (it is safe to queue again
	// every queued task at start-up); queuing one whose run is ending (a
	// new turn of a conversation) queues it again when the run returns,
	// not resumed.
	Enqueue(ctx context.Context, tenant bulwark.TenantID, taskID string) error
	// Continue queues again a task whose run returned Waiting, once the
	// person has answered; it may be called on any node. An answer that
	// comes before the run has returned Waiting is kept: the task is
	// queued again as soon as it does; if the run returns Finished
	// instead, it is dropped (the run had the answer, or its turn is
	// over: only Enqueue queues a new turn). A task the queue does not
	// know is NotFound.
	Continue(ctx context.Context, tenant bulwark.TenantID, taskID string) error
	// Remove takes a task that is queued (not started) or waiting off the
	// queue, for a cancellation; false when it is not there (it runs, or
	// the queue does not know it).
	Remove(ctx context.Context, tenant bulwark.TenantID, taskID string) (bool, error)
	// Position is the place of a queued task among its tenant's queued
	// tasks, from 1; 0 when it is not queued.
	Position(ctx context.Context, tenant bulwark.TenantID, taskID string) (int, error)
	// Stop stops taking work, ends the runs of this node (their context
	// ends with ErrStopping) and waits for them until ctx ends.
	Stop(ctx context.Context) error
}
