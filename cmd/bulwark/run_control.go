package main

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/runner"
)

// errCanceledElsewhere is the cause of a cancel asked for by another
// process (`bulwark tasks cancel`, the web UI or API of a server on the
// same data folder).
var errCanceledElsewhere = errors.New("canceled from another process")

// watchControls carries out, until ctx is done, the control requests that
// other processes on the data folder store for the task t this `bulwark
// run` runs (see bulwark.ControlStore): a cancel stops it (cancel), a
// message answers the question it waits for (answers), if any, else goes
// to inbox, read before its next step. Its approvals are answered in
// this terminal, so a decision sent from elsewhere is dropped, with a log
// line.
func watchControls(ctx context.Context, store bulwark.ControlStore, t bulwark.Task, cancel context.CancelCauseFunc, inbox chan<- string, answers *remoteAnswers) {
	tick := time.NewTicker(runner.DefaultControlEvery)
	defer tick.Stop()
	refs := []bulwark.TaskRef{{Tenant: bulwark.TenantID(t.TenantID), ID: t.ID}}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rs, err := store.TakeControls(ctx, refs)
		if err != nil && ctx.Err() == nil {
			slog.Warn("reading control requests", "err", err)
		}
		for _, r := range rs {
			switch {
			case r.Turn != t.Turns:
				slog.Info("control request for an earlier turn dropped", "task", t.ID, "kind", r.Kind)
			case r.Kind == bulwark.ControlCancel:
				cancel(errCanceledElsewhere)
			case r.Kind == bulwark.ControlMessage && answers.deliver(r.Text):
			case r.Kind == bulwark.ControlMessage:
				select {
				case inbox <- r.Text:
				default:
					slog.Warn("too many messages waiting; one from another process dropped", "task", t.ID)
				}
			default:
				slog.Warn("a decision sent from another process dropped: this task's approvals are answered in its terminal", "task", t.ID)
			}
		}
	}
}

// remoteAnswers carries a message from another process to the question
// the task waits for in the terminal, if any. A nil *remoteAnswers
// carries nothing.
type remoteAnswers struct {
	mu sync.Mutex
	q  chan string // set while a question waits
	// inbox takes a message that came as the question was answered in
	// the terminal: it is read before the next step instead.
	inbox chan<- string
}

// waiting registers a question and returns where its answer comes.
func (a *remoteAnswers) waiting() <-chan string {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.q = make(chan string, 1)
	return a.q
}

// done ends the question.
func (a *remoteAnswers) done() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	select {
	case text := <-a.q: // came too late for the question
		select {
		case a.inbox <- text:
		default:
		}
	default:
	}
	a.q = nil
}

// deliver answers the waiting question with text; false when none waits.
func (a *remoteAnswers) deliver(text string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.q == nil {
		return false
	}
	select {
	case a.q <- text: // buffered: the question takes it, or done passes it on
		return true
	default: // answered already: the next step reads it
		return false
	}
}

// terminalLines reads the terminal's lines in one goroutine for the
// questions of a run, so that a question that ends unanswered (the task
// stopped, or the answer came from another process) leaves the next line
// to the next question rather than to a reader left behind.
type terminalLines struct {
	r    *bufio.Reader
	once sync.Once
	ch   chan termLine
}

type termLine struct {
	s   string
	err error
}

// next returns the channel the lines come on; after an error, every
// receive gets it.
func (t *terminalLines) next() <-chan termLine {
	t.once.Do(func() {
		t.ch = make(chan termLine)
		go func() {
			for {
				s, err := t.r.ReadString('\n')
				t.ch <- termLine{s, err}
				if err != nil {
					for {
						t.ch <- termLine{"", err}
					}
				}
			}
		}()
	})
	return t.ch
}
