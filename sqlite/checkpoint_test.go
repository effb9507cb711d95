package sqlite

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// The behaviour of CheckpointStore is tested for both stores by
// internal/storetest (TestConformance); what is SQLite's own is here.

const checkpointCanary = "CANARY-checkpoint-file-5d1e77"

func countBlobs(t *testing.T, db *DB, taskID string) int {
	t.Helper()
	var n int
	if err := db.r.QueryRow(`SELECT COUNT(*) FROM checkpoint_blobs WHERE task_id = ?`, taskID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestCheckpointsAtRest: a checkpoint's file contents and paths are in
// none of the database's files, the WAL included, open or closed; and a
// task's blobs are exactly those of its checkpoint, one per content.
func TestCheckpointsAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	db := f.open(t)
	a := mustTenant(t, db, "a")
	task, err := db.CreateTask(ctx, a, bulwark.Task{Input: "x"})
	if err != nil {
		t.Fatal(err)
	}
	notes := []byte("notes " + checkpointCanary)
	contents := [][]byte{[]byte("A"), []byte("B"), notes, []byte("A")}
	var files []bulwark.CheckpointFile
	for i, p := range []string{"a.txt", "b.txt", "secret/notes.md", "copy-of-a.txt"} {
		files = append(files, bulwark.CheckpointFile{Path: p, Mode: 0o644, Size: int64(len(contents[i])), SHA256: bulwark.BlobID(contents[i])})
	}
	if err := db.PutBlobs(ctx, a, task.ID, contents); err != nil {
		t.Fatal(err)
	}
	if err := db.PutBlobs(ctx, a, task.ID, [][]byte{[]byte("stale")}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutCheckpoint(ctx, a, bulwark.Checkpoint{TaskID: task.ID, Seq: 4, Step: 1, Files: files}); err != nil {
		t.Fatal(err)
	}
	if n := countBlobs(t, db, task.ID); n != 3 {
		t.Errorf("a checkpoint of 4 files with 3 distinct contents leaves %d blobs, want 3", n)
	}

	needles := [][]byte{[]byte(checkpointCanary), []byte("secret/notes.md")}
	scan := func() {
		filepath.WalkDir(f.dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			raw, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range needles {
				if bytes.Contains(raw, n) {
					t.Errorf("%s holds %q in the clear", d.Name(), n)
				}
			}
			return nil
		})
	}
	scan()
	db.Close()
	scan()
}
