package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
)

// Waiting for a person without a worker
//
// With the in-process queue, a run that waits for a person gives up its
// worker and keeps its goroutine (sched.park). With another queue (a
// cluster's), it holds nothing while it waits: when the agent asks for an
// approval or puts a question, the run ends at its last checkpoint, which
// says what the task waits for (bulwark.Checkpoint.Waiting); the task
// stays waiting; its sandbox is closed and its files sealed into the
// store, as when any run ends; and the run returns queue.Waiting.
//
// The answer may reach any node. There, the task is waiting and no
// process holds it: the answer is stored as a control request (remote.go)
// and the task is continued on the queue (wake). Its next run, on any
// node, resumes the turn from the checkpoint (files and budgets as the
// last step left them), and the agent asks again (agent/resume.go); the
// run takes the task's stored requests at that moment and the answer
// among them answers, so that the person is not asked twice. Until the
// task asks again, the requests its runtime's poll takes are kept for it
// (live.keep), but for a cancel, carried out at once.
//
// A cancel of a task that waits with no process holding it ends it at
// once (cancelParked). One that reaches it while its run is ending, or
// after the answer queued it again, is stored and carried out by the next
// run.

// errParked is the cause of the end of a run whose task now waits for a
// person without it.
var errParked = errors.New("the task waits for a person")

// errRunEnding: a request reached a live task whose run is ending to
// wait, or has given it back to the queue (waitState.ending); it goes to
// the store instead.
var errRunEnding = errors.New("the task's run is ending")

// waitState is what a live task knows of its waits on a queue other than
// the in-process one; guarded by live.mu.
type waitState struct {
	// ending: the run ends because its task waits, or because it could
	// not set up (gaveBack: giveBack gave the task back to a cluster's
	// queue), or stops with its process (gaveBack too: handOver); the
	// task is not held here any more (held), and its requests go through
	// the store.
	ending, gaveBack bool
	// rewait: the run resumes a task that waited (adoptWaiting) and has
	// not asked again yet; kept are the requests taken for it meanwhile.
	rewait bool
	kept   []bulwark.ControlRequest
	// parked is what the task waited for when this run took it up.
	parked *bulwark.Waiting
	// mark commits the last checkpoint again with what the task waits
	// for (checkpointer.markWaiting); nil without checkpoints.
	mark func(context.Context, *bulwark.Waiting) error
	// prevTurn, when above 0: the run rescues a task whose node stopped
	// (adopt), in a turn of its own; the requests made for the turn that
	// node ran, sent while no node held the task, are this run's.
	prevTurn int
}

// forTurn reports whether a request made for turn reaches l's run: one
// for its turn, or for the turn it rescued.
func (l *live) forTurn(turn int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return turn == l.task.Turns || l.wait.prevTurn > 0 && turn == l.wait.prevTurn
}

// canPark reports whether a run that waits for a person ends while it
// waits: with a queue other than the in-process one, checkpoints to
// resume from and control requests to bring the answer.
func (rt *Runtime) canPark() bool {
	return rt.sched == nil && rt.cfg.Checkpoints != nil && rt.cfg.Controls != nil
}

// parking reports whether l's run is ending to wait.
func (l *live) parking() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.wait.ending && !l.wait.gaveBack
}

func (l *live) setMark(mark func(context.Context, *bulwark.Waiting) error) {
	l.mu.Lock()
	l.wait.mark = mark
	l.mu.Unlock()
}

// held returns the live state of a task held here, or nil: a task whose
// run is ending to wait is not held any more, and with a cluster's queue
// neither is one whose run has not started here (queued: any node may
// run it; the live state a Submit left here stays while another node
// runs it).
func (rt *Runtime) held(tenant bulwark.TenantID, id string) *live {
	l := rt.live(tenant, id)
	if l != nil && !rt.holds(l) {
		return nil
	}
	return l
}

// holds reports whether the task of l is held here: what is asked of it
// reaches it here, and the poll takes its requests (remote.go).
func (rt *Runtime) holds(l *live) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.wait.ending && (rt.sched != nil || l.cancel != nil)
}

// keep keeps r, taken by the poll for a task resumed after a wait that
// has not asked again yet, for when it does; a cancel is not kept.
func (l *live) keep(r bulwark.ControlRequest) bool {
	if r.Kind == bulwark.ControlCancel || unknownMoment(r) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.wait.rewait || l.wait.ending {
		return false // ending: stored again instead (carryOut)
	}
	l.wait.kept = append(l.wait.kept, r)
	return true
}

