package runner_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/queue/queuetest"
	"github.com/bulwark-agents/bulwark/queue/riverqueue"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestClusterRunsTasksOfOtherNodes: two runtimes share a store and a River
// queue. Tasks submitted on either run and end; once the first has shut
// down, the tasks submitted on it (queued: it still reaches the database)
// run on the second, which adopts them from the store.
func TestClusterRunsTasksOfOtherNodes(t *testing.T) {
	pool := queuetest.PostgresDB(t)
	e := newEnv(t, steps(llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "done"})}}))
	ctx := context.Background()
	var nodes [2]*env
	for i := range nodes {
		q, err := riverqueue.New(ctx, riverqueue.Config{
			Pool: pool(), Workers: 2, Quota: func(bulwark.TenantID) int { return 2 },
			Node:              fmt.Sprintf("node-%d", i),
			Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
			FetchPollInterval: 50 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		n := *e
		n.queue = q
		n.rt = n.newRuntime(t, e.db)
		nodes[i] = &n
	}
	var ids []string
	submit := func(node int) {
		task, err := nodes[node].rt.Submit(ctx, e.a, "user:1", bulwark.Task{Input: "go", Model: "openai:test"})
		if err != nil {
			t.Fatalf("Submit on node %d: %v", node, err)
		}
		ids = append(ids, task.ID)
	}
	for i := range 4 {
		submit(i % 2)
	}
	for _, id := range ids {
		waitStatus(t, e, e.a, id, bulwark.TaskSucceeded)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := nodes[0].rt.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown of node 0: %v", err)
	}
	ids = nil
	for range 3 {
		submit(0)
	}
	for _, id := range ids {
		if got := waitStatus(t, e, e.a, id, bulwark.TaskSucceeded); got.Answer != "done" {
			t.Errorf("task %s answered %q", id, got.Answer)
		}
	}
	// Node 0, which queued them, holds no state of them: a stream there
	// reads them from the store and ends with them, and a message there is
	// not swallowed by a run it does not have.
	for _, id := range ids {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ch, err := nodes[0].rt.Subscribe(sctx, e.a, id, 0)
		if err != nil {
			t.Fatalf("Subscribe on node 0: %v", err)
		}
		last := bulwark.Event{}
		for ev := range ch {
			last = ev
		}
		if sctx.Err() != nil || last.Type != bulwark.EventTaskFinished {
			t.Errorf("the stream on node 0 of task %s, run by node 1, ended with %q (%v), want at task_finished", id, last.Type, sctx.Err())
		}
		cancel()
	}

	// With no node working, a task queued on node 0 is canceled on node 1,
	// which never held it: it leaves the shared queue and never runs.
	if err := nodes[1].rt.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown of node 1: %v", err)
	}
	ids = nil
	submit(0)
	if err := nodes[1].rt.Cancel(ctx, e.a, "user:1", ids[0]); err != nil {
		t.Fatalf("Cancel on the other node: %v", err)
	}
	waitStatus(t, e, e.a, ids[0], bulwark.TaskCanceled)
	if n, err := nodes[0].queue.Position(ctx, e.a, ids[0]); n != 0 || err != nil {
		t.Errorf("the canceled task is still queued, at %d (%v)", n, err)
	}
}

