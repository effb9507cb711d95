package runner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// TestCanaryTextLeakResumedAfterRestart: a task whose process stopped
// after it stored the model_text event of a reply withheld for carrying
// the canary (and before the task's end) is resumed by the next start
// and fails there for the leak, as the uninterrupted run would have: the
// model is not asked to go on from the placeholder.
func TestCanaryTextLeakResumedAfterRestart(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		for _, m := range r.Messages {
			if strings.Contains(m.Content, "[withheld: ") {
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "went on from the placeholder"})}}
			}
		}
		if toolResults(r) == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}}
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	e.artifacts, e.checkpoints, e.autoResume = e.db, e.db, true
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test", Limits: bulwark.Limits{MaxSteps: 10}}))
	waitFor(t, func() bool {
		for _, ev := range must(e.db.Events(ctx, e.a, task.ID, 0, 0)) {
			if ev.Type == bulwark.EventToolResult {
				return true
			}
		}
		return false
	})
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	// What the stopped run stored of its next reply: its text, withheld,
	// and nothing after it.
	evs := must(e.db.Events(ctx, e.a, task.ID, 0, 0))
	last := evs[len(evs)-1]
	withheld := bulwark.Event{TaskID: task.ID, Seq: last.Seq + 1, Step: last.Step + 1, Type: bulwark.EventModelText, Time: time.Now(),
		Text: agent.WithheldText}
	if err := e.db.AppendEvent(ctx, e.a, withheld); err != nil {
		t.Fatal(err)
	}

	e.rt = e.newRuntime(t, e.db) // Start resumes it
	var got bulwark.Task
	waitFor(t, func() bool {
		got = must(e.db.Task(ctx, e.a, task.ID))
		return got.Status == bulwark.TaskFailed || got.Status == bulwark.TaskSucceeded
	})
	if got.Status != bulwark.TaskFailed || got.Reason != bulwark.FinishLeak || !strings.Contains(got.Answer, "the reply was withheld") {
		t.Errorf("the resumed task ended %s (%s): %q, want failed for the leak", got.Status, got.Reason, got.Answer)
	}
	count := map[bulwark.EventType]int{}
	for _, ev := range must(e.db.Events(ctx, e.a, task.ID, 0, 0)) {
		count[ev.Type]++
	}
	if count[bulwark.EventGuard] != 1 || count[bulwark.EventError] != 1 {
		t.Errorf("the task stored %d guard and %d error events, want one each", count[bulwark.EventGuard], count[bulwark.EventError])
	}
}