// unknownMoment reports whether r is a message sent at a moment not
// known (bulwark.EventSeqUnknown: one a stopped run had in its inbox,
// say), which is never an answer: kept for a question asked again, it
// was read only after the run's first step, and a run that ended there
// never read it. It goes to the inbox instead (send), read before the
// run's first step.
func unknownMoment(r bulwark.ControlRequest) bool {
	return r.Kind == bulwark.ControlMessage && r.EventSeq == bulwark.EventSeqUnknown
}

// keepDecision keeps a decision made to the node whose run resumes a
// task that waited for the approval approvalID, before the run asks
// again, for when it does: as keep, for one the poll takes. A second
// decision is Conflict, as for an approval a run has open.
func (l *live) keepDecision(actor, approvalID string, allow bool) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.wait.parked
	if !l.wait.rewait || l.wait.ending || p == nil || p.Approval == nil || p.Approval.ID != approvalID {
		return false, nil
	}
	for _, r := range l.wait.kept {
		if r.Kind == bulwark.ControlAnswer && r.ApprovalID == approvalID {
			return true, bulwark.Errorf(bulwark.Conflict, "runner.Decide", "this approval was already decided")
		}
	}
	t := l.task
	l.wait.kept = append(l.wait.kept, bulwark.ControlRequest{TenantID: t.TenantID, TaskID: t.ID, Turn: t.Turns,
		Kind: bulwark.ControlAnswer, Actor: actor, ApprovalID: approvalID, Allow: allow})
	return true, nil
}

// wake continues on the queue a task that waits, after a request for it
// was stored: its next run takes the request.
func (rt *Runtime) wake(ctx context.Context, t bulwark.Task) {
	if rt.sched != nil || t.Status != bulwark.TaskWaiting {
		return
	}
	if err := rt.queue.Continue(ctx, bulwark.TenantID(t.TenantID), t.ID); err != nil {
		slog.Warn("a waiting task was not queued again after a request", "task", t.ID, "err", err)
	}
}

// parkedRun reports whether the run of l ended because its task waits.
func (rt *Runtime) parkedRun(ctx context.Context, l *live) bool {
	return errors.Is(context.Cause(ctx), errParked) && l.parking()
}

// adoptWaiting is adopt, but for a task that waited without a run and
// is continued (resumed): it goes on in the same turn, from the
// checkpoint that says what it waits for.
func (rt *Runtime) adoptWaiting(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool, l *live) (*live, error) {
	if !resumed || !rt.canPark() {
		return rt.adopt(ctx, tenant, id, resumed, l)
	}
	t, err := rt.cfg.Store.Task(ctx, tenant, id)
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if t.Status != bulwark.TaskWaiting {
		return rt.adopt(ctx, tenant, id, resumed, l)
	}
	c, err := rt.cfg.Checkpoints.LatestCheckpoint(ctx, tenant, id)
	if bulwark.ErrorKind(err) == bulwark.NotFound || (err == nil && c.Waiting == nil) {
		// It was waiting in a run that stopped: resumed as any other.
		return rt.adopt(ctx, tenant, id, resumed, l)
	}
	if err != nil {
		return nil, err
	}
	fresh := l == nil
	if fresh {
		l = newLive(t)
		l.sealed = rt.cfg.Artifacts != nil
		l.actor = "system"
	} else {
		l.task = t
	}
	// Before the poll can see it: what it takes is kept for the next ask.
	l.mu.Lock()
	l.wait = waitState{rewait: true, parked: c.Waiting}
	l.mu.Unlock()
	if fresh {
		rt.mu.Lock()
		rt.tasks[key{tenant, id}] = l
		rt.mu.Unlock()
	}
	rt.auditf(tenant, "system", "task.resume", id, audit.OutcomeOK, map[string]string{"why": "it waited for a person"})
	return l, nil
}

