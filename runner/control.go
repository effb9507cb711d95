package runner

import (
	"context"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/workspace"
)

// Cancel stops a task of tenant: a queued task ends at once, a running one
// at its next safe point (within a second). Canceling a task that has ended
// is Conflict; an unknown one NotFound.
func (rt *Runtime) Cancel(ctx context.Context, tenant bulwark.TenantID, actor, id string) error {
	t, err := rt.cfg.Store.Task(ctx, tenant, id)
	if err != nil {
		return err
	}
	if t.Status.Ended() {
		return bulwark.Errorf(bulwark.Conflict, "runner.Cancel", "the task has ended (%s)", t.Status)
	}
	l := rt.live(tenant, id)
	if l == nil {
		return bulwark.Errorf(bulwark.Conflict, "runner.Cancel", "the task is not running in this server (%s)", t.Status)
	}
	rt.auditf(tenant, actor, "task.cancel_requested", id, "ok", nil)
	if rt.sched.remove(tenant, id) {
		// It never started: end it here with the reason as its steps.
		now := time.Now()
		rec := bulwark.NewRecorder(ctx, rt.cfg.Store, tenant, id)
		for _, e := range []bulwark.Event{
			{Seq: 1, TaskID: id, Time: now, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishCanceled, Text: "the task was canceled before it started"},
		} {
			rec.Record(e)
			l.hub.publish(e)
		}
		rt.seal(l) // a person may have uploaded files meanwhile
		l.hub.close()
		rt.forget(tenant, id)
		return rec.Err()
	}
	l.mu.Lock()
	l.canceled = true
	cancel := l.cancel
	l.mu.Unlock()
	if cancel != nil {
		cancel(errCanceled)
	}
	return nil
}

// Send delivers a person's message to a running task: the answer to its
// question if it asked one, else a message it reads before its next step.
func (rt *Runtime) Send(ctx context.Context, tenant bulwark.TenantID, id, text string) error {
	l, err := rt.running(ctx, tenant, id)
	if err != nil {
		return err
	}
	return l.send(text)
}

// Approvals returns the approvals a task waits for.
func (rt *Runtime) Approvals(ctx context.Context, tenant bulwark.TenantID, id string) ([]bulwark.Approval, error) {
	if _, err := rt.cfg.Store.Task(ctx, tenant, id); err != nil {
		return nil, err
	}
	l := rt.live(tenant, id)
	if l == nil {
		return []bulwark.Approval{}, nil
	}
	return l.openApprovals(), nil
}

// Decide answers an approval of a task: allow runs the call, !allow refuses
// it. An approval that is not waiting is NotFound.
func (rt *Runtime) Decide(ctx context.Context, tenant bulwark.TenantID, actor, id, approvalID string, allow bool) error {
	l, err := rt.running(ctx, tenant, id)
	if err != nil {
		return err
	}
	if err := l.decide(approvalID, allow); err != nil {
		return err
	}
	d := "deny"
	if allow {
		d = "allow"
	}
	rt.auditf(tenant, actor, "approval.decide", id, "ok", map[string]string{"approval": approvalID, "decision": d})
	return nil
}

// running returns the live state of a task of tenant that runs in this
// process: NotFound for an unknown task, Conflict for one not running.
func (rt *Runtime) running(ctx context.Context, tenant bulwark.TenantID, id string) (*live, error) {
	t, err := rt.cfg.Store.Task(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	l := rt.live(tenant, id)
	if l == nil || t.Status.Ended() {
		return nil, bulwark.Errorf(bulwark.Conflict, "runner", "the task is not running (%s)", t.Status)
	}
	return l, nil
}

// Position is the place of a queued task in the queue, from 1, or 0 when
// it is not waiting there.
func (rt *Runtime) Position(tenant bulwark.TenantID, id string) int {
	return rt.sched.position(tenant, id)
}

// Workspace opens the workspace of a task of tenant (for listing,
// downloading and uploading its files). The caller closes it.
func (rt *Runtime) Workspace(ctx context.Context, tenant bulwark.TenantID, id string) (*workspace.Workspace, error) {
	if _, err := rt.cfg.Store.Task(ctx, tenant, id); err != nil {
		return nil, err
	}
	return workspace.Open(rt.workspaceDir(tenant, id))
}

// Subscribe streams the events of a task of tenant whose Seq is greater
// than after: first those stored, then live ones as they are committed,
// each once and in order, until the task ends, ctx is done or the
// subscriber falls too far behind (then the channel closes and the caller
// resumes with the last Seq it saw). model_delta events come only live.
func (rt *Runtime) Subscribe(ctx context.Context, tenant bulwark.TenantID, id string, after int64) (<-chan bulwark.Event, error) {
	if _, err := rt.cfg.Store.Task(ctx, tenant, id); err != nil {
		return nil, err
	}
	var liveCh chan bulwark.Event
	l := rt.live(tenant, id)
	if l != nil {
		liveCh = l.hub.subscribe() // before reading the store, so nothing falls between
	}
	out := make(chan bulwark.Event, 64)
	go func() {
		defer close(out)
		if liveCh != nil {
			defer l.hub.unsubscribe(liveCh)
		}
		last := after
		send := func(e bulwark.Event) bool {
			if e.Seq <= last {
				return true
			}
			select {
			case out <- e:
				last = e.Seq
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			batch, err := rt.cfg.Store.Events(ctx, tenant, id, last, 500)
			if err != nil {
				return
			}
			for _, e := range batch {
				if !send(e) {
					return
				}
			}
			if len(batch) < 500 {
				break
			}
		}
		if liveCh == nil {
			return
		}
		for {
			select {
			case e, ok := <-liveCh:
				if !ok {
					// Ended or dropped: what was committed meanwhile is in the store.
					if batch, err := rt.cfg.Store.Events(context.WithoutCancel(ctx), tenant, id, last, 0); err == nil {
						for _, e := range batch {
							if !send(e) {
								return
							}
						}
					}
					return
				}
				if !send(e) {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// Shutdown stops the runtime: no new task starts, queued ones stay queued
// in the store for the next start, and running ones are canceled at their
// next safe point (their steps so far are stored). It waits for them until
// ctx is done.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	rt.sched.close()
	rt.stop(errShutdown)
	done := make(chan struct{})
	go func() {
		rt.sched.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
