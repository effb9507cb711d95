package runner_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// TestCancelBeforeStartDropsTheCheckpoint: a task that a restart queued
// again to resume (it has a checkpoint) and that is canceled before its
// run starts ends with its checkpoint dropped, as a turn's run drops it
// at its end, and its files kept in the store, those only the
// checkpoint held too. The checkpoint and its blobs stayed for ever.
func TestCancelBeforeStartDropsTheCheckpoint(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if toolResults(r) == 0 {
			name := userInput(r) + ".txt"
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": name, "content": "kept"})}}
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	e.artifacts, e.checkpoints, e.autoResume = e.db, e.db, true
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	var ids []string
	for _, in := range []string{"x", "y"} {
		task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: in, Model: "openai:test"}))
		ids = append(ids, task.ID)
	}
	waitFor(t, func() bool {
		for _, id := range ids {
			if count(must(e.db.Events(ctx, e.a, id, 0, 0)), bulwark.EventToolResult) == 0 {
				return false
			}
		}
		return true
	})
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	// A file only the checkpoints hold, as a node that stopped without
	// sealing its folder leaves it (the checkpoint not marked sealed).
	only := []byte("only in the checkpoint")
	for _, id := range ids {
		c := must(e.db.LatestCheckpoint(ctx, e.a, id))
		if err := e.db.PutBlobs(ctx, e.a, id, [][]byte{only}); err != nil {
			t.Fatal(err)
		}
		c.Sealed = false
		c.Files = append(c.Files, bulwark.CheckpointFile{Path: "only.txt", Mode: 0o600, Size: int64(len(only)), SHA256: bulwark.BlobID(only)})
		if err := e.db.PutCheckpoint(ctx, e.a, c); err != nil {
			t.Fatal(err)
		}
	}
	// One worker: the start resumes one task, and the other waits queued.
	e.workers = 1
	e.rt = e.newRuntime(t, e.db)
	var queued bulwark.Task
	waitFor(t, func() bool {
		x, y := must(e.db.Task(ctx, e.a, ids[0])), must(e.db.Task(ctx, e.a, ids[1]))
		if x.Status == bulwark.TaskQueued {
			x, y = y, x
		}
		queued = y
		return x.Status == bulwark.TaskRunning && y.Status == bulwark.TaskQueued
	})
	if _, err := e.db.LatestCheckpoint(ctx, e.a, queued.ID); err != nil {
		t.Fatalf("the queued task has no checkpoint to resume from: %v", err)
	}
	if err := e.rt.Cancel(ctx, e.a, "k", queued.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if got := must(e.db.Task(ctx, e.a, queued.ID)); got.Status != bulwark.TaskCanceled {
		t.Fatalf("the task is %s after Cancel, want canceled before it started", got.Status)
	}
	if c, err := e.db.LatestCheckpoint(ctx, e.a, queued.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("the canceled task's checkpoint is still there (seq %d, %v), want it dropped", c.Seq, err)
	}
	for name, want := range map[string]string{queued.Input + ".txt": "kept", "only.txt": string(only)} {
		if _, data, err := e.rt.ReadFile(ctx, e.a, queued.ID, name); err != nil || string(data) != want {
			t.Errorf("%s of the canceled task = %q, %v; want %q", name, data, err, want)
		}
	}
}

