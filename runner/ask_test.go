package runner_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// answerOnQuestion is a store that, as a task's ask_user question is
// stored, has the person answer it at once, before the store returns:
// the earliest instant anyone can see the question.
type answerOnQuestion struct {
	runner.Store
	answer func(tenant bulwark.TenantID, id string)
}

func (s answerOnQuestion) AppendEvent(ctx context.Context, tenant bulwark.TenantID, e bulwark.Event) error {
	if err := s.Store.AppendEvent(ctx, tenant, e); err != nil {
		return err
	}
	if e.Type == bulwark.EventAskUser {
		s.answer(tenant, e.TaskID)
	}
	return nil
}

// TestAnswerSentAsTheQuestionIsSeen: an answer sent as soon as a task's
// question can be seen (an Agent Protocol client polling its steps, a
// person quick at the keyboard) is the question's answer. It used to go
// to the messages read before the next step, since ask_user had not yet
// begun to wait, and the task waited for another answer for ever.
func TestAnswerSentAsTheQuestionIsSeen(t *testing.T) {
	var seen modelHeard
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		seen.add(r)
		if toolResults(r) == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("ask_user", map[string]string{"question": "name?"})}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}}
	})
	sent := make(chan error, 1)
	e.store = func(db *sqlite.DB) runner.Store {
		return answerOnQuestion{Store: db, answer: func(tenant bulwark.TenantID, id string) {
			sent <- e.rt.Send(context.Background(), tenant, id, "Grace Hopper")
		}}
	}
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	answerSent(t, sent)
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	if !seen.has("Grace Hopper") {
		t.Errorf("the answer never reached the model")
	}
}

// TestSubAgentAnswerSentAsTheQuestionIsSeen: the same for a sub-agent's
// question, which waits in its own run.
func TestSubAgentAnswerSentAsTheQuestionIsSeen(t *testing.T) {
	var childSaw modelHeard
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if isChild(r) {
			childSaw.add(r)
			if toolResults(r) == 0 {
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("ask_user", map[string]string{"question": "size?"})}}
			}
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "child done"})}}
		}
		if toolResults(r) == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("delegate", map[string]string{"task": "the sub-task"})}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "parent done"})}}
	})
	e.delegate = true
	sent := make(chan error, 1)
	e.store = func(db *sqlite.DB) runner.Store {
		return answerOnQuestion{Store: db, answer: func(tenant bulwark.TenantID, id string) {
			sent <- e.rt.Send(context.Background(), tenant, id, "extra large")
		}}
	}
	e.rt = e.newRuntime(t, e.db)
	parent := must(e.rt.Submit(context.Background(), e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	answerSent(t, sent)
	waitStatus(t, e, e.a, parent.ID, bulwark.TaskSucceeded)
	if !childSaw.has("extra large") {
		t.Errorf("the answer never reached the sub-agent's model")
	}
}

// modelHeard records what a test's model was sent, to look for a
// person's words in it.
type modelHeard struct {
	mu   sync.Mutex
	sent []string
}

func (h *modelHeard) add(r *llmtest.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range r.Messages {
		h.sent = append(h.sent, m.Content)
	}
}

// has reports whether any message sent to the model held text.
func (h *modelHeard) has(text string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Contains(strings.Join(h.sent, "\n"), text)
}

// answerSent waits for the answer answerOnQuestion sent, and fails the
// test if it was refused or the question never came.
func answerSent(t *testing.T, sent <-chan error) {
	t.Helper()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("the answer was refused: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the question was never asked")
	}
}

// onAskUser is a store that calls before as a task's question is about to
// be stored (its run has opened it, no one can see it yet) and after once
// it is.
type onAskUser struct {
	runner.Store
	before, after func(tenant bulwark.TenantID, e bulwark.Event)
}