// takeWaiting returns the requests for l that came while it waited,
// oldest first, once: when it resumed after a wait, those its poll kept
// and those still stored. The caller holds ctlMu.
func (rt *Runtime) takeWaiting(ctx context.Context, l *live) []bulwark.ControlRequest {
	l.mu.Lock()
	rewait := l.wait.rewait
	reqs := l.wait.kept
	l.wait.rewait, l.wait.kept = false, nil
	l.mu.Unlock()
	if !rewait {
		return reqs
	}
	tenant := bulwark.TenantID(l.task.TenantID)
	taken, err := rt.cfg.Controls.TakeControls(ctx, []bulwark.TaskRef{{Tenant: tenant, ID: l.task.ID}})
	if err != nil {
		slog.Warn("reading the requests of a task that waited", "task", l.task.ID, "err", err)
	}
	for _, r := range taken {
		if !l.forTurn(r.Turn) {
			slog.Info("control request not carried out", "task", r.TaskID, "kind", r.Kind, "err", "the turn it was made for has ended")
			continue
		}
		reqs = append(reqs, r)
	}
	return reqs
}

// takeStored carries out, before the run that rescues l's task starts
// (or runs it again after a run that could not set up: giveBack), what
// was sent to the task while no node held it: a cancel at once (the run
// starts canceled), the rest kept for its first question or step. The
// poll would take them only once the run has started, and a short run
// (a set-up that fails at once) ended first: a cancel stored for a task
// whose set-up kept failing waited in the store until it failed.
func (rt *Runtime) takeStored(ctx context.Context, l *live) {
	tenant := bulwark.TenantID(l.task.TenantID)
	taken, err := rt.cfg.Controls.TakeControls(ctx, []bulwark.TaskRef{{Tenant: tenant, ID: l.task.ID}})
	if err != nil {
		slog.Warn("reading the requests of a task about to run; the poll takes them", "task", l.task.ID, "err", err)
	}
	for _, r := range taken {
		rt.carryOutLogged(ctx, r)
	}
}

// takeLate takes, as l's run ends to wait (parkRun, which holds ctlMu),
// the requests stored for its turn that no poll took: a cancel is
// carried out, the rest returned for the next run.
func (rt *Runtime) takeLate(ctx context.Context, l *live) []bulwark.ControlRequest {
	if ctx.Err() != nil {
		return nil
	}
	tenant := bulwark.TenantID(l.task.TenantID)
	taken, err := rt.cfg.Controls.TakeControls(context.WithoutCancel(ctx), []bulwark.TaskRef{{Tenant: tenant, ID: l.task.ID}})
	if err != nil {
		slog.Warn("reading the requests of a task that ends to wait", "task", l.task.ID, "err", err)
	}
	var late []bulwark.ControlRequest
	for _, r := range taken {
		switch {
		case !l.forTurn(r.Turn):
			slog.Info("control request not carried out", "task", r.TaskID, "kind", r.Kind, "err", "the turn it was made for has ended")
		case r.Kind == bulwark.ControlCancel:
			rt.carryOutLogged(ctx, r)
		default:
			late = append(late, r)
		}
	}
	return late
}

// pastWait gives up waiting for l to ask again once its resumed run has
// gone on without asking (the policy no longer asks, say): the requests
// kept for it are carried out as they came, and a question reopened for
// it is closed (closeReopened), once the calls the run resumes are done.
func (rt *Runtime) pastWait(ctx context.Context, l *live, e bulwark.Event) {
	switch e.Type {
	case bulwark.EventTaskStarted, bulwark.EventApproval, bulwark.EventAskUser, bulwark.EventTaskFinished:
		return
	case bulwark.EventNotice, bulwark.EventGuard, bulwark.EventMCPLog, bulwark.EventError, bulwark.EventCompacted:
		// Not a step: a run tells of the project file it read (and its
		// taint), and MCP servers log, before it asks again.
		return
	}
	l.mu.Lock()
	if e.Type != bulwark.EventToolResult {
		// The results of the calls the run resumes come first, the
		// question's among them; what comes next is the run's own.
		l.closeReopened()
	}
	if !l.wait.rewait {
		l.mu.Unlock()
		return
	}
	kept := l.wait.kept
	l.wait.rewait, l.wait.kept = false, nil
	l.mu.Unlock()
	for _, r := range kept {
		if err := rt.carryOut(context.WithoutCancel(ctx), r); err != nil {
			slog.Info("control request not carried out", "task", r.TaskID, "kind", r.Kind, "err", bulwark.ErrorMessage(err))
		}
	}
}

