package bulwark

import (
	"context"
	"sync"
)

// Recorder persists the events of one task through a TaskStore, in order,
// each committed before Record returns. Its Record method is an agent Sink:
//
//	rec := bulwark.NewRecorder(ctx, store, tenant, task.ID)
//	cfg.Sink = agent.Tee(view, rec.Record)
//	...
//	if err := rec.Err(); err != nil { ... }
//
// live-only events (EventType.Live) are not stored; the
// task_finished event also sets the task's status, reason and answer (see
// TaskStore.AppendEvent). A Recorder is safe for concurrent use.
type Recorder struct {
	ctx    context.Context
	store  TaskStore
	tenant TenantID
	taskID string

	mu  sync.Mutex
	err error
}

// NewRecorder returns a Recorder for task taskID of tenant. Writes use ctx
// without its cancellation: the last events of a canceled task (the
// task_finished that says so) are still stored.
func NewRecorder(ctx context.Context, store TaskStore, tenant TenantID, taskID string) *Recorder {
	return &Recorder{ctx: context.WithoutCancel(ctx), store: store, tenant: tenant, taskID: taskID}
}

// Record stores e. A failure is kept for Err and does not stop later
// events from being stored.
func (r *Recorder) Record(e Event) {
	if e.Type.Live() {
		return
	}
	if e.TaskID == "" {
		e.TaskID = r.taskID
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.store.AppendEvent(r.ctx, r.tenant, e); err != nil && r.err == nil {
		r.err = err
	}
}

// Err returns the first error met while storing events, or nil.
func (r *Recorder) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