// TestClusterStartLeavesStaleFoldersToCheckpoints: a node that starts
// again after a crash, on a shared queue with checkpoints, finds the
// folder of a task that was running on it. The task goes on from its
// checkpoint (on whichever node), so the folder is removed, not sealed
// into the store with the cut-off run's files; the folder of a task that
// stopped is sealed as ever, its checkpoint not marked sealed.
func TestClusterStartLeavesStaleFoldersToCheckpoints(t *testing.T) {
	pool := queuetest.PostgresDB(t)
	e := newEnv(t, steps(llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "done"})}}))
	ctx := context.Background()
	folder := func(id string) string { return filepath.Join(e.dir, "workspaces", string(e.a), id) }
	made := map[bulwark.TaskStatus]string{}
	for _, st := range []bulwark.TaskStatus{bulwark.TaskRunning, bulwark.TaskInterrupted} {
		task, err := e.db.CreateTask(ctx, e.a, bulwark.Task{Input: "go", Status: bulwark.TaskQueued})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.db.SetTaskStatus(ctx, e.a, task.ID, st); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(folder(task.ID), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(folder(task.ID), "cut-off.txt"), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := e.db.PutCheckpoint(ctx, e.a, bulwark.Checkpoint{TaskID: task.ID, Seq: 1}); err != nil {
			t.Fatal(err)
		}
		made[st] = task.ID
	}
	q, err := riverqueue.New(ctx, riverqueue.Config{Pool: pool(), Quota: func(bulwark.TenantID) int { return 2 }, Node: "restarted",
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))})
	if err != nil {
		t.Fatal(err)
	}
	n := *e
	n.queue, n.artifacts, n.checkpoints = q, e.db, e.db
	n.rt = n.newRuntime(t, e.db) // Start sweeps the folders

	running := made[bulwark.TaskRunning]
	if _, err := os.Stat(folder(running)); !os.IsNotExist(err) {
		t.Errorf("the folder of the task running elsewhere is still there (%v)", err)
	}
	if kept, err := e.db.Artifacts(ctx, e.a, running); err != nil || len(kept) != 0 {
		t.Errorf("the cut-off run's files of the task running elsewhere were sealed into the store: %+v (%v)", kept, err)
	}
	stopped := made[bulwark.TaskInterrupted]
	if kept, err := e.db.Artifacts(ctx, e.a, stopped); err != nil || len(kept) != 1 || kept[0].Path != "cut-off.txt" {
		t.Errorf("the files of the stopped task = %+v (%v), want cut-off.txt sealed into the store", kept, err)
	}
	// A folder that may be older than what another node went on from
	// says nothing of the files its checkpoint holds (as one node's
	// start has it: TestCancelAfterACrashKeepsItsFilesAsTheyWere).
	if c, err := e.db.LatestCheckpoint(ctx, e.a, stopped); err != nil || c.Sealed {
		t.Errorf("the stopped task's checkpoint = %+v (%v), want it there, not marked sealed", c, err)
	}
}

// TestClusterManualResume: with AutoResume off (BULWARK_RESUME=manual), a
// task whose node stops in the middle is not run again by another node:
// it waits, interrupted, for a person, as after a restart on one node.
func TestClusterManualResume(t *testing.T) {
	pool := queuetest.PostgresDB(t)
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "thinking", Hang: true} })
	ctx := context.Background()
	var nodes [2]*env
	var pools [2]*pgxpool.Pool
	for i := range nodes {
		pools[i] = pool()
		q, err := riverqueue.New(ctx, riverqueue.Config{
			Pool: pools[i], Workers: 2, Quota: func(bulwark.TenantID) int { return 2 },
			Node:              fmt.Sprintf("node-%d", i),
			Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
			FetchPollInterval: 50 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		n := *e
		n.queue, n.autoResume = q, false
		nodes[i] = &n
	}
	// Only node 0 works at first: it takes the task.
	nodes[0].rt = nodes[0].newRuntime(t, e.db)
	task, err := nodes[0].rt.Submit(ctx, e.a, "user:1", bulwark.Task{Input: "go", Model: "openai:test"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, e.a, task.ID, bulwark.TaskRunning)
	for e.srv.Count() == 0 {
		time.Sleep(10 * time.Millisecond)
	}
	nodes[1].rt = nodes[1].newRuntime(t, e.db)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := nodes[0].rt.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown of node 0: %v", err)
	}
	// Node 1 gets the task's job back from the queue; it must leave the
	// task to a person, and the job then ends (its row is removed).
	for i := 0; ; i++ {
		var rows int
		if err := pools[1].QueryRow(ctx, `SELECT count(*) FROM bulwark_queue WHERE task_id = $1`, task.ID).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows == 0 || e.srv.Count() > 1 {
			break
		}
		if i > 3000 {
			t.Fatal("the task's job never ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := e.srv.Count(); n != 1 {
		t.Errorf("the model was asked %d times, want 1: another node ran the task again", n)
	}
	if got, err := e.db.Task(ctx, e.a, task.ID); err != nil || got.Status != bulwark.TaskInterrupted {
		t.Errorf("the task is %s (%v), want interrupted, for a person", got.Status, err)
	}
	// The person resumes it, on the node that is left: it runs again.
	if _, err := nodes[1].rt.Resume(ctx, e.a, "user:1", task.ID); err != nil {
		t.Fatalf("Resume on node 1: %v", err)
	}
	for i := 0; e.srv.Count() < 2; i++ {
		if i > 3000 {
			t.Fatal("the resumed task never ran")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
