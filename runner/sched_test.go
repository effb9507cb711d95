package runner_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/workspace"
)

// blockingTasks is a Prepare whose tasks block until released, and that
// reports each start in order: a fake task with no model and no timing.
type blockingTasks struct {
	started chan bulwark.Task
	mu      sync.Mutex
	release map[string]chan struct{}
	all     chan struct{} // closed at the end of the test: every task ends
}

func newBlockingTasks(t *testing.T) *blockingTasks {
	b := &blockingTasks{started: make(chan bulwark.Task, 1000), release: map[string]chan struct{}{}, all: make(chan struct{})}
	t.Cleanup(func() { close(b.all) })
	return b
}

func (b *blockingTasks) gate(id string) chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.release[id] == nil {
		b.release[id] = make(chan struct{})
	}
	return b.release[id]
}

func (b *blockingTasks) prepare(ctx context.Context, t bulwark.Task, ws *workspace.Workspace) (*runner.Setup, error) {
	b.started <- t
	select {
	case <-b.gate(t.ID):
	case <-b.all:
	case <-ctx.Done():
	}
	return nil, bulwark.Errorf(bulwark.Invalid, "test", "the fake task ends here")
}

// next returns the task that starts next.
func (b *blockingTasks) next(t *testing.T) bulwark.Task {
	t.Helper()
	select {
	case task := <-b.started:
		return task
	case <-time.After(30 * time.Second): // a hang guard, not a speed assertion
		t.Fatal("no task started")
		return bulwark.Task{}
	}
}

func (b *blockingTasks) end(id string) { close(b.gate(id)) }

// TestFairShare: one tenant floods the queue (66 tasks, 4 workers, a
// quota above the worker count); another tenant's task starts as soon as a
// worker frees, and from then on the flooding tenant gets no more than
// its share while the other waits.
func TestFairShare(t *testing.T) {
	e := newEnv(t, func(*llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "unused"} })
	b := newBlockingTasks(t)
	var rt *runner.Runtime
	rt = runner.New(runner.Config{
		Store: e.db, Dir: filepath.Join(e.dir, "ws-fair"), Workers: 4,
		Quota: func(tenant bulwark.TenantID) int {
			// A quota may read the store: it is asked without the
			// scheduler's lock held (Position takes it; under the lock
			// this would deadlock, and no task would start).
			rt.Position(tenant, "t_none")
			return 1000
		},
		Prepare: b.prepare,
	})
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
	})
	ctx := context.Background()
	submit := func(tenant bulwark.TenantID) string {
		t.Helper()
		task, err := rt.Submit(ctx, tenant, "k", bulwark.Task{Input: "x"})
		if err != nil {
			t.Fatal(err)
		}
		return task.ID
	}
	for range 66 {
		submit(e.a)
	}
	running := map[bulwark.TenantID][]string{}
	start := func() bulwark.Task {
		task := b.next(t)
		running[bulwark.TenantID(task.TenantID)] = append(running[bulwark.TenantID(task.TenantID)], task.ID)
		return task
	}
	endOne := func(tenant bulwark.TenantID) {
		id := running[tenant][0]
		running[tenant] = running[tenant][1:]
		b.end(id)
	}
	for range 4 { // alone, alpha takes every worker
		if task := start(); bulwark.TenantID(task.TenantID) != e.a {
			t.Fatalf("a task of %s started, want alpha's", task.TenantID)
		}
	}
	first := submit(e.b)
	if p := rt.Position(e.b, first); p != 1 {
		t.Errorf("beta's task at position %d, want 1 (its tenant's first; alpha's 62 do not count)", p)
	}
	// The first worker to free goes to beta, ahead of alpha's 62.
	endOne(e.a)
	if task := start(); task.ID != first {
		t.Fatalf("after a worker freed, %s's task %s started, want beta's %s", task.TenantID, task.ID, first)
	}
	// Beta floods too: from now on each freed worker goes to the tenant
	// with fewer running, so neither holds more than 2 of the 4.
	for range 10 {
		submit(e.b)
	}
	for i := range 20 {
		endOne(e.a) // alpha: 2 running after this one, beta 1 or 2
		start()
		if len(running[e.a]) > 2 || len(running[e.b]) > 2 {
			t.Fatalf("after %d freed workers: alpha runs %d, beta %d; want at most 2 each (4 workers, 2 tenants)",
				i+1, len(running[e.a]), len(running[e.b]))
		}
		if len(running[e.a]) == 0 {
			break
		}
	}
	// With beta's queue empty, alpha takes the workers beta leaves.
	for len(running[e.b]) > 0 {
		endOne(e.b)
		start()
	}
	if len(running[e.a]) != 4 {
		t.Errorf("with beta done, alpha runs %d, want all 4 workers", len(running[e.a]))
	}
}

// TestQuotaCountsExhausted: a task that must wait because its tenant's
// concurrency quota is used up counts as resource_exhausted, once; tasks
// that start at once do not.
func TestQuotaCountsExhausted(t *testing.T) {
	e := newEnv(t, func(*llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "unused"} })
	b := newBlockingTasks(t)
	rt := runner.New(runner.Config{
		Store: e.db, Dir: filepath.Join(e.dir, "ws-quota"), Workers: 4,
		Quota:   func(bulwark.TenantID) int { return 1 },
		Prepare: b.prepare,
	})
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
	})
	exhausted := metrics.Security.TenantCounter(metrics.ResourceExhausted, string(e.a))
	before := exhausted.Value()
	first, err := rt.Submit(context.Background(), e.a, "k", bulwark.Task{Input: "x"})
	if err != nil {
		t.Fatal(err)
	}
	b.next(t)
	if got := exhausted.Value() - before; got != 0 {
		t.Errorf("a task within the quota counted %v resource_exhausted, want 0", got)
	}
	if _, err := rt.Submit(context.Background(), e.a, "k", bulwark.Task{Input: "y"}); err != nil {
		t.Fatal(err)
	}
	if got := exhausted.Value() - before; got != 1 {
		t.Errorf("a task over the quota counted %v resource_exhausted, want 1", got)
	}
	b.end(first.ID)
	b.next(t)
}

// TestWaitingTasksHoldNoWorker: tasks waiting for a person (an approval,
// an answer) do not hold workers. With one worker, tenant alpha's task
// waits for an approval; beta's task runs to its end meanwhile.
func TestWaitingTasksHoldNoWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if toolResults(r) == 0 && r.Messages[len(r.Messages)-1].Content == "ask" {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "notes/x.txt", "content": "x"})}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}}
	})
	e.workers = 1
	e.policy = bulwark.Policy{Rules: []bulwark.Rule{{Tool: "write_file", Pattern: "notes/*", Decision: bulwark.Ask}}}
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	waiting := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "ask", Model: "openai:test"}))
	waitStatus(t, e, e.a, waiting.ID, bulwark.TaskWaiting)
	other := must(e.rt.Submit(ctx, e.b, "k", bulwark.Task{Input: "go", Model: "openai:test"}))
	waitStatus(t, e, e.b, other.ID, bulwark.TaskSucceeded)
	aps := must(e.rt.Approvals(ctx, e.a, waiting.ID))
	if len(aps) != 1 {
		t.Fatalf("approvals = %+v, want one", aps)
	}
	if err := e.rt.Decide(ctx, e.a, "k", waiting.ID, aps[0].ID, true); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, e.a, waiting.ID, bulwark.TaskSucceeded)
}