func (s onAskUser) AppendEvent(ctx context.Context, tenant bulwark.TenantID, e bulwark.Event) error {
	if e.Type == bulwark.EventAskUser && s.before != nil {
		s.before(tenant, e)
	}
	if err := s.Store.AppendEvent(ctx, tenant, e); err != nil {
		return err
	}
	if e.Type == bulwark.EventAskUser && s.after != nil {
		s.after(tenant, e)
	}
	return nil
}

// TestMessageBeforeTheQuestionIsNotItsAnswer: a message a person sends
// while the task works, just before its question is stored (written
// before the question existed), is read as a message; the answer sent
// once the question is stored answers it. The message was taken for the
// answer: the run opens the question before its event is stored.
func TestMessageBeforeTheQuestionIsNotItsAnswer(t *testing.T) {
	var seen modelHeard
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		seen.add(r)
		if toolResults(r) == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("ask_user", map[string]string{"question": "which colour?"})}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "colour " + lastTool(r)})}}
	})
	sent := make(chan error, 2)
	e.store = func(db *sqlite.DB) runner.Store {
		return onAskUser{Store: db,
			before: func(tenant bulwark.TenantID, ev bulwark.Event) {
				sent <- e.rt.Send(context.Background(), tenant, ev.TaskID, "also use the big font")
			},
			after: func(tenant bulwark.TenantID, ev bulwark.Event) {
				sent <- e.rt.Send(context.Background(), tenant, ev.TaskID, "green")
			}}
	}
	e.rt = e.newRuntime(t, e.db)
	task := must(e.rt.Submit(context.Background(), e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	answerSent(t, sent)
	answerSent(t, sent)
	if got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded); got.Answer != "colour green" {
		t.Errorf("the task answered %q, want \"colour green\": the message from before the question was taken for its answer", got.Answer)
	}
	if !seen.has("Message from the user while you work: also use the big font") {
		t.Errorf("the message from before the question never reached the model as a message")
	}
}

// TestAnswerAsAResumedQuestionSetsUp: a task that waits for an answer is
// left by a shutdown and resumed by the next start, whose run asks again.
// An answer sent as that run sets up, before it asks again (after the
// question was first stored), is the answer. It went to the messages read
// before the next step, and the question asked again waited for another.
func TestAnswerAsAResumedQuestionSetsUp(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if toolResults(r) == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("ask_user", map[string]string{"question": "which colour?"})}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "colour " + lastTool(r)})}}
	})
	e.artifacts, e.checkpoints, e.autoResume = e.db, e.db, true
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitFor(t, func() bool { return count(must(e.db.Events(ctx, e.a, task.ID, 0, 0)), bulwark.EventAskUser) == 1 })
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	// The resumed run's start is stored before it asks again: the answer
	// goes then.
	sent := make(chan error, 1)
	ready := make(chan struct{}) // e.rt is the new runtime
	var once sync.Once
	e.store = func(db *sqlite.DB) runner.Store {
		return onTaskStarted{Store: db, started: func(tenant bulwark.TenantID, id string) {
			once.Do(func() {
				<-ready
				sent <- e.rt.Send(context.Background(), tenant, id, "green")
			})
		}}
	}
	e.rt = e.newRuntime(t, e.db) // Start resumes it
	close(ready)
	answerSent(t, sent)
	if got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded); got.Answer != "colour green" {
		t.Errorf("the task answered %q, want \"colour green\"", got.Answer)
	}
}

// onTaskStarted calls started once a run's start is stored.
type onTaskStarted struct {
	runner.Store
	started func(tenant bulwark.TenantID, id string)
}

func (s onTaskStarted) AppendEvent(ctx context.Context, tenant bulwark.TenantID, e bulwark.Event) error {
	if err := s.Store.AppendEvent(ctx, tenant, e); err != nil {
		return err
	}
	if e.Type == bulwark.EventTaskStarted {
		s.started(tenant, e.TaskID)
	}
	return nil
}

// count is how many of events are of type typ.
func count(events []bulwark.Event, typ bulwark.EventType) int {
	n := 0
	for _, e := range events {
		if e.Type == typ {
			n++
		}
	}
	return n
}
