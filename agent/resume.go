package agent

import (
	"context"
	"slices"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
)

// Resuming after a restart
//
// A run commits, with each completed step, a checkpoint (Config.Checkpoint)
// before the event that records the step; the conversation is the stored
// events. A run that resumes the interrupted turn (Config.Resume) counts
// its budgets on from the checkpoint and keeps its taint. No call runs
// twice: a call whose tool_call event was stored but whose result was not
// may have done part or all of its work, so the model is told so
// (interruptedCall) instead of the call being run again, unless its tool
// declares the call idempotent (bulwark.Effects.Idempotent) or it was
// waiting for a person and had not run (an approval not yet given, a
// question not yet answered): those run again, and so ask again.

// interruptedCall is the result the model is given for a call cut off by
// a restart.
const interruptedCall = "This call was interrupted by a restart and was not retried; check its effects before calling it again."

// resumeFrom sets the budgets spent and the taint of the resumed turn
// from its checkpoint c.
func (r *run) resumeFrom(c bulwark.Checkpoint) {
	r.usage = c.Spent.Usage
	r.first = min(r.step, c.Step-c.Spent.Steps)
	if r.taint.flagged == "" {
		r.taint.flagged = c.Taint.Flagged
	}
	for _, h := range c.Taint.Hosts {
		if r.taint.domains == nil {
			r.taint.domains = map[string]bool{}
		}
		r.taint.domains[h] = true
	}
}

// resumeCalls answers the calls the interrupted turn left without a
// result, in order: each idempotent or waiting one runs again (without a
// second tool_call event), each other one is reported interrupted.
func (r *run) resumeCalls(ctx context.Context, env *tool.Env, pending []pendingCall) (Outcome, bool) {
	for i, pc := range pending {
		again := pc.waiting
		if !again {
			if p, err := r.prepare(pc.call); err == nil && p.effects.Idempotent {
				again = true
			}
		}
		if again {
			if out, done := r.callToolOnce(ctx, env, pc.call, true); done {
				rest := make([]pendingCall, 0, len(pending)-i-1)
				rest = append(rest, pending[i+1:]...)
				for _, p := range rest {
					r.answer(p.call, "Not run: the task ended before this call.", true)
				}
				return out, true
			}
			continue
		}
		r.emit(bulwark.Event{Type: bulwark.EventToolResult, Tool: pc.call.Name, CallID: pc.call.ID, Text: interruptedCall, IsError: true})
		r.answer(pc.call, interruptedCall, true)
	}
	return Outcome{}, false
}

// checkpoint hands the state as of the step just completed to
// Config.Checkpoint: the next event's Seq records it.
func (r *run) checkpoint() {
	if r.cfg.Checkpoint == nil {
		return
	}
	hosts := make([]string, 0, len(r.taint.domains))
	for h := range r.taint.domains {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	r.cfg.Checkpoint(bulwark.Checkpoint{
		TaskID: r.task.ID,
		Seq:    r.seq + 1,
		Step:   r.step,
		Spent: bulwark.Spent{
			Usage:   r.usage,
			Steps:   r.step - r.first,
			Elapsed: r.spentBefore + time.Since(r.started),
		},
		Taint: bulwark.Taint{Flagged: r.taint.flagged, Hosts: hosts},
	})
}