// askedAgain returns a with the id of the approval the task waited for
// when this run took it up, when a is that approval asked again: the
// decision made for it answers.
func (l *live) askedAgain(a bulwark.Approval) bulwark.Approval {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.wait.parked; p != nil && p.Approval != nil && sameApproval(*p.Approval, a) {
		a.ID = p.Approval.ID
	}
	return a
}

// asking is the agent's Config.Asking: the approval a task is about to
// ask is registered on its live state (expectApproval) before its event
// is stored, for whoever sees the event to find it waiting, here. When
// the run ends to wait for it (canPark), it also goes at once into the
// task's last checkpoint, as the run would leave it parking (markWaiting),
// for the other nodes to find (parkedApprovals).
func (rt *Runtime) asking(l *live) func(context.Context, bulwark.Approval) {
	return func(ctx context.Context, a bulwark.Approval) {
		if !rt.canPark() {
			l.expectApproval(a, false)
			return
		}
		a = l.askedAgain(a)
		l.expectApproval(a, true)
		l.mu.Lock()
		mark := l.wait.mark
		stored := l.wait.rewait && l.wait.parked != nil && l.wait.parked.Approval != nil && l.wait.parked.Approval.ID == a.ID
		l.mu.Unlock()
		if mark == nil || stored {
			return
		}
		if err := mark(context.WithoutCancel(ctx), &bulwark.Waiting{Approval: &a}); err != nil {
			slog.Warn("the approval a task asks is not stored before its event; other servers list it once the task waits", "task", l.task.ID, "err", err)
		}
	}
}

// approveOrPark answers approval a of l from a decision that came while
// the task waited for it (or, on this node, since its event), or ends the
// run to wait for one (park).
func (rt *Runtime) approveOrPark(ctx context.Context, l *live, a bulwark.Approval) (bool, error) {
	tenant := bulwark.TenantID(l.task.TenantID)
	a = l.askedAgain(a)
	var decided *bool
	var by bulwark.ControlRequest // the decision
	var rest []bulwark.ControlRequest
	audit := func(actor string, allow bool) {
		d := "deny"
		if allow {
			d = "allow"
		}
		rt.auditf(tenant, actor, "approval.decide", l.task.ID, "ok", map[string]string{"approval": a.ID, "decision": d})
	}
	rt.ctlMu.Lock() // until it is marked ending, if it ends: no poll takes a request meanwhile
	for _, r := range rt.takeWaiting(ctx, l) {
		switch {
		case r.Kind == bulwark.ControlCancel:
			rt.carryOutLogged(ctx, r)
		case r.Kind == bulwark.ControlAnswer && r.ApprovalID == a.ID && decided == nil:
			allow := r.Allow
			decided, by = &allow, r
		case r.Kind == bulwark.ControlMessage:
			rest = append(rest, r)
		default:
			slog.Info("control request not carried out", "task", r.TaskID, "kind", r.Kind, "err", "no such approval waiting")
		}
	}
	// A decision made here since the approval's event (asking); the
	// approval stays listed, without one, until parkRun takes what it
	// gets meanwhile to the store.
	l.mu.Lock()
	allow, actor, ok := l.takeDecision(a.ID, decided != nil || ctx.Err() != nil)
	mark := l.wait.mark
	l.mu.Unlock()
	if ok && decided == nil {
		decided = &allow
		by = bulwark.ControlRequest{Kind: bulwark.ControlAnswer, Actor: actor, ApprovalID: a.ID, Allow: allow}
	}
	if ctx.Err() != nil {
		rt.ctlMu.Unlock()
		if decided != nil {
			rest = append([]bulwark.ControlRequest{by}, rest...)
		}
		l.keepTaken(rest)
		return false, bulwark.E(bulwark.Canceled, "runner.approve", "the task was stopped while waiting for an approval", ctx.Err())
	}
	if decided != nil {
		rt.ctlMu.Unlock()
		audit(by.Actor, *decided)
		if mark != nil {
			// The checkpoint said the task waits for it (asking, or the
			// park the run resumed): no more.
			if err := mark(context.WithoutCancel(ctx), nil); err != nil {
				slog.Warn("a decided approval is still in the task's checkpoint until its next step", "task", l.task.ID, "err", err)
			}
		}
		rt.deliver(l, rest)
		return *decided, nil
	}
	return false, rt.parkRun(ctx, l, &bulwark.Waiting{Approval: &a}, rest)
}

