package runner_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// unreadAtInterrupt runs a task that writes a.txt and then waits for its
// model, sends it "green" (which stays in its inbox, unread), and shuts
// the server down without resuming tasks: the task is interrupted, for a
// person. It returns a new runtime on the same store. Once restarted is
// set (it is, on return), the model finishes at its first reply: "got
// green" when the conversation holds the message, "no message" when not.
//
// store, when not nil, wraps the database as the new runtime's store.
func unreadAtInterrupt(t *testing.T, store func(*sqlite.DB) runner.Store) (*env, bulwark.Task) {
	t.Helper()
	hanging := make(chan struct{}, 1)
	restarted := new(atomic.Bool)
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		green, blue := false, false
		for _, m := range r.Messages {
			green = green || strings.Contains(m.Content, "green")
			blue = blue || strings.Contains(m.Content, "blue")
		}
		switch {
		case green && blue:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "got green, blue"})}}
		case green:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "got green"})}}
		}
		switch {
		case toolResults(r) == 0:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}}
		case restarted.Load():
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "no message"})}}
		}
		select {
		case hanging <- struct{}{}:
		default:
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	e.artifacts, e.checkpoints, e.controls = e.db, e.db, e.db
	e.rt = e.newRuntime(t, e.db)
	task := stopAsItWaits(t, e, hanging, sendGreen(t, e)) // the message stays in its inbox
	waitStatus(t, e, e.a, task.ID, bulwark.TaskInterrupted)
	restarted.Store(true)
	e.store = store
	e.rt = e.newRuntime(t, e.db)
	return e, task
}

// stopAsItWaits submits a task to e's runtime, waits until its run says
// it waits (a receive from waiting: its model request hangs), calls then
// with the task when then is not nil, and shuts the runtime down.
func stopAsItWaits(t *testing.T, e *env, waiting <-chan struct{}, then func(bulwark.Task)) bulwark.Task {
	t.Helper()
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	<-waiting
	if then != nil {
		then(task)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	return task
}

// sendGreen sends "green" to a task of e's tenant A.
func sendGreen(t *testing.T, e *env) func(bulwark.Task) {
	return func(task bulwark.Task) {
		t.Helper()
		if err := e.rt.Send(context.Background(), e.a, task.ID, "green"); err != nil {
			t.Fatal(err)
		}
	}
}

// greens counts the user_message events of task id that hold "green".
func greens(t *testing.T, e *env, id string) int {
	t.Helper()
	n := 0
	for _, ev := range must(e.db.Events(context.Background(), e.a, id, 0, 0)) {
		if ev.Type == bulwark.EventUserMessage && strings.Contains(ev.Text, "green") {
			n++
		}
	}
	return n
}

// TestMessageNotReadAtInterruptReachesTheResume: a message the task had
// not read when a shutdown interrupted it (kept in the store for its
// turn) is read by the run a person resumes it with, at its first step,
// in a new turn. It was kept for the interrupted turn, which the resume
// ends, and the run that went on dropped it. Another tenant's resume of
// the task's id is NotFound and takes nothing; a task continued again
// after that is not given the message twice.
func TestMessageNotReadAtInterruptReachesTheResume(t *testing.T) {
	e, task := unreadAtInterrupt(t, nil)
	ctx := context.Background()
	if _, err := e.rt.Resume(ctx, e.b, "k", task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("Resume of the task's id by another tenant: %v, want not found", err)
	}
	if _, _, err := e.rt.Message(ctx, e.b, "k", task.ID, "red", nil); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("a message to the task's id by another tenant: %v, want not found", err)
	}
	if _, err := e.rt.Resume(ctx, e.a, "k", task.ID); err != nil {
		t.Fatal(err)
	}
	if got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded); got.Answer != "got green" {
		t.Errorf("the resumed task answered %q, want \"got green\" (it read the message)", got.Answer)
	}
	if n := greens(t, e, task.ID); n != 1 {
		t.Errorf("%d user messages hold the message, want 1", n)
	}
	// A second turn: the message was read, and is not given again.
	if _, continued, err := e.rt.Message(ctx, e.a, "k", task.ID, "more", nil); err != nil || !continued {
		t.Fatalf("Message to the ended task: continued %v, %v", continued, err)
	}
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	if n := greens(t, e, task.ID); n != 1 {
		t.Errorf("after a second turn %d user messages hold the message, want 1", n)
	}
	if rs := must(e.db.TakeControls(ctx, []bulwark.TaskRef{{Tenant: e.a, ID: task.ID}})); len(rs) != 0 {
		t.Errorf("requests left in the store: %+v", rs)
	}
}

