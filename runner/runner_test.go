package runner_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/queue"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
	"github.com/bulwark-agents/bulwark/tool/delegate"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/workspace"
)

// env is a runtime over a real SQLite store in a temporary data folder,
// whose tasks talk to a fake model server over HTTP.
type env struct {
	dir     string
	db      *sqlite.DB
	srv     *llmtest.Server
	rt      *runner.Runtime
	a, b    bulwark.TenantID
	policy  bulwark.Policy
	quota   int
	workers int
	// artifacts, when set, seals the files of stopped tasks (files_test.go).
	artifacts bulwark.ArtifactStore
	// elsewhere is Config.RunElsewhere.
	elsewhere func(bulwark.Task) bool
	// queue is Config.Queue (cluster_test.go).
	queue queue.Queue
	// checkpoints and autoResume are Config.Checkpoints and AutoResume
	// (checkpoint_resume_test.go).
	checkpoints bulwark.CheckpointStore
	autoResume  bool
	// controls is Config.Controls (remote_test.go).
	controls bulwark.ControlStore
	// delegate offers the delegate tool (delegate_test.go).
	delegate bool
	// exec, when set, runs run_shell's commands (live_output_test.go).
	exec func(ctx context.Context, cmd []string) (*tool.ExecResult, error)
	// uploading is the tasks' Setup.Uploading (files_test.go).
	uploading func(path string)
	// taint is the tasks' taint mode (taint_test.go).
	taint bulwark.TaintMode
	// store, when set, wraps the database as the runtime's store (ask_test.go).
	store func(*sqlite.DB) runner.Store
	// audit is Config.Audit (canceled_at_stop_test.go).
	audit *audit.Chains
}

func newEnv(t *testing.T, h llmtest.Handler) *env {
	t.Helper()
	e := &env{dir: t.TempDir(), quota: 4, workers: 8}
	keyFile := filepath.Join(e.dir, "master.key")
	kr, err := secret.CreateKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	e.db = openDB(t, e.dir, kr, keyFile)
	ctx := context.Background()
	ta, err := e.db.CreateTenant(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := e.db.CreateTenant(ctx, "beta")
	if err != nil {
		t.Fatal(err)
	}
	e.a, e.b = ta.ID, tb.ID
	e.srv = llmtest.NewServer(h)
	t.Cleanup(e.srv.Close)
	e.rt = e.newRuntime(t, e.db)
	return e
}

func openDB(t *testing.T, dir string, kr *secret.Keyring, keyFile string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "bulwark.db"), Keys: kr, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (e *env) newRuntime(t *testing.T, db *sqlite.DB) *runner.Runtime {
	vars := map[string]string{"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": e.srv.URL + "/v1"}
	var store runner.Store = db
	if e.store != nil {
		store = e.store(db)
	}
	rt := runner.New(runner.Config{
		Store:        store,
		Dir:          filepath.Join(e.dir, "workspaces"),
		Workers:      e.workers,
		Quota:        func(bulwark.TenantID) int { return e.quota },
		Artifacts:    e.artifacts,
		RunElsewhere: e.elsewhere,
		Queue:        e.queue,
		Checkpoints:  e.checkpoints,
		AutoResume:   e.autoResume,
		Controls:     e.controls,
		ControlEvery: 20 * time.Millisecond,
		Audit:        e.audit,
		Prepare: func(ctx context.Context, task bulwark.Task, ws *workspace.Workspace) (*runner.Setup, error) {
			m, err := provider.Open("openai:test", func(k string) string { return vars[k] })
			if err != nil {
				return nil, err
			}
			s := &runner.Setup{
				Model:     m,
				Tools:     tool.NewRegistry(append(files.Tools(), interact.Finish(), interact.AskUser())...),
				Policy:    e.policy,
				Taint:     e.taint,
				Uploading: e.uploading,
			}
			if e.delegate {
				s.Tools = tool.NewRegistry(append(files.Tools(), delegate.Tool(), interact.Finish(), interact.AskUser())...)
			}
			if e.exec != nil {
				s.Tools = tool.NewRegistry(code.Shell(), interact.Finish())
				s.Exec, s.MaskStream = e.exec, maskNothing
			}
			return s, nil
		},
	})
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rt.Shutdown(ctx)
	})
	return rt
}

func call(name string, args any) llmtest.ToolCall {
	b, _ := json.Marshal(args)
	return llmtest.ToolCall{Name: name, Arguments: b}
}

func toolResults(r *llmtest.Request) int {
	n := 0
	for _, m := range r.Messages {
		if m.Role == "tool" {
			n++
		}
	}
	return n
}

// steps answers with the given turns by the number of tool results so
// far, so that every task of a test plays the same script.
func steps(turns ...llmtest.Turn) llmtest.Handler {
	return func(r *llmtest.Request) llmtest.Turn { return turns[min(toolResults(r), len(turns)-1)] }
}

// collect reads a subscription to its end.
func collect(t *testing.T, ch <-chan bulwark.Event) []bulwark.Event {
	t.Helper()
	var out []bulwark.Event
	timeout := time.After(30 * time.Second) // a hang guard, not a speed assertion
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("the stream did not end; got %d events", len(out))
		}
	}
}

