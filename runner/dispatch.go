package runner

import (
	"context"
	"errors"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/queue"
)

// Dispatch
//
// The runtime tells its queue (Config.Queue) that a task is ready
// (enqueueLive) and the queue calls runQueued, on a node with a free
// worker, to run it. In process, that is this runtime, and the task's live
// state waits here; in a cluster, it may be another node's task, which
// this runtime adopts from the store.

// runQueued is the runtime's queue.RunFunc.
func (rt *Runtime) runQueued(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
	l := rt.live(tenant, id)
	if l == nil || resumed {
		prev := l
		var err error
		if l, err = rt.adoptWaiting(ctx, tenant, id, resumed, l); err != nil || l == nil {
			if err == nil && prev != nil && rt.sched != nil {
				// Given back by a run that could not set up (giveBack),
				// and ended meanwhile: nothing runs it here any more.
				prev.hub.close()
				rt.forget(prev)
			}
			return queue.Finished, err
		}
	}
	if err := rt.run(ctx, l, l.actor); err != nil {
		return queue.Finished, err // its set-up failed; the queue runs it again
	}
	if stopping(ctx) {
		return queue.Interrupted, nil
	}
	if l.parking() {
		return queue.Waiting, nil
	}
	return queue.Finished, nil
}

// adopt readies the live state of a task that this runtime did not queue
// (another node did: l is nil), or that ran before (resumed: its node
// stopped before its end; l is the live state this runtime has of it, if
// any, kept for its subscribers). A task that has ended, or is gone, is
// nil: nothing to run. An error is the store's: the queue tries again
// later.
//
// A resumed task goes on as a new turn without a message, from its stored
// events, as Resume does after a restart. TODO(resume): once steps are
// checkpointed, go on from the last checkpoint instead.
func (rt *Runtime) adopt(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool, l *live) (*live, error) {
	t, err := rt.cfg.Store.Task(ctx, tenant, id)
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	fresh, takeFirst := false, false
	switch {
	case t.Status == bulwark.TaskQueued:
		if l == nil {
			l, fresh = newLive(t), true
			// A new turn's files are in the store until its run restores
			// them (as Continue has it).
			l.sealed = rt.cfg.Artifacts != nil
		}
		// What the store keeps for it is taken first, as for a rescue:
		// what a run that could not set up (giveBack) had taken, and,
		// for a later turn, the messages a turn cut off by a stop had
		// not read, which go on with a task resumed or continued
		// (ContinueTask). The poll takes them only once the run has
		// begun, and a short run ended first: they were dropped with its
		// turn. A new task's first run reads nothing more here.
		takeFirst = (resumed || t.Turns > 1) && rt.sched == nil && rt.cfg.Controls != nil
		if resumed && rt.canPark() {
			// Run again after a run that ended before it began (it could
			// not set up: giveBack). One that rescued a task (its turn
			// goes on from a stop) had what was sent meanwhile wait for
			// its first question or step, as below: so does this one.
			events, err := rt.cfg.Store.Events(ctx, tenant, id, 0, 0)
			if err != nil {
				return nil, err
			}
			if agent.Interrupted(events) {
				l.mu.Lock()
				l.wait = waitState{rewait: true}
				l.mu.Unlock()
			}
		}
	case resumed && !rt.cfg.AutoResume && (t.Status == bulwark.TaskRunning || t.Status == bulwark.TaskWaiting):
		// BULWARK_RESUME=manual: as after a restart, a task whose node
		// stopped waits, interrupted, for a person to resume or cancel it.
		err := rt.cfg.Store.SetTaskStatus(ctx, tenant, id, bulwark.TaskInterrupted)
		if err != nil && bulwark.ErrorKind(err) != bulwark.Conflict {
			return nil, err
		}
		if err == nil {
			rt.auditf(tenant, "system", "task.interrupted", id, audit.OutcomeError, map[string]string{"why": "its node stopped"})
			t.Status = bulwark.TaskInterrupted
			rt.endCanceledAtStop(ctx, t) // canceled as its node stopped: it shows so
		}
		return nil, nil
	case resumed && !rt.cfg.AutoResume:
		return nil, nil // marked interrupted by its node as it stopped: for a person
	case resumed && (t.Status == bulwark.TaskRunning || t.Status == bulwark.TaskWaiting || t.Status == bulwark.TaskInterrupted):
		if t.Status != bulwark.TaskInterrupted {
			err := rt.cfg.Store.SetTaskStatus(ctx, tenant, id, bulwark.TaskInterrupted)
			if bulwark.ErrorKind(err) == bulwark.Conflict {
				return nil, nil // it ended meanwhile
			}
			if err != nil {
				return nil, err
			}
		}
		prev := t.Turns
		stopped := t
		stopped.Status = bulwark.TaskInterrupted
		if t, err = rt.cfg.Store.ResumeTask(ctx, tenant, id, prev); err != nil {
			if errors.Is(err, bulwark.ErrCanceledAtStop) {
				// A person canceled it as its node stopped: it ends
				// canceled, and does not run again.
				if err := rt.cancelStopped(ctx, tenant, "", stopped); !errors.Is(err, bulwark.ErrTurnMoved) {
					return nil, err
				}
				return nil, nil // resumed or ended on another node meanwhile
			}
			if bulwark.ErrorKind(err) == bulwark.Conflict {
				return nil, nil
			}
			return nil, err
		}
		if l == nil {
			l, fresh = newLive(t), true
			l.sealed = rt.cfg.Artifacts != nil
		} else {
			l.task = t
		}
		if rt.canPark() {
			// Before the poll can see it (it starts no run yet): what was
			// sent to the task while no node held it is this run's, and
			// waits, as for a run resumed after a wait, for its first
			// question or its first step. A question its node had asked
			// is asked again, and a message sent after it is its answer.
			l.mu.Lock()
			l.wait = waitState{rewait: true, prevTurn: prev}
			l.mu.Unlock()
			takeFirst = true
		}
		rt.auditf(tenant, "system", "task.resume", id, audit.OutcomeOK, nil)
	default:
		return nil, nil
	}
	if fresh {
		l.actor = "system"
		rt.mu.Lock()
		rt.tasks[key{tenant, id}] = l
		rt.mu.Unlock()
	}
	if takeFirst {
		rt.takeStored(ctx, l)
	}
	return l, nil
}

// leaseLost reports whether a run's context ended because its node lost
// its hold on the task (queue.ErrLeaseLost): another node may run it now,
// and this run must write nothing of it.
func leaseLost(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), queue.ErrLeaseLost)
}

// stopping reports whether a run's context ended because its node stops.
func stopping(ctx context.Context) bool {
	c := context.Cause(ctx)
	return errors.Is(c, errShutdown) || errors.Is(c, queue.ErrStopping)
}

// park gives up the worker of a run that waits for a person, with the
// in-process queue (see sched.park). With another queue, the run ends
// while it waits instead (waitpark.go).
func (rt *Runtime) park() {
	if rt.sched != nil {
		rt.sched.park()
	}
}

// resume takes a worker again after park.
func (rt *Runtime) resume(ctx context.Context) {
	if rt.sched != nil {
		rt.sched.resume(ctx)
	}
}
