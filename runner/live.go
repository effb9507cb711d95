package runner

import (
	"context"
	"log/slog"
	"slices"
	"sync"

	"github.com/bulwark-agents/bulwark"
)

// live is the in-memory state of a task that has not ended: what a person
// can reach while it runs.
type live struct {
	task   bulwark.Task
	actor  string // who queued it, for the audit log
	parent *live  // the task whose delegate call runs this one (delegate.go); nil for a task a person started
	hub    *hub
	inbox  chan string
	cancel context.CancelCauseFunc // nil until the task starts
	// done is closed once the run is over and its files sealed: a new
	// turn of the task waits for it.
	done     chan struct{}
	doneOnce sync.Once

	mu       sync.Mutex
	canceled bool
	// canceledBy is who canceled it (canceled), for the cancel that
	// giveBack stores again.
	canceledBy string
	approvals  []*pending
	wait       waitState   // on a queue other than the in-process one (waitpark.go)
	question   chan string // set while ask_user waits for an answer (expectAnswer, ask)
	answered   bool        // the question has its answer
	// asked is the Seq of the open question's event (of its first
	// asking, for one a resumed run asks again): a message sent before
	// that event was stored is not its answer (send).
	asked int64
	// reopened: the open question is the one the task's stored events
	// leave unanswered, opened as its run began (reopenQuestion), and the
	// run has not asked it again yet (expectAnswer).
	reopened bool
	// output holds the live output of the running call (live_output.go).
	output     []bulwark.Event
	outputSize int

	// files guards the workspace folder against sealing (see files.go),
	// and uploads; sealed is set once its files are in the store.
	files   sync.Mutex
	uploads map[string]bool // paths a person uploaded
	sealed  bool
	// refresh, set while the task runs with checkpoints, commits the
	// last checkpoint again with an uploaded file (checkpoint.go).
	refresh func(context.Context) error
	// uploading, set while the task runs, is told of an upload before
	// it is written (Setup.Uploading).
	uploading func(path string)
}

// pending is an approval waiting for a person.
type pending struct {
	a        bulwark.Approval
	decision chan bool // buffered 1
	// parks: its run ends to wait for the decision (approveOrPark),
	// which is audited when a run takes it, as made by actor.
	parks bool
	actor string
}

func newLive(t bulwark.Task) *live {
	return &live{task: t, hub: newHub(), inbox: make(chan string, 64), uploads: map[string]bool{}, done: make(chan struct{})}
}

// openApprovals returns the approvals still waiting, oldest first.
func (l *live) openApprovals() []bulwark.Approval {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]bulwark.Approval, 0, len(l.approvals))
	for _, p := range l.approvals {
		out = append(out, p.a)
	}
	return out
}

// expectApproval registers a, which the task is about to ask (its event
// is not stored yet), on l and on its ancestors (whose lists show the
// approvals of their sub-agents), so that whoever sees its event finds it
// waiting; parks as in pending. The run that asks waits for it with
// awaitApproval, or takes its decision with takeDecision.
func (l *live) expectApproval(a bulwark.Approval, parks bool) {
	p := &pending{a: a, decision: make(chan bool, 1), parks: parks}
	for x := l; x != nil; x = x.parent {
		x.mu.Lock()
		x.approvals = append(x.approvals, p)
		x.mu.Unlock()
	}
}

// expected returns the approval id registered on l by expectApproval,
// or nil.
func (l *live) expected(id string) *pending {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.approvals {
		if p.a.ID == id {
			return p
		}
	}
	return nil
}

// dropApproval unregisters p from l and its ancestors.
func (l *live) dropApproval(p *pending) {
	for x := l; x != nil; x = x.parent {
		x.mu.Lock()
		x.approvals = slices.DeleteFunc(x.approvals, func(q *pending) bool { return q == p })
		x.mu.Unlock()
	}
}

// awaitApproval waits for a person's decision on a, registered by
// expectApproval (or now, when it was not), and unregisters it.
func (l *live) awaitApproval(ctx context.Context, a bulwark.Approval) (bool, error) {
	p := l.expected(a.ID)
	if p == nil {
		l.expectApproval(a, false)
		p = l.expected(a.ID)
	}
	defer l.dropApproval(p)
	select {
	case ok := <-p.decision:
		return ok, nil
	case <-ctx.Done():
		return false, bulwark.E(bulwark.Canceled, "runner.approve", "the task was stopped while waiting for an approval", ctx.Err())
	}
}

// takeDecision returns the decision a person made on the approval id
// since it was registered (expectApproval), if any, and who made it; the
// approval is unregistered then, or always with drop. l.mu is held.
func (l *live) takeDecision(id string, drop bool) (allow bool, actor string, ok bool) {
	for i, p := range l.approvals {
		if p.a.ID != id {
			continue
		}
		select {
		case allow, ok = <-p.decision:
		default:
		}
		if ok || drop {
			l.approvals = slices.Delete(l.approvals, i, i+1)
		}
		return allow, p.actor, ok
	}
	return false, "", false
}

// decide answers the approval id for actor; NotFound when it is not
// waiting, errRunEnding when its run is ending to wait for it (the
// decision goes through the store). audit: the decision is to be
// audited now (else when the run that parks takes it).
func (l *live) decide(actor, id string, allow bool) (audit bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.approvals {
		if p.a.ID == id {
			if len(p.decision) > 0 {
				return false, bulwark.Errorf(bulwark.Conflict, "runner.Decide", "this approval was already decided")
			}
			p.actor = actor
			p.decision <- allow // buffered; only decide sends, under l.mu
			return !p.parks, nil
		}
	}
	if l.wait.ending {
		return false, errRunEnding
	}
	return false, bulwark.Errorf(bulwark.NotFound, "runner.Decide", "no such approval waiting")
}