// askOrPark answers question q of l with a message that came while the
// task waited for its answer, or ends the run to wait for one (park).
func (rt *Runtime) askOrPark(ctx context.Context, l *live, q string) (string, error) {
	early := map[string]bool{} // messages that came before the question
	l.mu.Lock()
	if p := l.wait.parked; p != nil {
		for _, id := range p.Kept {
			early[id] = true
		}
	}
	asked := l.asked // its event's Seq, as first asked (expectAnswer)
	l.mu.Unlock()
	var answer *string
	var by bulwark.ControlRequest // the answer
	var rest []bulwark.ControlRequest
	rt.ctlMu.Lock() // until it is marked ending, if it ends: no poll takes a request meanwhile
	for _, r := range rt.takeWaiting(ctx, l) {
		switch {
		case r.Kind == bulwark.ControlCancel:
			rt.carryOutLogged(ctx, r)
		case r.Kind == bulwark.ControlMessage && answer == nil && !early[r.ID] && r.EventSeq >= asked:
			text := r.Text
			answer, by = &text, r
		case r.Kind == bulwark.ControlMessage:
			rest = append(rest, r)
		default:
			slog.Info("control request not carried out", "task", r.TaskID, "kind", r.Kind, "err", "no such approval waiting")
		}
	}
	// An answer sent here since the question's event (expectAnswer); the
	// question stays open, without one, until parkRun stores what it
	// gets meanwhile as the answer.
	if answer != nil || l.hasAnswer() {
		if a, ok := l.takeAnswer(); ok && answer == nil {
			answer = &a
			by = bulwark.ControlRequest{Kind: bulwark.ControlMessage, Text: a, EventSeq: max(asked, 1)}
		} else if ok {
			rest = append(rest, bulwark.ControlRequest{Kind: bulwark.ControlMessage, Text: a})
		}
	}
	if ctx.Err() != nil {
		rt.ctlMu.Unlock()
		if answer != nil {
			rest = append([]bulwark.ControlRequest{by}, rest...)
		}
		l.keepTaken(rest)
		return "", bulwark.E(bulwark.Canceled, "runner.ask", "the task was stopped while waiting for an answer", ctx.Err())
	}
	if answer != nil {
		rt.ctlMu.Unlock()
		rt.deliver(l, rest)
		return *answer, nil
	}
	return "", rt.parkRun(ctx, l, &bulwark.Waiting{Question: q}, rest)
}

