package agent

import (
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// Notifications from outside the loop (Config.Notifications): an MCP
// server's log messages and its progress on a running call. A server is
// third-party code, so what it sends is bounded: at most maxLogEvents log
// events are stored per run (then one more says the rest were dropped),
// each text is cut to maxNoteText bytes, and progress (live only) goes
// out at most every progressEvery per tool.
const (
	maxLogEvents  = 200
	maxNoteText   = 2000
	progressEvery = 200 * time.Millisecond
)

// notes is the state of the notifications of one run.
type notes struct {
	mu      sync.Mutex
	stopped bool
	logs    int
	last    map[string]time.Time // the last progress event sent, per tool
	// callTool and callID are the call that runs now, to which progress
	// for its tool belongs.
	callTool, callID string
	// leaked: a notification carried the task's canary (withheld); the
	// loop ends the task for it (noteLeaked).
	leaked bool
}

// WithheldNote stands in for the text of a notification that carried the
// canary.
const WithheldNote = "[withheld: this message carried the task's confidential canary token, so its text is not kept]"

// startNotifications hands Config.Notifications its send function and
// returns what ends it.
func (r *run) startNotifications() func() {
	if r.cfg.Notifications == nil {
		return func() {}
	}
	stop := r.cfg.Notifications(r.notify)
	return func() {
		r.notes.mu.Lock()
		r.notes.stopped = true
		r.notes.mu.Unlock()
		if stop != nil {
			stop()
		}
	}
}

// notify puts one notification into the task's events.
func (r *run) notify(e bulwark.Event) {
	n := &r.notes
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return
	}
	e = bulwark.Event{Type: e.Type, Tool: oneLine(e.Tool, 100), Text: validUTF8Prefix(e.Text, maxNoteText)}
	if r.taint.canary.In(e.Text) {
		// The server has the token (the model leaked it there): the
		// text goes nowhere, and the task ends (noteLeaked).
		e.Text, n.leaked = WithheldNote, true
	}
	switch e.Type {
	case bulwark.EventMCPLog:
		n.logs++
		switch {
		case n.logs > maxLogEvents+1:
			return
		case n.logs == maxLogEvents+1:
			// Said as a log event too: a notice would be read back to the
			// model as part of the conversation when the task goes on.
			r.emit(bulwark.Event{Type: bulwark.EventMCPLog, Tool: e.Tool, Text: "[warning] the task's MCP servers sent more log messages than are kept; the rest of this turn's are dropped"})
			return
		}
		r.emit(e)
	case bulwark.EventToolProgress:
		if e.Tool == n.callTool {
			e.CallID = n.callID
		}
		now := time.Now()
		if t, ok := n.last[e.Tool]; ok && now.Sub(t) < progressEvery {
			return
		}
		if n.last == nil {
			n.last = map[string]time.Time{}
		}
		n.last[e.Tool] = now
		// Live events are not masked by emit (their streams mask them).
		e.Text = r.cfg.Mask(e.Text)
		r.emit(e)
	}
}

// noteLeaked reports whether a notification carried the canary.
func (r *run) noteLeaked() bool {
	r.notes.mu.Lock()
	defer r.notes.mu.Unlock()
	return r.notes.leaked
}

// calling tells the notifications which call runs now ("" when none).
func (r *run) calling(tool, id string) {
	r.notes.mu.Lock()
	defer r.notes.mu.Unlock()
	r.notes.callTool, r.notes.callID = tool, id
	delete(r.notes.last, tool)
}
