package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/queue"
)

// Set-ups that fail for a passing reason
//
// Before a run starts the agent, it reads the task's events, puts its
// files back from the store and, for a turn a stop cut off (a rescued or
// resumed task), the folder as its last checkpoint has it. A store that
// does not answer meanwhile (Unavailable) used to end the task failed, and
// that end dropped the checkpoint: the work lost to a passing error.
// Instead the run gives the task back to its queue, its files and
// checkpoint as they were, and the queue runs it again after a backoff
// (queue.Backoff; River retries the token in a cluster). After
// maxSetupRetries such runs in a row (queue.Failures) the task fails,
// saying that the store did not answer.

// maxSetupRetries is how many runs of a task in a row may give it back
// to the queue because the store did not answer as they set up: with
// queue.Backoff, about three minutes. A variable for tests only.
var maxSetupRetries = 8

// setupFailed ends the run of l, whose set-up failed with err after the
// events up to seq last: a store that did not answer gives the task back
// to the queue (the error returned, for runQueued to return), until
// maxSetupRetries runs in a row have; any other failure, or the last
// one, ends the task failed (failBeforeStart), and setupFailed returns
// nil. parent is the run's context from the queue.
func (rt *Runtime) setupFailed(parent, ctx context.Context, sink agent.Sink, l *live, last int64, err error) error {
	t := l.task
	if bulwark.ErrorKind(err) != bulwark.Unavailable || stopping(ctx) {
		rt.failBeforeStart(ctx, sink, t, last, err)
		return nil
	}
	if n := queue.Failures(parent); n >= maxSetupRetries {
		l.mu.Lock()
		canceled, cancel := l.canceled, l.cancel
		l.mu.Unlock()
		if canceled && cancel != nil {
			cancel(errCanceled) // a person canceled it meanwhile: it ends canceled (failBeforeStart)
		}
		msg := fmt.Sprintf("%s: the database did not answer, %d tries in a row", bulwark.ErrorMessage(err), n+1)
		rt.failBeforeStart(ctx, sink, t, last, bulwark.E(bulwark.Unavailable, "runner.run", msg, err))
		return nil
	}
	slog.Warn("a task could not set up; it goes back to the queue, which runs it again", "task", t.ID, "err", err)
	rt.giveBack(ctx, l)
	return bulwark.E(bulwark.Unavailable, "runner.run", "the task could not set up: the database did not answer", err)
}

// giveBack readies l, whose run ends before it began (setupFailed), for
// the queue's next run of its task. In process, l waits here for that
// run, with what was sent to the task meanwhile (a cancel too: carried
// out as the next run begins). In a cluster, where the next run may be
// another node's, what the run had taken of what was sent to the task (a
// cancel, and the requests and messages kept for its first question or
// step) is stored again for that run.
//
// In a cluster, l is dropped as the run ends: from the moment giveBack
// takes what it holds, it is marked given back (waitState.gaveBack), and
// a request that reaches it after (a poll that took one as the run
// ended, a Send or Cancel that found it held) goes to the store instead
// (errRunEnding), for the next run. It used to reach l, which no run
// read any more: a cancel was lost, and the task failed once its tries
// were spent.
func (rt *Runtime) giveBack(ctx context.Context, l *live) {
	if rt.sched != nil {
		l.mu.Lock()
		l.canceled, l.cancel = l.canceled || errors.Is(context.Cause(ctx), errCanceled), nil
		l.mu.Unlock()
		return
	}
	rt.handOver(ctx, l)
}

// handOver marks l given back (waitState.gaveBack: what reaches it from
// now on goes to the store) and stores what it holds for the task's next
// run: the requests kept for its first question or step, the messages
// of its inbox, and a cancel. l is dropped: its run gave the task back
// to a cluster's queue (giveBack), or stops with its process or node
// (the next start, or another node, goes on with the task's turn), or
// its task, queued here, was never run before the process stopped
// (Shutdown). The messages of the inbox were lost with it at a stop.
// Without a control store, what it held is lost, and the log says so.
//
// It marks l given back under ctlMu, as parkRun marks a run ending: a
// poll that has taken a request for l carries it out first (to l, whose
// inbox is emptied below), and no poll takes one for it after. A poll
// that took a message just before the stop used to carry it out once l
// was given back: stored again, after the task was marked interrupted,
// for the turn a resume on another node had ended meanwhile, it was
// dropped.
func (rt *Runtime) handOver(ctx context.Context, l *live) {
	rt.ctlMu.Lock()
	l.mu.Lock()
	canceled := l.canceled || errors.Is(context.Cause(ctx), errCanceled)
	l.canceled, l.cancel = canceled, nil
	canceledBy := l.canceledBy
	reqs := l.wait.kept
	l.wait.kept = nil
	l.wait.ending, l.wait.gaveBack = true, true
	l.mu.Unlock()
	rt.ctlMu.Unlock()
	for more := true; more; {
		select {
		case text := <-l.inbox:
			reqs = append(reqs, bulwark.ControlRequest{Kind: bulwark.ControlMessage, Text: text})
		default:
			more = false
		}
	}
	if canceled {
		// Audited as it reached l (cancelLive): the next run carries it
		// out in the name of whoever made it, and does not audit it again.
		if canceledBy == "" {
			canceledBy = "system"
		}
		reqs = append(reqs, bulwark.ControlRequest{Kind: bulwark.ControlCancel, Actor: canceledBy, Audited: true})
	}
	t := l.task
	if rt.cfg.Controls == nil {
		if len(reqs) > 0 {
			slog.Error("requests to a task whose run ended before they were read were lost: no control store keeps them", "task", t.ID, "count", len(reqs))
		}
		return
	}
	tenant := bulwark.TenantID(t.TenantID)
	for _, r := range reqs {
		r = again(r)
		r.TaskID, r.Turn = t.ID, t.Turns
		if _, err := rt.cfg.Controls.SendControl(context.WithoutCancel(ctx), tenant, r); err != nil {
			slog.Error("a request to a task whose run ended before it was read was lost", "task", t.ID, "kind", r.Kind, "err", err)
		}
	}
}

// setupError is err, met as a run set up, with msg for the person: kept
// Unavailable when the store did not answer (setupFailed tries again),
// Internal otherwise.
func setupError(op, msg string, err error) error {
	kind := bulwark.Internal
	if bulwark.ErrorKind(err) == bulwark.Unavailable {
		kind = bulwark.Unavailable
	}
	return bulwark.E(kind, op, msg, err)
}