// TestMessageNotReadAtInterruptReachesTheContinue: as above, for a task
// a person continues with a message of their own: the new turn opens
// with it and reads the earlier one at its first step.
func TestMessageNotReadAtInterruptReachesTheContinue(t *testing.T) {
	e, task := unreadAtInterrupt(t, nil)
	ctx := context.Background()
	if _, continued, err := e.rt.Message(ctx, e.a, "k", task.ID, "go on", nil); err != nil || !continued {
		t.Fatalf("Message to the interrupted task: continued %v, %v", continued, err)
	}
	if got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded); got.Answer != "got green" {
		t.Errorf("the continued task answered %q, want \"got green\" (it read the message)", got.Answer)
	}
	if n := greens(t, e, task.ID); n != 1 {
		t.Errorf("%d user messages hold the message, want 1", n)
	}
}

// TestMessageNotReadAtInterruptShownAtCancel: a task canceled where a
// shutdown interrupted it keeps the message it had not read among its
// steps, before its end: no run reads it, and it was left in the store.
func TestMessageNotReadAtInterruptShownAtCancel(t *testing.T) {
	e, task := unreadAtInterrupt(t, nil)
	ctx := context.Background()
	if err := e.rt.Cancel(ctx, e.b, "k", task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("Cancel of the task's id by another tenant: %v, want not found", err)
	}
	if err := e.rt.Cancel(ctx, e.a, "k", task.ID); err != nil {
		t.Fatal(err)
	}
	evs := must(e.db.Events(ctx, e.a, task.ID, 0, 0))
	if n := len(evs); n < 2 || evs[n-2].Type != bulwark.EventUserMessage || evs[n-2].Text != "green" || evs[n-1].Type != bulwark.EventTaskFinished {
		t.Errorf("the canceled task's last steps are %+v, want the message, then its end", evs[max(0, len(evs)-2):])
	}
	if rs := must(e.db.TakeControls(ctx, []bulwark.TaskRef{{Tenant: e.a, ID: task.ID}})); len(rs) != 0 {
		t.Errorf("requests left in the store: %+v", rs)
	}
}

// messageAsContinued sends a message to the task the moment the store
// has opened its new turn for a resume, before the turn is queued.
type messageAsContinued struct {
	*sqlite.DB
	send func(id string)
}

func (s messageAsContinued) ResumeTask(ctx context.Context, tenant bulwark.TenantID, id string, turn int) (bulwark.Task, error) {
	t, err := s.DB.ResumeTask(ctx, tenant, id, turn)
	if err == nil {
		s.send(id)
	}
	return t, err
}

// TestMessageAsTheInterruptedTaskResumes: a message sent while a resume
// opens the new turn, before the turn is queued, is read by its run too,
// with the one the interrupted run had not read, each once.
func TestMessageAsTheInterruptedTaskResumes(t *testing.T) {
	var e *env
	var sent error
	e, task := unreadAtInterrupt(t, func(db *sqlite.DB) runner.Store {
		return messageAsContinued{DB: db, send: func(id string) {
			_, _, sent = e.rt.Message(context.Background(), e.a, "k", id, "blue", nil)
		}}
	})
	ctx := context.Background()
	if _, err := e.rt.Resume(ctx, e.a, "k", task.ID); err != nil {
		t.Fatal(err)
	}
	if sent != nil {
		t.Fatalf("the message sent as the task resumed: %v", sent)
	}
	if got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded); got.Answer != "got green, blue" {
		t.Errorf("the resumed task answered %q, want \"got green, blue\" (it read both messages)", got.Answer)
	}
	if n := greens(t, e, task.ID); n != 1 {
		t.Errorf("%d user messages hold the message, want 1", n)
	}
}