func waitStatus(t *testing.T, e *env, tenant bulwark.TenantID, id string, want bulwark.TaskStatus) bulwark.Task {
	t.Helper()
	for i := 0; i < 3000; i++ {
		task, err := e.db.Task(context.Background(), tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		if task.Status == want {
			return task
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("task %s never reached %s", id, want)
	return bulwark.Task{}
}

func TestTaskRunsAndStreamsFromTheStore(t *testing.T) {
	e := newEnv(t, steps(
		llmtest.Turn{Content: "writing", ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "wrote a.txt"})}},
	))
	ctx := context.Background()
	task, err := e.rt.Submit(ctx, e.a, "user:1", bulwark.Task{Input: "write a.txt", Model: "openai:test"})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := e.rt.Subscribe(ctx, e.a, task.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	events := collect(t, ch)
	var last int64
	var stored []bulwark.Event
	for _, ev := range events {
		if ev.Seq <= last {
			t.Fatalf("event seq %d after %d: out of order or repeated", ev.Seq, last)
		}
		last = ev.Seq
		if ev.Type != bulwark.EventModelDelta {
			stored = append(stored, ev)
		}
	}
	if n := len(stored); n == 0 || stored[n-1].Type != bulwark.EventTaskFinished || stored[n-1].Text != "wrote a.txt" {
		t.Fatalf("stream ends with %+v, want task_finished with the answer", stored[len(stored)-1])
	}
	got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	if got.Answer != "wrote a.txt" {
		t.Errorf("stored answer %q", got.Answer)
	}
	// A late subscriber replays the same stored events from the store.
	again := collect(t, must(e.rt.Subscribe(ctx, e.a, task.ID, 0)))
	if len(again) != len(stored) {
		t.Errorf("replay has %d events, want the %d stored", len(again), len(stored))
	}
	// Resuming after an event gives exactly the rest.
	mid := stored[len(stored)/2].Seq
	rest := collect(t, must(e.rt.Subscribe(ctx, e.a, task.ID, mid)))
	if len(rest) == 0 || rest[0].Seq <= mid {
		t.Errorf("resume after %d starts at %+v", mid, rest)
	}
	ws, err := e.rt.Workspace(ctx, e.a, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if b, err := ws.ReadFile("a.txt"); err != nil || string(b) != "A" {
		t.Errorf("a.txt = %q, %v", b, err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// gate is a handler whose turns wait until released, counting the
// conversations in flight per tenant input.
type gate struct {
	release  chan struct{}
	inFlight atomic.Int32
	peak     atomic.Int32
}

func (g *gate) handle(r *llmtest.Request) llmtest.Turn {
	n := g.inFlight.Add(1)
	for {
		p := g.peak.Load()
		if n <= p || g.peak.CompareAndSwap(p, n) {
			break
		}
	}
	<-g.release
	g.inFlight.Add(-1)
	return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}}
}

func TestQuotaQueuesInsteadOfFailing(t *testing.T) {
	g := &gate{release: make(chan struct{})}
	e := newEnv(t, g.handle)
	e.quota = 1
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	var ids []string
	for i := 0; i < 3; i++ {
		task, err := e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"})
		if err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
		ids = append(ids, task.ID)
	}
	other, err := e.rt.Submit(ctx, e.b, "k", bulwark.Task{Input: "x", Model: "openai:test"})
	if err != nil {
		t.Fatal(err)
	}
	// Tenant alpha runs one task; beta's runs beside it, not behind alpha's queue.
	waitFor(t, func() bool { return g.inFlight.Load() == 2 })
	if p := e.rt.Position(e.a, ids[2]); p == 0 {
		t.Errorf("alpha's third task is not queued")
	}
	close(g.release)
	for _, id := range ids {
		waitStatus(t, e, e.a, id, bulwark.TaskSucceeded)
	}
	waitStatus(t, e, e.b, other.ID, bulwark.TaskSucceeded)
	if g.peak.Load() > 2 {
		t.Errorf("peak %d conversations at once, want at most 2 (alpha's quota of 1 plus beta's)", g.peak.Load())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; i < 3000; i++ {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("condition never held")
}

func TestCancel(t *testing.T) {
	e := newEnv(t, func(*llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "thinking", Hang: true} })
	e.quota = 1
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	running := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	queued := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "y", Model: "openai:test"}))
	waitStatus(t, e, e.a, running.ID, bulwark.TaskRunning)
	if err := e.rt.Cancel(ctx, e.a, "k", queued.ID); err != nil {
		t.Fatalf("cancel queued: %v", err)
	}
	waitStatus(t, e, e.a, queued.ID, bulwark.TaskCanceled)
	if err := e.rt.Cancel(ctx, e.a, "k", running.ID); err != nil {
		t.Fatalf("cancel running: %v", err)
	}
	waitStatus(t, e, e.a, running.ID, bulwark.TaskCanceled)
	if err := e.rt.Cancel(ctx, e.a, "k", running.ID); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("cancel of an ended task: %v, want conflict", err)
	}
}