// expectAnswer opens the question that ask_user is about to wait on, whose
// event has Seq seq. The run's sink calls it as the question's event
// passes, before the event is stored and published: whoever sees the
// question and answers at once answers it, where the answer would
// otherwise go to the inbox, read only before the next step, while ask
// waited for another. A question already open (the one a resumed run
// asks again, opened as the run began) stays as it is.
func (l *live) expectAnswer(seq int64) {
	l.mu.Lock()
	l.openQuestion(seq)
	l.reopened = false
	l.mu.Unlock()
}

// reopenQuestion opens, as a run that resumes a turn begins (or is
// queued to), the question asked at seq that the turn's stored events
// leave unanswered: the run asks it again before anything else, and a
// message sent since it was first stored answers it (expectAnswer).
func (l *live) reopenQuestion(seq int64) {
	l.mu.Lock()
	l.openQuestion(seq)
	l.reopened = true
	l.mu.Unlock()
}

// closeReopened closes the question reopenQuestion opened, once the run
// has gone on without asking it again (its call had ended, say): the
// message it took for its answer is a message, read before the next
// step, and a question the run asks later is a new one, which only what
// is sent after its own event answers. It stayed open: that message was
// never read, and was the answer the next question got at once. l.mu is
// held.
func (l *live) closeReopened() {
	if !l.reopened {
		return
	}
	l.reopened = false
	q := l.question
	l.question = nil
	select {
	case a := <-q:
		select {
		case l.inbox <- a:
		default:
			slog.Warn("a message to a task was dropped: too many are waiting", "task", l.task.ID)
		}
	default:
	}
}

// openQuestion returns the open question's channel, opening one, asked
// at seq, if none is. l.mu is held.
func (l *live) openQuestion(seq int64) chan string {
	if l.question == nil {
		l.question, l.answered, l.asked = make(chan string, 1), false, seq
	}
	return l.question
}

// pendingQuestion returns the Seq of the question (ask_user) that the
// stored events of a task leave unanswered, as first asked (a resumed
// run that was cut off again may have asked it again since), or 0. The
// run that resumes the turn asks it again before anything else (agent's
// resumeCalls), and a message sent since it was first stored answers it.
func pendingQuestion(events []bulwark.Event) int64 {
	var asked int64
	for _, e := range events {
		switch e.Type {
		case bulwark.EventAskUser:
			if asked == 0 {
				asked = e.Seq
			}
		case bulwark.EventUserMessage, bulwark.EventTaskFinished:
			asked = 0 // answered, or the turn is over
		}
	}
	return asked
}

// ask waits for the answer to a question, which the next message brings
// (or brought, since the question's event: expectAnswer).
func (l *live) ask(ctx context.Context, q string) (string, error) {
	l.mu.Lock()
	ch := l.openQuestion(0) // opened by its event's expectAnswer
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.question = nil
		l.mu.Unlock()
	}()
	select {
	case a := <-ch:
		return a, nil
	case <-ctx.Done():
		return "", bulwark.E(bulwark.Canceled, "runner.ask", "the task was stopped while waiting for an answer", ctx.Err())
	}
}

// takeAnswer closes the open question and returns its answer, if it has
// one: a run that waits for its answer elsewhere (askOrPark) takes one
// sent to it here since the question's event.
func (l *live) takeAnswer() (string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.question
	l.question = nil
	select {
	case a := <-q: // a nil q: none
		return a, true
	default:
		return "", false
	}
}

// hasAnswer reports whether the open question has its answer.
func (l *live) hasAnswer() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.question != nil && l.answered
}

// testHookInbox, when set (by tests), is called as send puts a message
// in the inbox, before it does.
var testHookInbox func(*live)

// send delivers a person's message, sent when the task's last stored
// event was seq: the answer to a question asked and not answered yet, if
// the question's event was stored by then, or a message read before the
// next step. A message written before the question existed is not its
// answer, whenever it arrives.
//
// It holds l.mu to the end, the message in the inbox too: a run that
// parks or gives its task back (parkRun, giveBack) marks l ending under
// l.mu and then empties the inbox into the store, so a message is put
// there before that, or refused. Put there once l.mu was let go, it came
// after the inbox was emptied, and was lost with the run.
func (l *live) send(text string, seq int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.wait.ending {
		// Its run parks: the inbox and the open question were read for
		// the last time, and the store keeps what comes now (Send).
		return errRunEnding
	}
	if l.wait.rewait && seq != bulwark.EventSeqUnknown {
		// Its run resumes a wait, or rescues a task whose node stopped,
		// and has not asked yet: kept for its first question or step, as
		// what the poll takes for it (keep), where the inbox would have
		// it for a message from before the question. One sent at a
		// moment not known is never the answer (unknownMoment).
		if len(l.wait.kept) >= cap(l.inbox) {
			return bulwark.Errorf(bulwark.RateLimited, "runner.Send", "too many messages are waiting for this task; wait for it to read them")
		}
		t := l.task
		l.wait.kept = append(l.wait.kept, bulwark.ControlRequest{TenantID: t.TenantID, TaskID: t.ID, Turn: t.Turns, Kind: bulwark.ControlMessage, Text: text, EventSeq: seq})
		return nil
	}
	if q := l.question; q != nil && !l.answered && seq >= l.asked {
		l.answered = true
		q <- text // buffered: the one answer never blocks, and takeAnswer sees it
		return nil
	}
	if testHookInbox != nil {
		testHookInbox(l)
	}
	select {
	case l.inbox <- text:
		return nil
	default:
		return bulwark.Errorf(bulwark.RateLimited, "runner.Send", "too many messages are waiting for this task; wait for it to read them")
	}
}