// TestCancelInterruptedDropsTheCheckpoint: a task that a shutdown
// interrupted, and that is then canceled, ends with its checkpoint
// dropped, as a run drops it at its turn's end; the files it leaves are
// its newest: those sealed as it stopped (not the checkpoint's older
// copy), those of a folder left here (sealed as the cancel ends it), and
// those only the checkpoint held. The checkpoint and its blobs stayed
// for ever.
func TestCancelInterruptedDropsTheCheckpoint(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if toolResults(r) == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "newest"})}}
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	e.artifacts, e.checkpoints = e.db, e.db
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitFor(t, func() bool {
		return count(must(e.db.Events(ctx, e.a, task.ID, 0, 0)), bulwark.EventToolResult) > 0
	})
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, e.a, task.ID, bulwark.TaskInterrupted)
	// The checkpoint holds an older a.txt, and a file nothing else does,
	// as a node that stopped without sealing its folder leaves it (the
	// checkpoint not marked sealed; TestCancelInterruptedKeepsItsFilesAsTheyWere
	// has one that is).
	c := must(e.db.LatestCheckpoint(ctx, e.a, task.ID))
	if !c.Sealed {
		t.Errorf("the checkpoint of the task a shutdown interrupted is not marked sealed")
	}
	c.Sealed = false
	older, only := []byte("older"), []byte("only in the checkpoint")
	if err := e.db.PutBlobs(ctx, e.a, task.ID, [][]byte{older, only}); err != nil {
		t.Fatal(err)
	}
	for i, f := range c.Files {
		if f.Path == "a.txt" {
			c.Files[i].Size, c.Files[i].SHA256 = int64(len(older)), bulwark.BlobID(older)
		}
	}
	c.Files = append(c.Files, bulwark.CheckpointFile{Path: "only.txt", Mode: 0o600, Size: int64(len(only)), SHA256: bulwark.BlobID(only)})
	if err := e.db.PutCheckpoint(ctx, e.a, c); err != nil {
		t.Fatal(err)
	}
	e.rt = e.newRuntime(t, e.db)
	// A folder a process left that its start could not seal.
	dir := filepath.Join(e.dir, "workspaces", string(e.a), task.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "b.txt"), []byte("in the folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Cancel(ctx, e.a, "k", task.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if got := must(e.db.Task(ctx, e.a, task.ID)); got.Status != bulwark.TaskCanceled {
		t.Fatalf("the task is %s after Cancel, want canceled", got.Status)
	}
	if c, err := e.db.LatestCheckpoint(ctx, e.a, task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("the canceled task's checkpoint is still there (seq %d, %v), want it dropped", c.Seq, err)
	}
	for name, want := range map[string]string{"a.txt": "newest", "b.txt": "in the folder", "only.txt": string(only)} {
		if _, data, err := e.rt.ReadFile(ctx, e.a, task.ID, name); err != nil || string(data) != want {
			t.Errorf("%s of the canceled task = %q, %v; want %q", name, data, err, want)
		}
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the canceled task's folder is still there (%v), want it sealed", err)
	}
}

// TestCancelInterruptedKeepsItsFilesAsTheyWere: a task that a shutdown
// interrupted while a command of it had removed a file (after the last
// checkpoint, which still holds it), and that is then canceled, keeps
// its files as the run left them: the file stays removed. The cancel
// stored the files only the checkpoint held, as if a node had died
// without sealing the folder, and the removed file came back. The files
// the run left, changed since the checkpoint or not, stay as they were.
func TestCancelInterruptedKeepsItsFilesAsTheyWere(t *testing.T) {
	hanging := make(chan struct{}, 1)
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		switch toolResults(r) {
		case 0:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}}
		case 1:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "gone.txt", "content": "G"})}}
		}
		select {
		case hanging <- struct{}{}:
		default:
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	e.artifacts, e.checkpoints = e.db, e.db
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := stopAsItWaits(t, e, hanging, func(task bulwark.Task) {
		// What a command still running at the shutdown did: its step,
		// and the checkpoint that would record it, never came.
		dir := filepath.Join(e.dir, "workspaces", string(e.a), task.ID)
		if err := os.Remove(filepath.Join(dir, "gone.txt")); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("A changed"), 0o600); err != nil {
			t.Fatal(err)
		}
	})
	waitStatus(t, e, e.a, task.ID, bulwark.TaskInterrupted)
	if c := must(e.db.LatestCheckpoint(ctx, e.a, task.ID)); len(c.Files) != 2 {
		t.Fatalf("the checkpoint holds %+v, want a.txt and gone.txt", c.Files)
	}
	e.rt = e.newRuntime(t, e.db)
	if err := e.rt.Cancel(ctx, e.a, "k", task.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	var got []string
	for _, a := range must(e.rt.Files(ctx, e.a, task.ID)) {
		_, data, err := e.rt.ReadFile(ctx, e.a, task.ID, a.Path)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a.Path+" "+string(data))
	}
	if len(got) != 1 || got[0] != "a.txt A changed" {
		t.Errorf("the canceled task's files are %q, want only a.txt as the run left it", got)
	}
	if _, err := e.db.LatestCheckpoint(ctx, e.a, task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("the canceled task's checkpoint is still there (%v), want it dropped", err)
	}
}

