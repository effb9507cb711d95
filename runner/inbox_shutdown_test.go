package runner_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// TestMessageNotReadAtShutdown: a message sent to a task that has not
// read it yet (its model request hangs) when the server shuts down is
// kept, and the run that the next start resumes the task with reads it.
// It was in the run's inbox only, and was lost with the process.
func TestMessageNotReadAtShutdown(t *testing.T) {
	hanging := make(chan struct{}, 1)
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		resumed := false
		for _, m := range r.Messages {
			switch {
			case strings.Contains(m.Content, "green"):
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "got green"})}}
			case strings.Contains(m.Content, "resumes now"):
				resumed = true
			}
		}
		n := toolResults(r)
		switch {
		case n == 0:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}}
		case resumed && n > 30:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "no message came"})}}
		case resumed:
			// Steps until the message reaches the resumed run (its
			// runtime polls for it every 20ms).
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": fmt.Sprintf("step%d.txt", n), "content": "B"})}}
		}
		select {
		case hanging <- struct{}{}:
		default:
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	e.checkpoints, e.controls, e.autoResume = e.db, e.db, true
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	// Its run waits for the model: the message stays in its inbox.
	task := stopAsItWaits(t, e, hanging, sendGreen(t, e))
	e.rt = e.newRuntime(t, e.db) // resumes it
	if got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded); got.Answer != "got green" {
		t.Errorf("the resumed task answered %q, want \"got green\" (it read the message)", got.Answer)
	}
	if n := count(must(e.db.Events(ctx, e.a, task.ID, 0, 0)), bulwark.EventUserMessage); n != 1 {
		t.Errorf("%d user messages stored, want the one sent", n)
	}
}

// TestMessageToAQueuedTaskAtShutdown: a message sent to a task queued
// here that no run has started when the server shuts down is kept for
// the run the next start queues it for. It was in the live state's inbox
// only, and was lost with the process.
func TestMessageToAQueuedTaskAtShutdown(t *testing.T) {
	e := newEnv(t, func(*llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "thinking", Hang: true} })
	e.workers, e.controls = 1, e.db
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	first := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitStatus(t, e, e.a, first.ID, bulwark.TaskRunning)
	queued := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "y", Model: "openai:test"})) // no worker: stays queued
	if err := e.rt.Send(ctx, e.a, queued.ID, "green"); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if got := must(e.db.Task(ctx, e.a, queued.ID)); got.Status != bulwark.TaskQueued {
		t.Fatalf("the task is %s after the shutdown, want still queued", got.Status)
	}
	rs, err := e.db.TakeControls(ctx, []bulwark.TaskRef{{Tenant: e.a, ID: queued.ID}})
	if err != nil || len(rs) != 1 || rs[0].Kind != bulwark.ControlMessage || rs[0].Text != "green" || rs[0].Turn != queued.Turns {
		t.Errorf("stored for the queued task: %+v, %v; want the message, for its turn", rs, err)
	}
}
