package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// TestSettleEnded: a task that had ended when the backup was made, with
// its files still in its checkpoint, gets them in the artifact store
// (those already there kept as they are) and loses the checkpoint; a task
// that may resume keeps its checkpoint untouched.
func TestSettleEnded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, dbFileName), Keys: secret.NewKeyring()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tn, err := db.CreateTenant(ctx, "st")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(status bulwark.TaskStatus, sealed bool) string {
		task, err := db.CreateTask(ctx, tn.ID, bulwark.Task{Input: "x"})
		if err != nil {
			t.Fatal(err)
		}
		files := map[string]string{"a.txt": "from the checkpoint", "b.txt": "checkpoint b"}
		var cfs []bulwark.CheckpointFile
		for _, p := range []string{"a.txt", "b.txt"} {
			c := []byte(files[p])
			if err := db.PutBlobs(ctx, tn.ID, task.ID, [][]byte{c}); err != nil {
				t.Fatal(err)
			}
			cfs = append(cfs, bulwark.CheckpointFile{Path: p, Mode: 0o600, Size: int64(len(c)), SHA256: bulwark.BlobID(c)})
		}
		if err := db.PutCheckpoint(ctx, tn.ID, bulwark.Checkpoint{TaskID: task.ID, Seq: 1, Files: cfs, Sealed: sealed}); err != nil {
			t.Fatal(err)
		}
		// As a task_finished event would (SetTaskStatus refuses ends).
		raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, dbFileName)+"?_pragma=busy_timeout(10000)")
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.ExecContext(ctx, "UPDATE tasks SET status = ? WHERE id = ?", string(status), task.ID); err != nil {
			t.Fatal(err)
		}
		return task.ID
	}
	done := mk(bulwark.TaskSucceeded, false)
	// b.txt was sealed already, in its final form.
	if _, err := db.PutArtifact(ctx, tn.ID, bulwark.Artifact{TaskID: done, Path: "b.txt"}, []byte("sealed b")); err != nil {
		t.Fatal(err)
	}
	paused := mk(bulwark.TaskInterrupted, false)
	// A task a stop cut off, which sealed its folder (a.txt; b.txt was
	// removed after the checkpoint) and marked the checkpoint so, then
	// canceled: the backup was made before the cancel dropped it.
	stopped := mk(bulwark.TaskCanceled, true)
	if _, err := db.PutArtifact(ctx, tn.ID, bulwark.Artifact{TaskID: stopped, Path: "a.txt"}, []byte("sealed a")); err != nil {
		t.Fatal(err)
	}

	n, err := settleEnded(ctx, dir, db)
	if err != nil || n != 2 {
		t.Fatalf("settleEnded = %d, %v; want 2 tasks", n, err)
	}
	if arts, _ := db.Artifacts(ctx, tn.ID, stopped); len(arts) != 1 || arts[0].Path != "a.txt" {
		t.Errorf("the files of the task whose sealed folder is newer than its checkpoint: %+v, want a.txt alone", arts)
	}
	if _, err := db.LatestCheckpoint(ctx, tn.ID, stopped); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("the canceled task's checkpoint: %v, want it gone", err)
	}
	for path, want := range map[string]string{"a.txt": "from the checkpoint", "b.txt": "sealed b"} {
		_, got, err := db.ArtifactContent(ctx, tn.ID, done, path)
		if err != nil || string(got) != want {
			t.Errorf("%s of the ended task = %q, %v; want %q", path, got, err, want)
		}
	}
	if _, err := db.LatestCheckpoint(ctx, tn.ID, done); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("the ended task's checkpoint: %v, want it gone", err)
	}
	if cp, err := db.LatestCheckpoint(ctx, tn.ID, paused); err != nil || len(cp.Files) != 2 {
		t.Errorf("the interrupted task's checkpoint = %+v, %v; want it kept", cp, err)
	}
	if arts, _ := db.Artifacts(ctx, tn.ID, paused); len(arts) != 0 {
		t.Errorf("the interrupted task got artifacts %+v", arts)
	}
}