// parkRun ends the run of l, whose task now waits for w: the task is
// marked waiting, the messages of rest and those the run had not read
// yet are stored again for the next run, and the last checkpoint says
// what the task waits for. The error is what the agent is told: the run
// is over. A checkpoint that cannot be stored stops the task. The caller
// holds ctlMu, which parkRun releases once the task is marked ending.
func (rt *Runtime) parkRun(ctx context.Context, l *live, w *bulwark.Waiting, rest []bulwark.ControlRequest) error {
	t := l.task
	tenant := bulwark.TenantID(t.TenantID)
	l.mu.Lock()
	asked := l.asked // the question's, if it waits for an answer
	l.mu.Unlock()
	// Waiting before ending: a cancel that finds it held here until then
	// stops this run (ctx), and one that comes after is stored and wakes
	// it (wake).
	if err := rt.cfg.Store.SetTaskStatus(context.WithoutCancel(ctx), tenant, t.ID, bulwark.TaskWaiting); err != nil {
		slog.Warn("marking a task waiting", "task", t.ID, "err", err)
	}
	// What was stored for the task until it was marked waiting and no
	// poll took: sent through another node, which saw it running and so
	// woke nothing (sendElsewhere wakes it once it waits). A cancel stops
	// this run; the rest go to the next run, which they wake (below).
	late := rt.takeLate(ctx, l)
	l.mu.Lock()
	l.wait.ending = ctx.Err() == nil
	mark := l.wait.mark
	cancel := l.cancel
	if w.Approval != nil {
		// A decision made here since approveOrPark looked: for the next
		// run, as one stored late. From now on, one made here goes
		// through the store (live.decide: errRunEnding).
		if allow, actor, ok := l.takeDecision(w.Approval.ID, true); ok {
			late = append(late, bulwark.ControlRequest{Kind: bulwark.ControlAnswer, Actor: actor, ApprovalID: w.Approval.ID, Allow: allow})
		}
	}
	l.mu.Unlock()
	rt.ctlMu.Unlock() // no poll takes its requests from now on
	if ctx.Err() != nil {
		return bulwark.E(bulwark.Canceled, "runner.wait", "the task was stopped while waiting for a person", ctx.Err())
	}
	// Messages that came while it ran and that it has not read.
	for more := true; more; {
		select {
		case text := <-l.inbox:
			rest = append(rest, bulwark.ControlRequest{Kind: bulwark.ControlMessage, Text: text})
		default:
			more = false
		}
	}
	store := func(r bulwark.ControlRequest) (string, bool) {
		r.ID, r.TaskID, r.Turn = "", t.ID, t.Turns
		stored, err := rt.cfg.Controls.SendControl(context.WithoutCancel(ctx), tenant, r)
		if err != nil {
			slog.Error("a message to a waiting task was lost", "task", t.ID, "err", err)
			return "", false
		}
		return stored.ID, true
	}
	for _, r := range rest {
		if id, ok := store(again(r)); ok {
			w.Kept = append(w.Kept, id)
		}
	}
	// The answer to an open question, sent since its event: stored not
	// kept, it is the answer the resumed run takes, and it wakes the task
	// once it waits (below). Nothing reaches the question from now on
	// (live.send refuses while the run ends).
	answered := false
	if a, ok := l.takeAnswer(); ok && w.Question != "" {
		_, answered = store(bulwark.ControlRequest{Kind: bulwark.ControlMessage, Text: a})
	} else if ok {
		if id, ok := store(bulwark.ControlRequest{Kind: bulwark.ControlMessage, Text: a}); ok {
			w.Kept = append(w.Kept, id)
		}
	}
	// Sent after the run last looked, a message may answer the question
	// (unless written before it: kept, it wakes nothing), and a decision
	// is for the approval it names.
	for _, r := range late {
		id, ok := store(again(r))
		switch {
		case !ok:
		case w.Question != "" && r.Kind == bulwark.ControlMessage && r.EventSeq < asked:
			w.Kept = append(w.Kept, id)
		default:
			answered = true
		}
	}
	var err error
	if mark == nil {
		err = bulwark.Errorf(bulwark.Internal, "runner.wait", "no checkpoint to wait from")
	} else {
		err = mark(context.WithoutCancel(ctx), w)
	}
	if err != nil {
		slog.Error("what a task waits for was not stored; stopping the task", "task", t.ID, "err", err)
		l.mu.Lock()
		l.wait.ending = false
		l.mu.Unlock()
		cancel(bulwark.E(bulwark.Unavailable, "runner.wait", "what the task waits for could not be stored", err))
		return bulwark.E(bulwark.Canceled, "runner.wait", "the task was stopped", err)
	}
	what := "approval"
	if w.Approval == nil {
		what = "answer"
	}
	rt.auditf(tenant, "system", "task.waiting", t.ID, audit.OutcomeOK, map[string]string{"for": what})
	if answered {
		waiting := t
		waiting.Status = bulwark.TaskWaiting
		rt.wake(context.WithoutCancel(ctx), waiting)
	}
	cancel(errParked)
	return bulwark.E(bulwark.Canceled, "runner.wait", "the task waits for a person; this run ends here", errParked)
}

// keepTaken keeps rs, taken for l's run as it asked again, for the run
// that goes on with its turn: its run was stopped there (ctx), and a
// stop stores them again (handOver), the answer still an answer. They
// were dropped: a message, or the answer, the stopping node had taken
// just before the stop was lost. Stopped by a person's cancel, the turn
// ends, and they are dropped with it.
func (l *live) keepTaken(rs []bulwark.ControlRequest) {
	l.mu.Lock()
	l.wait.kept = append(l.wait.kept, rs...)
	l.mu.Unlock()
}

// deliver hands messages that came while a task waited to its run, to
// read before its next step.
func (rt *Runtime) deliver(l *live, msgs []bulwark.ControlRequest) {
	for _, r := range msgs {
		select {
		case l.inbox <- r.Text:
		default:
			slog.Warn("a message to a task that waited was dropped: too many are waiting", "task", l.task.ID)
		}
	}
}

func (rt *Runtime) carryOutLogged(ctx context.Context, r bulwark.ControlRequest) {
	if err := rt.carryOut(ctx, r); err != nil {
		slog.Info("control request not carried out", "task", r.TaskID, "kind", r.Kind, "err", bulwark.ErrorMessage(err))
	}
}