func TestApprovalsAndMessages(t *testing.T) {
	var seen modelHeard
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		seen.add(r)
		switch toolResults(r) {
		case 0:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "notes/x.txt", "content": "x"})}}
		case 1:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("ask_user", map[string]string{"question": "name?"})}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}}
	})
	e.policy = bulwark.Policy{Rules: []bulwark.Rule{{Tool: "write_file", Pattern: "notes/*", Decision: bulwark.Ask}}}
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitStatus(t, e, e.a, task.ID, bulwark.TaskWaiting)
	aps := must(e.rt.Approvals(ctx, e.a, task.ID))
	if len(aps) != 1 || aps[0].Target != "notes/x.txt" {
		t.Fatalf("approvals = %+v, want the write to notes/x.txt", aps)
	}
	if err := e.rt.Decide(ctx, e.b, "k", task.ID, aps[0].ID, true); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("another tenant deciding: %v, want not found", err)
	}
	if err := e.rt.Decide(ctx, e.a, "k", task.ID, aps[0].ID, true); err != nil {
		t.Fatal(err)
	}
	// ask_user waits for the next message.
	waitFor(t, func() bool {
		evs, _ := e.db.Events(ctx, e.a, task.ID, 0, 0)
		for _, ev := range evs {
			if ev.Type == bulwark.EventAskUser {
				return true
			}
		}
		return false
	})
	if err := e.rt.Send(ctx, e.a, task.ID, "Ada Lovelace"); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	if !seen.has("Ada Lovelace") {
		t.Errorf("the answer never reached the model")
	}
}

func TestOtherTenantsSeeNothing(t *testing.T) {
	e := newEnv(t, func(*llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "thinking", Hang: true} })
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "secret plans", Model: "openai:test"}))
	waitStatus(t, e, e.a, task.ID, bulwark.TaskRunning)
	checks := map[string]error{
		"Cancel":    e.rt.Cancel(ctx, e.b, "k", task.ID),
		"Send":      e.rt.Send(ctx, e.b, task.ID, "hi"),
		"Decide":    e.rt.Decide(ctx, e.b, "k", task.ID, "ap_x", true),
		"Approvals": second(e.rt.Approvals(ctx, e.b, task.ID)),
		"Subscribe": second(e.rt.Subscribe(ctx, e.b, task.ID, 0)),
		"Workspace": second(e.rt.Workspace(ctx, e.b, task.ID)),
	}
	for name, err := range checks {
		if bulwark.ErrorKind(err) != bulwark.NotFound {
			t.Errorf("%s by another tenant: %v, want not found", name, err)
		}
	}
	e.rt.Cancel(ctx, e.a, "k", task.ID)
}

func second[T any](_ T, err error) error { return err }

func TestShutdownInterruptsAndRestartRequeues(t *testing.T) {
	e := newEnv(t, func(*llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "thinking", Hang: true} })
	e.quota = 1
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	running := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	queued := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "y", Model: "openai:test"}))
	waitStatus(t, e, e.a, running.ID, bulwark.TaskRunning)
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, e.a, running.ID, bulwark.TaskInterrupted)
	if got := must(e.db.Task(ctx, e.a, queued.ID)); got.Status != bulwark.TaskQueued {
		t.Fatalf("the queued task is %s after shutdown, want still queued", got.Status)
	}
	evs := must(e.db.Events(ctx, e.a, running.ID, 0, 0))
	if len(evs) == 0 {
		t.Errorf("the interrupted task lost its steps")
	}
	// A new runtime on the same store runs the queued task again.
	e.quota = 1
	e.rt = e.newRuntime(t, e.db)
	waitStatus(t, e, e.a, queued.ID, bulwark.TaskRunning)
	e.rt.Cancel(ctx, e.a, "k", queued.ID)
}

// TestStartLeavesTasksRunElsewhere: a task another process runs (a
// `bulwark run` on the same data folder) is not marked interrupted by a
// runtime starting meanwhile; one whose process is gone is.
func TestStartLeavesTasksRunElsewhere(t *testing.T) {
	e := newEnv(t, steps())
	ctx := context.Background()
	cli := must(e.db.CreateTask(ctx, e.a, bulwark.Task{Input: "x", Model: "replay:x", Status: bulwark.TaskRunning}))
	gone := must(e.db.CreateTask(ctx, e.a, bulwark.Task{Input: "y", Model: "replay:x", Status: bulwark.TaskRunning}))
	e.elsewhere = func(t bulwark.Task) bool { return t.ID == cli.ID }
	e.rt = e.newRuntime(t, e.db)
	if got := must(e.db.Task(ctx, e.a, cli.ID)); got.Status != bulwark.TaskRunning {
		t.Errorf("a task run elsewhere is %s after Start, want still running", got.Status)
	}
	if got := must(e.db.Task(ctx, e.a, gone.ID)); got.Status != bulwark.TaskInterrupted {
		t.Errorf("a task whose process is gone is %s after Start, want interrupted", got.Status)
	}
}
