package runner

import (
	"context"
	"slices"
	"sync"

	"github.com/bulwark-agents/bulwark"
)

// live is the in-memory state of a task that has not ended: what a person
// can reach while it runs.
type live struct {
	task   bulwark.Task
	hub    *hub
	inbox  chan string
	cancel context.CancelCauseFunc // nil until the task starts

	mu        sync.Mutex
	canceled  bool
	approvals []*pending
	question  chan string // set while ask_user waits for an answer

	// files guards the workspace folder against sealing (see files.go),
	// and uploads; sealed is set once its files are in the store.
	files   sync.Mutex
	uploads map[string]bool // paths a person uploaded
	sealed  bool
}

// pending is an approval waiting for a person.
type pending struct {
	a        bulwark.Approval
	decision chan bool // buffered 1
}

func newLive(t bulwark.Task) *live {
	return &live{task: t, hub: newHub(), inbox: make(chan string, 64), uploads: map[string]bool{}}
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

// approve registers a and waits for a person's decision.
func (l *live) approve(ctx context.Context, a bulwark.Approval) (bool, error) {
	p := &pending{a: a, decision: make(chan bool, 1)}
	l.mu.Lock()
	l.approvals = append(l.approvals, p)
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		l.approvals = slices.DeleteFunc(l.approvals, func(q *pending) bool { return q == p })
		l.mu.Unlock()
	}()
	select {
	case ok := <-p.decision:
		return ok, nil
	case <-ctx.Done():
		return false, bulwark.E(bulwark.Canceled, "runner.approve", "the task was stopped while waiting for an approval", ctx.Err())
	}
}

// decide answers the approval id; NotFound when it is not waiting.
func (l *live) decide(id string, allow bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.approvals {
		if p.a.ID == id {
			select {
			case p.decision <- allow:
				return nil
			default:
				return bulwark.Errorf(bulwark.Conflict, "runner.Decide", "this approval was already decided")
			}
		}
	}
	return bulwark.Errorf(bulwark.NotFound, "runner.Decide", "no such approval waiting")
}

// ask waits for the answer to a question, which the next message brings.
func (l *live) ask(ctx context.Context, q string) (string, error) {
	ch := make(chan string, 1)
	l.mu.Lock()
	l.question = ch
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

// send delivers a person's message: the answer to a waiting question, or a
// message read before the next step.
func (l *live) send(text string) error {
	l.mu.Lock()
	q := l.question
	if q != nil {
		l.question = nil
	}
	l.mu.Unlock()
	if q != nil {
		q <- text
		return nil
	}
	select {
	case l.inbox <- text:
		return nil
	default:
		return bulwark.Errorf(bulwark.RateLimited, "runner.Send", "too many messages are waiting for this task; wait for it to read them")
	}
}
