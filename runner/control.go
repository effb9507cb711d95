package runner

import (
	"context"
	"errors"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/workspace"
)

// Cancel stops a task of tenant: a queued task ends at once, a running one
// at its next safe point (within a second), and one that a restart
// interrupted (that no process runs) at once, where it stopped. A task
// another process runs is asked to stop through the store (remote.go).
// Canceling a task that has ended is Conflict; an unknown one NotFound.
func (rt *Runtime) Cancel(ctx context.Context, tenant bulwark.TenantID, actor, id string) error {
	t, err := rt.cfg.Store.Task(ctx, tenant, id)
	if err != nil {
		return err
	}
	if t.Status.Ended() {
		return bulwark.Errorf(bulwark.Conflict, "runner.Cancel", "the task has ended (%s)", t.Status)
	}
	l := rt.held(tenant, id)
	if l == nil && t.Status == bulwark.TaskWaiting && rt.sched == nil {
		// It may wait with no process holding it (waitpark.go).
		if done, err := rt.cancelParked(ctx, tenant, actor, t); done || err != nil {
			return err
		}
		return rt.cancelElsewhere(ctx, tenant, actor, t)
	}
	elsewhere := false
	if l == nil && t.Status == bulwark.TaskQueued && rt.sched == nil {
		// Queued on the cluster's queue: off it here, if it has not
		// started meanwhile (with the live state its Submit left here,
		// for its watchers here).
		if l = rt.live(tenant, id); l == nil {
			l = newLive(t)
		}
		elsewhere = true
	}
	if l == nil {
		if t.Status == bulwark.TaskInterrupted {
			return rt.cancelInterrupted(ctx, tenant, actor, t)
		}
		return rt.cancelElsewhere(ctx, tenant, actor, t)
	}
	if err := rt.cancelLive(ctx, tenant, actor, false, l, elsewhere); err != errStartedElsewhere && !errors.Is(err, errRunEnding) {
		return err
	}
	// It has just started on another node, or its run here has just
	// given it back to the queue: the request goes to the next run.
	return rt.cancelElsewhere(ctx, tenant, actor, t)
}

// errStartedElsewhere: a task this runtime saw queued in the cluster's
// queue has started on another node meanwhile.
var errStartedElsewhere = &bulwark.Error{Kind: bulwark.Conflict, Op: "runner.Cancel", // a literal: no init work
	Msg: "the task has just started on another server; try again in a moment"}

// cancelLive stops the task l held here, or, when queuedElsewhere (it is
// only known from the cluster's queue), takes it off that queue
// (errStartedElsewhere when it has left it). The cancel is audited in
// actor's name where it is carried out, unless audited (by the process
// that stored it again: giveBack): not when it goes to the store instead
// (errStartedElsewhere, errRunEnding), where whoever takes it audits it.
func (rt *Runtime) cancelLive(ctx context.Context, tenant bulwark.TenantID, actor string, audited bool, l *live, queuedElsewhere bool) error {
	id := l.task.ID
	requested := func() {
		if !audited {
			rt.auditf(tenant, actor, "task.cancel_requested", id, "ok", nil)
		}
	}
	if removed, err := rt.queue.Remove(ctx, tenant, id); err != nil {
		return err
	} else if removed {
		requested()
		// It never started: end it here with the reason as its steps
		// (after those of its earlier turns, when it is a conversation).
		last, err := rt.lastEvent(ctx, tenant, id)
		if err != nil {
			return err
		}
		now := time.Now()
		rec := bulwark.NewRecorder(ctx, rt.cfg.Store, tenant, id)
		for _, e := range []bulwark.Event{
			{Seq: last.Seq + 1, TaskID: id, Time: now, Type: bulwark.EventTaskFinished, Step: last.Step, Reason: bulwark.FinishCanceled, Text: "the task was canceled before it started"},
		} {
			rec.Record(e)
			l.hub.publish(e)
		}
		rt.seal(l) // a person may have uploaded files meanwhile
		// Its turn is over: nothing is left to resume (a task queued to
		// resume has a checkpoint), as at the end of a run.
		rt.settleCheckpoint(context.WithoutCancel(ctx), l.task)
		l.hub.close()
		rt.forget(l)
		return rec.Err()
	}
	if queuedElsewhere {
		return errStartedElsewhere
	}
	l.mu.Lock()
	if l.wait.gaveBack {
		// Its run has given it back to the queue: l is dropped with it.
		l.mu.Unlock()
		return errRunEnding
	}
	if !l.canceled {
		l.canceled, l.canceledBy = true, actor
	}
	cancel := l.cancel
	l.mu.Unlock()
	requested()
	if cancel != nil {
		cancel(errCanceled)
	}
	return nil
}

