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

// A run that rescues a task whose node stopped goes on in a turn of its
// own (adopt); the requests sent for the turn that node ran, while no
// node held the task, reach it (kept for its first question or step),
// where they were dropped as made for a turn that had ended, and a
// person's answer, message or cancel was lost after a 202. Requests for
// other turns are still dropped.
func TestRescuedRunTakesTheRequestsOfTheTurnItRescued(t *testing.T) {
	const tenant, id = bulwark.TenantID("tn_1"), "t_1"
	rt := &Runtime{tasks: map[key]*live{}}
	l := newLive(bulwark.Task{ID: id, TenantID: string(tenant), Turns: 3})
	l.wait = waitState{rewait: true, prevTurn: 2}
	rt.tasks[key{tenant, id}] = l
	for _, tc := range []struct {
		turn int
		want bool
	}{{2, true}, {3, true}, {1, false}, {4, false}} {
		err := rt.carryOut(t.Context(), bulwark.ControlRequest{TenantID: string(tenant), TaskID: id, Turn: tc.turn, Kind: bulwark.ControlMessage, Text: "yes"})
		if got := err == nil; got != tc.want {
			t.Errorf("a message for turn %d of a run rescuing turn 2 in turn 3: carried out %v (%v), want %v", tc.turn, got, err, tc.want)
		}
	}
	if len(l.wait.kept) != 2 || len(l.inbox) != 0 {
		t.Errorf("kept %d requests and put %d in the inbox, want 2 kept for the run's first question or step and none in the inbox", len(l.wait.kept), len(l.inbox))
	}
}