// sameApproval reports whether b is approval a asked again.
func sameApproval(a, b bulwark.Approval) bool {
	return a.Tool == b.Tool && a.Target == b.Target && a.Rule == b.Rule && a.Reason == b.Reason && sameJSON(a.Args, b.Args)
}

func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// markWaiting commits the last checkpoint again, the folder as it is now,
// with what the task waits for.
func (k *checkpointer) markWaiting(ctx context.Context, w *bulwark.Waiting) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.last.Seq == 0 {
		return bulwark.Errorf(bulwark.Internal, "runner.wait", "no checkpoint to wait from")
	}
	c := k.last
	c.Waiting = w
	if err := k.put(ctx, c); err != nil {
		return err
	}
	k.last = c
	return nil
}

// parkedWaiting returns what task id waits for when it waits with no
// run (its checkpoint says), or nil.
func (rt *Runtime) parkedWaiting(ctx context.Context, t bulwark.Task) (*bulwark.Waiting, error) {
	if !rt.canPark() || t.Status != bulwark.TaskWaiting {
		return nil, nil
	}
	c, err := rt.cfg.Checkpoints.LatestCheckpoint(ctx, bulwark.TenantID(t.TenantID), t.ID)
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return c.Waiting, nil
}

// parkedApprovals returns the approval a task waits for when no run
// here has it open: it waits with no run, or its run here resumed and
// has not asked again yet. ok is false otherwise.
func (rt *Runtime) parkedApprovals(ctx context.Context, tenant bulwark.TenantID, id string, l *live) ([]bulwark.Approval, bool) {
	if !rt.canPark() {
		return nil, false
	}
	if l != nil {
		l.mu.Lock()
		p, rewait := l.wait.parked, l.wait.rewait
		l.mu.Unlock()
		if !rewait || p == nil || p.Approval == nil {
			return nil, false
		}
		return []bulwark.Approval{*p.Approval}, true
	}
	t, err := rt.cfg.Store.Task(ctx, tenant, id)
	if err != nil {
		return nil, false
	}
	if t.Status == bulwark.TaskRunning {
		// Its run elsewhere asks for an approval: that run stored it in
		// the checkpoint before its event (asking).
		t.Status = bulwark.TaskWaiting
	}
	w, err := rt.parkedWaiting(ctx, t)
	if err != nil || w == nil {
		return nil, false
	}
	if w.Approval == nil {
		return []bulwark.Approval{}, true
	}
	return []bulwark.Approval{*w.Approval}, true
}

// checkParkedApproval refuses a decision for an approval that a task
// waiting with no run does not wait for.
func (rt *Runtime) checkParkedApproval(ctx context.Context, t bulwark.Task, approvalID string) error {
	w, err := rt.parkedWaiting(ctx, t)
	if err != nil {
		return err
	}
	if w != nil && (w.Approval == nil || w.Approval.ID != approvalID) {
		return bulwark.Errorf(bulwark.NotFound, "runner.Decide", "no such approval waiting")
	}
	return nil
}

// cancelParked ends at once a task that waits with no run (it is off the
// queue: removed); done is false when it is not so (it runs, or has been
// queued again and started).
func (rt *Runtime) cancelParked(ctx context.Context, tenant bulwark.TenantID, actor string, t bulwark.Task) (done bool, err error) {
	removed, err := rt.queue.Remove(ctx, tenant, t.ID)
	if err != nil || !removed {
		return false, err
	}
	if l := rt.live(tenant, t.ID); l != nil {
		// Left here by its Submit, or a run here that ended: its
		// watchers follow the store from now on.
		defer func() { l.hub.close(); rt.forget(l) }()
	}
	rt.auditf(tenant, actor, "task.cancel_requested", t.ID, "ok", nil)
	last, err := rt.lastEvent(ctx, tenant, t.ID)
	if err != nil {
		return true, err
	}
	e := bulwark.Event{Seq: last.Seq + 1, TaskID: t.ID, Time: time.Now(), Type: bulwark.EventTaskFinished, Step: last.Step,
		Reason: bulwark.FinishCanceled, Text: "the task was canceled while it waited for a person"}
	if err := rt.cfg.Store.AppendEvent(ctx, tenant, e); err != nil {
		return true, err
	}
	rt.dropCheckpoint(context.WithoutCancel(ctx), t)
	return true, nil
}
