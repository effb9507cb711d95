package runner

import (
	"errors"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// A message that reaches a live task whose run has begun to park (after
// Send found it held) is refused with errRunEnding, for Send to store it:
// the run read its inbox and its open question for the last time, and a
// message put there now would be lost with the run.
func TestSendWhileTheRunParks(t *testing.T) {
	for _, open := range []bool{false, true} {
		l := newLive(bulwark.Task{ID: "t_1"})
		if open {
			l.expectAnswer()
		}
		l.mu.Lock()
		l.wait.ending = true
		l.mu.Unlock()
		if err := l.send("green"); !errors.Is(err, errRunEnding) {
			t.Errorf("question open %v: send while the run parks = %v, want errRunEnding", open, err)
		}
		if len(l.inbox) != 0 || l.hasAnswer() {
			t.Errorf("question open %v: the message went to the ending run (inbox %d, answered %v)", open, len(l.inbox), l.hasAnswer())
		}
	}
	// Not ending: delivered as before.
	l := newLive(bulwark.Task{ID: "t_2"})
	if err := l.send("hello"); err != nil || len(l.inbox) != 1 {
		t.Errorf("send to a running task = %v with %d in the inbox, want nil and 1", err, len(l.inbox))
	}
}
