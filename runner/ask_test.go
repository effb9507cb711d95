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
