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
	// A file only the checkpoints hold, as a node that stopped leaves it.
	only := []byte("only in the checkpoint")
	for _, id := range ids {
		c := must(e.db.LatestCheckpoint(ctx, e.a, id))
		if err := e.db.PutBlobs(ctx, e.a, id, [][]byte{only}); err != nil {
			t.Fatal(err)
		}
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
	// The checkpoint holds an older a.txt, and a file nothing else does.
	c := must(e.db.LatestCheckpoint(ctx, e.a, task.ID))
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
