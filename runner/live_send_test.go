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
			l.expectAnswer(3)
		}
		l.mu.Lock()
		l.wait.ending = true
		l.mu.Unlock()
		if err := l.send("green", 3); !errors.Is(err, errRunEnding) {
			t.Errorf("question open %v: send while the run parks = %v, want errRunEnding", open, err)
		}
		if len(l.inbox) != 0 || l.hasAnswer() {
			t.Errorf("question open %v: the message went to the ending run (inbox %d, answered %v)", open, len(l.inbox), l.hasAnswer())
		}
	}
	// Not ending: delivered as before.
	l := newLive(bulwark.Task{ID: "t_2"})
	if err := l.send("hello", 0); err != nil || len(l.inbox) != 1 {
		t.Errorf("send to a running task = %v with %d in the inbox, want nil and 1", err, len(l.inbox))
	}
}

// A message sent before the question's event was stored is a message,
// read before the next step, whenever it reaches the run; one sent once
// it was stored is the answer. The first was taken for the answer when
// it reached the run after the question opened (through another node's
// store, polled a moment later), though written before it existed.
func TestMessageFromBeforeTheQuestionIsNotItsAnswer(t *testing.T) {
	l := newLive(bulwark.Task{ID: "t_1"})
	l.expectAnswer(5)
	if err := l.send("from before", 4); err != nil {
		t.Fatal(err)
	}
	if l.hasAnswer() || len(l.inbox) != 1 {
		t.Fatalf("a message from before the question: answered %v, %d in the inbox; want a message in the inbox", l.hasAnswer(), len(l.inbox))
	}
	if err := l.send("the answer", 5); err != nil {
		t.Fatal(err)
	}
	if a, ok := l.takeAnswer(); !ok || a != "the answer" {
		t.Errorf("the answer = %q, %v; want \"the answer\"", a, ok)
	}
	// A question a resumed run asks again keeps the Seq of its first
	// asking, opened as the run began: what was sent since answers.
	l = newLive(bulwark.Task{ID: "t_2"})
	l.expectAnswer(pendingQuestion([]bulwark.Event{{Seq: 1, Type: bulwark.EventTaskStarted}, {Seq: 2, Type: bulwark.EventAskUser},
		{Seq: 3, Type: bulwark.EventTaskStarted}}))
	if err := l.send("while it was down", 3); err != nil {
		t.Fatal(err)
	}
	l.expectAnswer(4) // asked again
	if a, ok := l.takeAnswer(); !ok || a != "while it was down" {
		t.Errorf("the answer to the question asked again = %q, %v; want the one sent after its first asking", a, ok)
	}
}

var pendingQuestionTests = []struct {
	name   string
	events []bulwark.EventType
	want   int64
}{
	{"none", []bulwark.EventType{bulwark.EventTaskStarted, bulwark.EventModelText}, 0},
	{"asked", []bulwark.EventType{bulwark.EventTaskStarted, bulwark.EventToolCall, bulwark.EventAskUser}, 3},
	{"asked again", []bulwark.EventType{bulwark.EventTaskStarted, bulwark.EventToolCall, bulwark.EventAskUser, bulwark.EventTaskStarted, bulwark.EventAskUser}, 3},
	{"answered", []bulwark.EventType{bulwark.EventTaskStarted, bulwark.EventAskUser, bulwark.EventUserMessage}, 0},
	{"ended", []bulwark.EventType{bulwark.EventTaskStarted, bulwark.EventAskUser, bulwark.EventTaskFinished}, 0},
	{"asked after an answer", []bulwark.EventType{bulwark.EventAskUser, bulwark.EventUserMessage, bulwark.EventToolResult, bulwark.EventAskUser}, 4},
}

func TestPendingQuestion(t *testing.T) {
	for _, tc := range pendingQuestionTests {
		var events []bulwark.Event
		for i, typ := range tc.events {
			events = append(events, bulwark.Event{Seq: int64(i + 1), Type: typ})
		}
		if got := pendingQuestion(events); got != tc.want {
			t.Errorf("%s: pendingQuestion(%v) = %d, want %d", tc.name, tc.events, got, tc.want)
		}
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

// A question that a resumed turn's stored events leave unanswered is
// opened as its run begins (reopenQuestion), for the run to ask again.
// When the run goes on without asking it (its call had ended), it is
// closed: the message it took for its answer is a message, read before
// the next step, and a question the run asks later is answered only by
// what is sent after that question. It stayed open: the message was
// never read, and the next question got it at once as its answer. The
// question asked again is still answered by what was sent since its
// first asking.
func TestReopenedQuestionNotAskedAgain(t *testing.T) {
	rt := &Runtime{tasks: map[key]*live{}}
	for _, again := range []bool{false, true} {
		l := newLive(bulwark.Task{ID: "t_1", TenantID: "ten_a", Turns: 1})
		l.reopenQuestion(3)
		if err := l.send("sent after the question", 5); err != nil {
			t.Fatal(err)
		}
		// The run begins, and the results of the calls it resumes come.
		for _, typ := range []bulwark.EventType{bulwark.EventTaskStarted, bulwark.EventGuard, bulwark.EventToolResult} {
			rt.pastWait(t.Context(), l, bulwark.Event{Type: typ})
		}
		if again {
			l.expectAnswer(8)
			if a, ok := l.takeAnswer(); !ok || a != "sent after the question" {
				t.Errorf("the question asked again: answer %q, %v; want the message sent since its first asking", a, ok)
			}
			continue
		}
		rt.pastWait(t.Context(), l, bulwark.Event{Type: bulwark.EventModelText}) // the run's own step
		if len(l.inbox) != 1 {
			t.Errorf("the message the closed question held: %d in the inbox, want it there", len(l.inbox))
		}
		l.expectAnswer(8) // a new question
		if l.hasAnswer() {
			t.Errorf("a new question has an answer before one was sent")
		}
		if err := l.send("the answer", 8); err != nil {
			t.Fatal(err)
		}
		if a, ok := l.takeAnswer(); !ok || a != "the answer" {
			t.Errorf("the new question's answer = %q, %v; want \"the answer\"", a, ok)
		}
	}
}
