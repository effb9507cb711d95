package runner

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
)

// Tasks run by another process
//
// A person's cancel, message or decision for a task that another process
// runs (a `bulwark run` in a terminal, another node) goes through the
// store as a control request (bulwark.ControlStore, Config.Controls): this
// runtime stores it, and the process running the task takes it and
// carries it out. This runtime in turn polls the store, every
// Config.ControlEvery, for the requests of the tasks it holds (queued or
// running here) and carries them out as if they had been made to it.

// DefaultControlEvery is how often a runtime polls for control requests.
const DefaultControlEvery = 300 * time.Millisecond

// sendElsewhere stores r for the process that runs t, which is not this
// one; Conflict when no control store is configured.
func (rt *Runtime) sendElsewhere(ctx context.Context, t bulwark.Task, r bulwark.ControlRequest) error {
	if rt.cfg.Controls == nil {
		return bulwark.Errorf(bulwark.Conflict, "runner", "the task is not running in this server (%s)", t.Status)
	}
	r.TaskID, r.Turn = t.ID, t.Turns
	tenant := bulwark.TenantID(t.TenantID)
	if _, err := rt.cfg.Controls.SendControl(ctx, tenant, r); err != nil {
		return err
	}
	if rt.sched == nil && t.Status == bulwark.TaskRunning {
		// Its run may have begun to wait since t was read, after it
		// looked for requests (parkRun): read again once r is stored, so
		// that either that run takes r or this wakes the task.
		if cur, err := rt.cfg.Store.Task(ctx, tenant, t.ID); err == nil && cur.Turns == t.Turns {
			t = cur
		}
	}
	rt.wake(ctx, t)
	return nil
}

// orphaned reports whether t, stored as running or waiting but not held
// here, was left by a process that stopped: Config.RunElsewhere says no
// other process runs it. Without RunElsewhere, and with a queue of the
// cluster's (Config.Queue), no task is taken for orphaned: another node
// may run it (RunElsewhere knows only of this data folder's `bulwark run`),
// and the queue hands the tasks of a node that died to another, which
// then takes the requests sent meanwhile.
func (rt *Runtime) orphaned(t bulwark.Task) bool {
	if rt.cfg.RunElsewhere == nil || rt.sched == nil || rt.live(bulwark.TenantID(t.TenantID), t.ID) != nil {
		return false
	}
	return (t.Status == bulwark.TaskRunning || t.Status == bulwark.TaskWaiting) && !rt.cfg.RunElsewhere(t)
}

// cancelElsewhere cancels a task that does not run in this process: one
// left by a process that stopped is marked interrupted and canceled where
// it stopped; one that another process runs is asked to stop through the
// store (that process audits the request when it carries it out).
func (rt *Runtime) cancelElsewhere(ctx context.Context, tenant bulwark.TenantID, actor string, t bulwark.Task) error {
	if rt.orphaned(t) {
		cur, err := rt.interruptOrphan(ctx, t)
		if err != nil {
			return err
		}
		if cur.Status != bulwark.TaskInterrupted {
			return bulwark.Errorf(bulwark.Conflict, "runner.Cancel", "the task has ended meanwhile")
		}
		return rt.cancelInterrupted(ctx, tenant, actor, cur)
	}
	if err := rt.sendElsewhere(ctx, t, bulwark.ControlRequest{Kind: bulwark.ControlCancel, Actor: actor}); err != nil {
		return err
	}
	// Read again once the cancel is stored: the process that ran the
	// task may have stopped meanwhile. Interrupted in the same turn (for
	// a person), the task ends canceled now (the stopping node checks
	// too, once it has marked it interrupted: one of the two sees the
	// other's write).
	// In a later turn, a resume or a message opened on another node
	// before the cancel was stored, for a turn no run takes up: it was
	// dropped. It applies to the task as it is now instead.
	cur, err := rt.cfg.Store.Task(ctx, tenant, t.ID)
	switch {
	case err != nil || cur.Status.Ended():
	case cur.Turns == t.Turns && !rt.cfg.AutoResume:
		// With tasks resumed by themselves, a node that stops leaves
		// them running, and the node that rescues one marks it
		// interrupted as it resumes it, finding the cancel there.
		rt.endCanceledAtStop(ctx, cur)
	case cur.Turns > t.Turns && cur.Status != bulwark.TaskInterrupted:
		return rt.Cancel(ctx, tenant, actor, t.ID)
	case cur.Turns > t.Turns:
		return rt.cancelInterrupted(ctx, tenant, actor, cur)
	}
	return nil
}

