package runner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// TestAutoResumeAfterShutdown: with AutoResume, a shutdown leaves a
// running task for the next start, which resumes it by itself in the
// same turn: its steps so far are not played again, its budgets count on,
// and its files are as its last step left them.
func TestAutoResumeAfterShutdown(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		for _, m := range r.Messages {
			if strings.Contains(m.Content, "resumes now") {
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "resumed"})}}
			}
		}
		switch toolResults(r) {
		case 0:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}}
		case 1:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "b.txt", "content": "B"})}}
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	e.artifacts, e.checkpoints, e.autoResume = e.db, e.db, true
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test", Limits: bulwark.Limits{MaxSteps: 10}}))
	waitFor(t, func() bool {
		evs := must(e.db.Events(ctx, e.a, task.ID, 0, 0))
		n := 0
		for _, ev := range evs {
			if ev.Type == bulwark.EventToolResult {
				n++
			}
		}
		return n == 2
	})
	// A person uploads a file while the task thinks.
	if _, err := e.rt.PutFile(ctx, e.a, task.ID, "up.txt", []byte("U")); err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if got := must(e.db.Task(ctx, e.a, task.ID)); got.Status != bulwark.TaskRunning {
		t.Fatalf("after the shutdown the task is %s, want running, for the next start to resume", got.Status)
	}

	e.rt = e.newRuntime(t, e.db) // Start resumes it
	got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	if got.Answer != "resumed" || got.Turns != 1 {
		t.Errorf("the task ended %q in %d turns, want resumed in its one turn", got.Answer, got.Turns)
	}
	evs := must(e.db.Events(ctx, e.a, task.ID, 0, 0))
	calls := map[string]int{}
	for _, ev := range evs {
		if ev.Type == bulwark.EventToolCall {
			calls[ev.Tool]++
		}
	}
	if calls["write_file"] != 2 || calls["finish"] != 1 {
		t.Errorf("tool calls %v, want two writes and a finish, each once", calls)
	}
	for name, want := range map[string]string{"a.txt": "A", "b.txt": "B", "up.txt": "U"} {
		if _, data, err := e.rt.ReadFile(ctx, e.a, task.ID, name); err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", name, data, err, want)
		}
	}
	// The budgets counted on: the turn's usage, which its task_finished
	// carries, is that of all its replies, before the shutdown and after.
	var sum, finished bulwark.Usage
	for _, ev := range evs {
		if ev.Usage == nil {
			continue
		}
		if ev.Type == bulwark.EventTaskFinished {
			finished = *ev.Usage
		} else {
			sum.Add(*ev.Usage)
		}
	}
	if finished.InputTokens == 0 || finished != sum {
		t.Errorf("the turn's usage is %+v, want %+v: the replies of both runs", finished, sum)
	}
	// The turn ended: nothing is left to resume. (The checkpoint goes
	// once the run has put the files away, just after the status says
	// succeeded.)
	waitFor(t, func() bool {
		_, err := e.db.LatestCheckpoint(ctx, e.a, task.ID)
		return bulwark.ErrorKind(err) == bulwark.NotFound
	})
}