// Send delivers a person's message to a running task: the answer to its
// question if it asked one, else a message it reads before its next step.
// To a task another process runs, it goes through the store (remote.go).
func (rt *Runtime) Send(ctx context.Context, tenant bulwark.TenantID, id, text string) error {
	l, err := rt.running(ctx, tenant, id)
	if err != nil {
		t, ok := rt.heldElsewhere(ctx, tenant, id, err)
		if ok {
			return rt.sendElsewhere(ctx, t, bulwark.ControlRequest{Kind: bulwark.ControlMessage, Text: text})
		}
		if bulwark.ErrorKind(err) == bulwark.Conflict && t.ID != "" && rt.orphaned(t) {
			// Left by a process that stopped: interrupted, so that a
			// message resumes it in a new turn (Message).
			if _, ierr := rt.interruptOrphan(ctx, t); ierr != nil {
				return ierr
			}
		}
		return err
	}
	// When it is sent: after the task's question, if its event is stored.
	seq, err := rt.cfg.Store.LastEventSeq(ctx, tenant, id)
	if err != nil {
		return err
	}
	if err := l.send(text, seq); !errors.Is(err, errRunEnding) {
		return err
	}
	// The run began to park after running found it held: what it read
	// last is stored, and this message is stored after it for the next
	// run, as one sent to a task held by no node.
	t, err := rt.cfg.Store.Task(ctx, tenant, id)
	if err != nil {
		return err
	}
	return rt.sendElsewhere(ctx, t, bulwark.ControlRequest{Kind: bulwark.ControlMessage, Text: text, EventSeq: seq})
}

// heldElsewhere reports, after running failed with err, whether task id
// is one that another process holds (queued, running or waiting, not
// here, and not left by a stopped process), to which requests go through
// the store.
func (rt *Runtime) heldElsewhere(ctx context.Context, tenant bulwark.TenantID, id string, err error) (bulwark.Task, bool) {
	if rt.cfg.Controls == nil || bulwark.ErrorKind(err) != bulwark.Conflict {
		return bulwark.Task{}, false
	}
	t, terr := rt.cfg.Store.Task(ctx, tenant, id)
	if terr != nil || t.Status.Ended() || t.Status == bulwark.TaskInterrupted || rt.held(tenant, id) != nil || rt.orphaned(t) {
		return t, false
	}
	return t, true
}

// Approvals returns the approvals a task waits for.
func (rt *Runtime) Approvals(ctx context.Context, tenant bulwark.TenantID, id string) ([]bulwark.Approval, error) {
	if _, err := rt.cfg.Store.Task(ctx, tenant, id); err != nil {
		return nil, err
	}
	l := rt.held(tenant, id)
	if aps, ok := rt.parkedApprovals(ctx, tenant, id, l); ok {
		return aps, nil
	}
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
		if t, ok := rt.heldElsewhere(ctx, tenant, id, err); ok {
			if err := rt.checkParkedApproval(ctx, t, approvalID); err != nil {
				return err
			}
			return rt.sendElsewhere(ctx, t, bulwark.ControlRequest{Kind: bulwark.ControlAnswer, Actor: actor, ApprovalID: approvalID, Allow: allow})
		}
		return err
	}
	if err := rt.decideLive(tenant, actor, l, approvalID, allow); !errors.Is(err, errRunEnding) {
		return err
	}
	// Its run began to park for it after running found it held: the
	// decision is stored for the next run, as one made to no node.
	t, err := rt.cfg.Store.Task(ctx, tenant, id)
	if err != nil {
		return err
	}
	return rt.sendElsewhere(ctx, t, bulwark.ControlRequest{Kind: bulwark.ControlAnswer, Actor: actor, ApprovalID: approvalID, Allow: allow})
}

// decideLive answers an approval of the task l held here.
func (rt *Runtime) decideLive(tenant bulwark.TenantID, actor string, l *live, approvalID string, allow bool) error {
	id := l.task.ID
	if kept, err := l.keepDecision(actor, approvalID, allow); kept {
		return err // audited when its run takes it (approveOrPark)
	}
	audit, err := l.decide(actor, approvalID, allow)
	if err != nil || !audit {
		return err // a run that parks for it audits it as it takes it (approveOrPark)
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
	l := rt.held(tenant, id)
	if l == nil || t.Status.Ended() {
		return nil, bulwark.Errorf(bulwark.Conflict, "runner", "the task is not running (%s)", t.Status)
	}
	return l, nil
}

// Position is the place of a queued task among its tenant's queued tasks,
// from 1, or 0 when it is not waiting. Other tenants' tasks are not
// counted: their volume is theirs.
func (rt *Runtime) Position(tenant bulwark.TenantID, id string) int {
	n, _ := rt.queue.Position(context.Background(), tenant, id)
	return n
}

// Workspace opens the workspace of a task of tenant (for listing,
// downloading and uploading its files). The caller closes it.
func (rt *Runtime) Workspace(ctx context.Context, tenant bulwark.TenantID, id string) (*workspace.Workspace, error) {
	if _, err := rt.cfg.Store.Task(ctx, tenant, id); err != nil {
		return nil, err
	}
	return workspace.Open(rt.workspaceDir(tenant, id))
}

// Shutdown stops the runtime: no new task starts, queued ones stay queued
// in the store for the next start, and running ones are canceled at their
// next safe point (their steps so far are stored). It waits for them until
// ctx is done.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	err := rt.queue.Stop(ctx) // no new run starts; the runs end (queue.ErrStopping)
	rt.stop(errShutdown)
	// Tasks queued here that no run started (or that wait here for their
	// next try: giveBack): what was sent to them is stored as well.
	rt.mu.Lock()
	left := make([]*live, 0, len(rt.tasks))
	for _, l := range rt.tasks {
		left = append(left, l)
	}
	rt.mu.Unlock()
	for _, l := range left {
		rt.handOver(context.WithoutCancel(ctx), l)
	}
	return err
}