// interruptOrphan marks an orphaned task (see orphaned) interrupted, as
// Start would have, and returns it as it is now: interrupted, or ended
// if it ended meanwhile.
func (rt *Runtime) interruptOrphan(ctx context.Context, t bulwark.Task) (bulwark.Task, error) {
	tenant := bulwark.TenantID(t.TenantID)
	err := rt.cfg.Store.SetTaskStatus(ctx, tenant, t.ID, bulwark.TaskInterrupted)
	if err != nil && bulwark.ErrorKind(err) != bulwark.Conflict {
		return t, err
	}
	if err == nil {
		rt.auditf(tenant, "system", "task.interrupted", t.ID, audit.OutcomeError, nil)
	}
	return rt.cfg.Store.Task(ctx, tenant, t.ID)
}

// watchControls polls for the control requests of the tasks held here
// until the runtime stops.
func (rt *Runtime) watchControls() {
	every := rt.cfg.ControlEvery
	if every <= 0 {
		every = DefaultControlEvery
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-rt.ctx.Done():
			return
		case <-tick.C:
		}
		rt.takeControls(rt.ctx)
	}
}

// takeControls takes the control requests of the tasks held here and
// carries them out.
func (rt *Runtime) takeControls(ctx context.Context) {
	rt.ctlMu.Lock() // a run ending to wait takes its task out first (waitpark.go)
	defer rt.ctlMu.Unlock()
	rt.mu.Lock()
	refs := make([]bulwark.TaskRef, 0, len(rt.tasks))
	for k, l := range rt.tasks {
		if rt.holds(l) {
			refs = append(refs, bulwark.TaskRef{Tenant: k.tenant, ID: k.id})
		}
	}
	rt.mu.Unlock()
	if len(refs) == 0 {
		return
	}
	rs, err := rt.cfg.Controls.TakeControls(ctx, refs)
	if err != nil {
		slog.Warn("reading control requests", "err", err)
	}
	for _, r := range rs {
		if err := rt.carryOut(ctx, r); err != nil {
			slog.Info("control request not carried out", "task", r.TaskID, "kind", r.Kind, "err", bulwark.ErrorMessage(err))
		}
	}
}

// carryOut does what r asks of a task held here, as the runtime's own
// methods would, unless the turn it was made for has ended. A run that
// ended after the poll took r (it gave the task back to the queue, or
// its node stops) leaves its turn going on: r is stored again, for the
// run that goes on with it.
func (rt *Runtime) carryOut(ctx context.Context, r bulwark.ControlRequest) error {
	tenant := bulwark.TenantID(r.TenantID)
	l := rt.live(tenant, r.TaskID)
	if l == nil {
		return rt.storeAgain(ctx, tenant, r.TaskID, r.Turn, r)
	}
	if !l.forTurn(r.Turn) {
		return errTurnEnded
	}
	if l.keep(r) {
		return nil // for when it asks again (waitpark.go)
	}
	var err error
	switch r.Kind {
	case bulwark.ControlCancel:
		err = rt.cancelLive(ctx, tenant, r.Actor, r.Audited, l, false)
	case bulwark.ControlMessage:
		err = l.send(r.Text, r.EventSeq)
	case bulwark.ControlAnswer:
		err = rt.decideLive(tenant, r.Actor, l, r.ApprovalID, r.Allow)
	default:
		return bulwark.Errorf(bulwark.Invalid, "runner", "unknown control kind %q", r.Kind)
	}
	if !errors.Is(err, errRunEnding) {
		return err
	}
	// Its run ends (to wait, or given back): stored again for the next.
	return rt.storeAgain(ctx, tenant, r.TaskID, l.task.Turns, r)
}

// errTurnEnded: a control request whose task's turn has ended.
var errTurnEnded = &bulwark.Error{Kind: bulwark.Conflict, Op: "runner", Msg: "the turn it was made for has ended"} // a literal: no init work

// storeAgain stores r, taken from the store for a run here that has
// ended, again for the next run of the task, if its turn is still turn.
func (rt *Runtime) storeAgain(ctx context.Context, tenant bulwark.TenantID, id string, turn int, r bulwark.ControlRequest) error {
	t, err := rt.cfg.Store.Task(ctx, tenant, id)
	if err != nil {
		return err
	}
	if t.Status.Ended() || t.Turns != turn {
		return errTurnEnded
	}
	return rt.sendElsewhere(ctx, t, again(r))
}

// again readies r, taken from the store or held by a run that ends, to be
// stored again for the next run: without its id, and with its own
// EventSeq, or EventSeqUnknown when it has none (0: stored by a version
// before EventSeq, or a message from a run's inbox), which SendControl
// would take for now, making it the answer to a question asked after it.
func again(r bulwark.ControlRequest) bulwark.ControlRequest {
	r.ID = ""
	if r.EventSeq == 0 {
		r.EventSeq = bulwark.EventSeqUnknown
	}
	return r
}
