package runner

import (
	"context"
	"log/slog"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"
)

// Sub-agents
//
// A task's delegate calls run their sub-agents inline, in the parent's
// run and worker (agent/delegate.go): a child never waits for a worker
// its parent holds. Each child is a task of its own, stored with
// ParentID, with its own live state here: its events are stored and
// streamed under its id, a person can cancel it or answer it by its id,
// and its approvals are listed and decided under its own id and under
// every ancestor's, so whoever watches the task they started sees them.
// A child never parks (waitpark.go) while it waits for a person: its
// parent's run is in the middle of a call. Cancelling the parent cancels
// the child, whose context is the parent's.

// delegation is the sub-agent starter of the task l, run for actor.
func (rt *Runtime) delegation(l *live, actor string) *agent.Delegation {
	if rt.cfg.MaxAgentDepth < 0 {
		return nil
	}
	return &agent.Delegation{MaxDepth: rt.cfg.MaxAgentDepth, Start: func(ctx context.Context, t bulwark.Task, cfg agent.Config) (agent.Child, error) {
		return rt.startChild(ctx, l, actor, t, cfg)
	}}
}

// startChild stores the child task t of parent and readies its live state.
func (rt *Runtime) startChild(ctx context.Context, parent *live, actor string, t bulwark.Task, cfg agent.Config) (agent.Child, error) {
	tenant := bulwark.TenantID(parent.task.TenantID)
	t.ID, t.Status = "", bulwark.TaskQueued
	t.CreatedBy = parent.task.CreatedBy // a sub-agent acts for whoever started its parent
	t, err := rt.cfg.Store.CreateTask(ctx, tenant, t)
	if err != nil {
		return agent.Child{}, err
	}
	l := newLive(t)
	l.actor, l.parent = actor, parent
	cctx, cancel := context.WithCancelCause(ctx)
	l.cancel = cancel
	rt.mu.Lock()
	rt.tasks[key{tenant, t.ID}] = l
	rt.mu.Unlock()
	rt.auditf(tenant, actor, "task.delegate", t.ID, audit.OutcomeOK, map[string]string{"parent": parent.task.ID})

	rec := bulwark.NewRecorder(cctx, rt.cfg.Store, tenant, t.ID)
	sinks := []agent.Sink{func(e bulwark.Event) {
		l.keepOutput(e)
		if e.Type == bulwark.EventAskUser {
			l.expectAnswer(e.Seq) // a sub-agent's questions wait in l.ask
		}
		rec.Record(e)
		if err := rec.Err(); err != nil {
			slog.Error("sub-agent step not stored; stopping it", "task", t.ID, "err", err)
			cancel(err)
			return
		}
		l.hub.publish(e)
	}, metrics.CountEvent}
	if rt.cfg.Audit != nil {
		auditor := &audit.TaskAuditor{Log: rt.cfg.Audit, Tenant: string(tenant), Actor: actor, OnError: func(err error) {
			slog.Error("audit record not written; stopping the sub-agent", "task", t.ID, "err", err)
			cancel(err)
		}}
		sinks = append(sinks, auditor.Sink)
	}
	cfg.Sink = agent.Tee(sinks...)
	if cfg.Delegation != nil {
		// The child's own sub-agents hang under the child.
		d := *cfg.Delegation
		d.Start = func(ctx context.Context, t bulwark.Task, cfg agent.Config) (agent.Child, error) {
			return rt.startChild(ctx, l, actor, t, cfg)
		}
		cfg.Delegation = &d
	}
	cfg.Inbox = l.inbox
	cfg.Approve = rt.childApprover(l, tenant)
	cfg.Asking = func(_ context.Context, a bulwark.Approval) { l.expectApproval(a, false) }
	env := *cfg.Env
	if env.Ask != nil {
		env.Ask = func(ctx context.Context, q string) (string, error) {
			rt.park()
			defer rt.resume(ctx)
			return l.ask(ctx, q)
		}
	}
	cfg.Env = &env
	return agent.Child{Task: t, Config: cfg, Context: cctx, Done: func(agent.Outcome) {
		cancel(nil)
		l.hub.close()
		rt.forget(l)
	}}, nil
}

// childApprover puts a child's approvals to a person: registered on the
// child and on each of its ancestors, decided through any of them, with
// the worker set free meanwhile.
func (rt *Runtime) childApprover(l *live, tenant bulwark.TenantID) func(context.Context, bulwark.Approval) (bool, error) {
	return func(ctx context.Context, a bulwark.Approval) (bool, error) {
		store := rt.cfg.Store
		if err := store.SetTaskStatus(context.WithoutCancel(ctx), tenant, l.task.ID, bulwark.TaskWaiting); err != nil {
			slog.Warn("marking a task waiting", "task", l.task.ID, "err", err)
		}
		rt.park()
		defer rt.resume(ctx)
		ok, err := l.awaitApproval(ctx, a)
		if err == nil {
			store.SetTaskStatus(context.WithoutCancel(ctx), tenant, l.task.ID, bulwark.TaskRunning)
		}
		return ok, err
	}
}

// interruptChild marks a sub-agent a stopped process left unfinished
// interrupted: only its parent's run could go on with it.
func (rt *Runtime) interruptChild(ctx context.Context, t bulwark.Task) {
	if rt.cfg.RunElsewhere != nil && rt.cfg.RunElsewhere(t) {
		return
	}
	if t.Status == bulwark.TaskInterrupted || rt.sched == nil {
		return // on a cluster, its parent's node may still run it
	}
	err := rt.cfg.Store.SetTaskStatus(ctx, bulwark.TenantID(t.TenantID), t.ID, bulwark.TaskInterrupted)
	if err != nil && bulwark.ErrorKind(err) != bulwark.Conflict {
		slog.Warn("marking a sub-agent interrupted", "task", t.ID, "err", err)
	}
}