// TestCancelAfterAResumedRunDied: a task resumed after a shutdown that
// sealed its folder (its checkpoint marked sealed) whose resumed run
// then dies with its node, the files back in its folder there and out of
// the store, keeps them when it is canceled from another node: only the
// checkpoint holds them, and the resume cleared the mark before they
// left the store. Left marked, the cancel would take the store, now
// empty, for the files the task left.
func TestCancelAfterAResumedRunDied(t *testing.T) {
	hanging := make(chan struct{}, 1)
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if toolResults(r) == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}}
		}
		select {
		case hanging <- struct{}{}:
		default:
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	e.artifacts, e.checkpoints = e.db, e.db
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := stopAsItWaits(t, e, hanging, nil)
	waitStatus(t, e, e.a, task.ID, bulwark.TaskInterrupted)
	e.rt = e.newRuntime(t, e.db)
	if _, err := e.rt.Resume(ctx, e.a, "k", task.ID); err != nil {
		t.Fatal(err)
	}
	<-hanging // the resumed run has set up: its files are in its folder only
	waitFor(t, func() bool { return len(must(e.db.Artifacts(ctx, e.a, task.ID))) == 0 })
	// Its node dies: another, with its own folders, finds the task
	// running with no process, and a person cancels it there.
	other := *e
	other.dir = t.TempDir()
	other.elsewhere = func(bulwark.Task) bool { return false }
	rt := other.newRuntime(t, e.db)
	if err := rt.Cancel(ctx, e.a, "k", task.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if _, data, err := rt.ReadFile(ctx, e.a, task.ID, "a.txt"); err != nil || string(data) != "A" {
		t.Errorf("a.txt of the canceled task = %q, %v; want \"A\", from its checkpoint", data, err)
	}
}

// TestCancelAfterACrashKeepsItsFilesAsTheyWere: a task whose process
// crashed (no stop sealed its folder) after a command of it had removed
// a file that its last checkpoint still holds, and that is canceled
// after the next start (one node), keeps its files as the run left
// them: the start sealed the folder and marked the checkpoint sealed, as
// a stop would have. Unmarked, the cancel stored the files only the
// checkpoint held, and the removed file came back. On a cluster's queue
// the start does not mark it: the folder may be one another node has
// gone on from since (TestClusterStartLeavesStaleFoldersToCheckpoints).
func TestCancelAfterACrashKeepsItsFilesAsTheyWere(t *testing.T) {
	e := newEnv(t, func(*llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "thinking", Hang: true} })
	e.artifacts, e.checkpoints = e.db, e.db
	ctx := context.Background()
	task := must(e.db.CreateTask(ctx, e.a, bulwark.Task{Input: "x", Model: "openai:test", Status: bulwark.TaskRunning}))
	if err := e.db.AppendEvent(ctx, e.a, bulwark.Event{Seq: 1, TaskID: task.ID, Time: time.Now(), Type: bulwark.EventTaskStarted, Text: "x"}); err != nil {
		t.Fatal(err)
	}
	a, gone := []byte("A"), []byte("G")
	if err := e.db.PutBlobs(ctx, e.a, task.ID, [][]byte{a, gone}); err != nil {
		t.Fatal(err)
	}
	c := bulwark.Checkpoint{TaskID: task.ID, Seq: 1, Files: []bulwark.CheckpointFile{
		{Path: "a.txt", Mode: 0o600, Size: 1, SHA256: bulwark.BlobID(a)},
		{Path: "gone.txt", Mode: 0o600, Size: 1, SHA256: bulwark.BlobID(gone)},
	}}
	if err := e.db.PutCheckpoint(ctx, e.a, c); err != nil {
		t.Fatal(err)
	}
	// The folder as the crash left it: gone.txt removed, a.txt changed.
	dir := filepath.Join(e.dir, "workspaces", string(e.a), task.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("A changed"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.rt = e.newRuntime(t, e.db) // the next start: the task is interrupted, its folder sealed
	waitStatus(t, e, e.a, task.ID, bulwark.TaskInterrupted)
	if c := must(e.db.LatestCheckpoint(ctx, e.a, task.ID)); !c.Sealed {
		t.Errorf("the checkpoint of the task whose folder the start sealed is not marked sealed")
	}
	if err := e.rt.Cancel(ctx, e.a, "k", task.ID); err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	var got []string
	for _, f := range must(e.rt.Files(ctx, e.a, task.ID)) {
		_, data, err := e.rt.ReadFile(ctx, e.a, task.ID, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f.Path+" "+string(data))
	}
	if len(got) != 1 || got[0] != "a.txt A changed" {
		t.Errorf("the canceled task's files are %q, want only a.txt as the run left it", got)
	}
	if _, err := e.db.LatestCheckpoint(ctx, e.a, task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("the canceled task's checkpoint is still there (%v), want it dropped", err)
	}
}
