package runner_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/queue"
)

// losingQueue runs each task enqueued at once, in a context lose ends
// with queue.ErrLeaseLost, as a cluster's queue does when another node
// took the task over.
type losingQueue struct {
	mu   sync.Mutex
	run  queue.RunFunc
	lose context.CancelCauseFunc
	done chan struct{}
}

func (q *losingQueue) Start(_ context.Context, run queue.RunFunc) error {
	q.mu.Lock()
	q.run = run
	q.mu.Unlock()
	return nil
}

func (q *losingQueue) Enqueue(_ context.Context, tenant bulwark.TenantID, id string) error {
	ctx, lose := context.WithCancelCause(context.Background())
	q.mu.Lock()
	run := q.run
	q.lose, q.done = lose, make(chan struct{})
	done := q.done
	q.mu.Unlock()
	go func() { defer close(done); run(ctx, tenant, id, false) }()
	return nil
}

func (*losingQueue) Continue(context.Context, bulwark.TenantID, string) error { return nil }
func (*losingQueue) Remove(context.Context, bulwark.TenantID, string) (bool, error) {
	return false, nil
}
func (*losingQueue) Position(context.Context, bulwark.TenantID, string) (int, error) { return 0, nil }
func (*losingQueue) Stop(context.Context) error                                      { return nil }

// A run that loses its task to another node (its lease: a node frozen
// past it, coming back) writes nothing of its end: the task is not
// recorded canceled, and the checkpoint the other node's run goes on from
// stays. The run ended as if a person had canceled it: it recorded the
// task canceled and dropped the checkpoint (a red team).
func TestRunThatLostItsLeaseWritesNothing(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if toolResults(r) == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}}
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	q := &losingQueue{}
	e.artifacts, e.checkpoints, e.queue = e.db, e.db, q
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitFor(t, func() bool {
		_, err := e.db.LatestCheckpoint(ctx, e.a, task.ID)
		return err == nil && count(must(e.db.Events(ctx, e.a, task.ID, 0, 0)), bulwark.EventToolResult) > 0
	})
	before := must(e.db.Events(ctx, e.a, task.ID, 0, 0))
	q.mu.Lock()
	lose, done := q.lose, q.done
	q.mu.Unlock()
	lose(queue.ErrLeaseLost)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the run that lost its lease did not end")
	}
	after := must(e.db.Events(ctx, e.a, task.ID, 0, 0))
	if n := count(after, bulwark.EventTaskFinished); n != 0 || len(after) != len(before) {
		t.Errorf("the run that lost its lease wrote %d events (%d task_finished), want none", len(after)-len(before), n)
	}
	if got := must(e.db.Task(ctx, e.a, task.ID)); got.Status == bulwark.TaskCanceled {
		t.Errorf("the task is %s after its run lost the lease, want it left to the node that has it", got.Status)
	}
	if _, err := e.db.LatestCheckpoint(ctx, e.a, task.ID); err != nil {
		t.Errorf("the checkpoint is gone after the run lost the lease: %v", err)
	}
}
