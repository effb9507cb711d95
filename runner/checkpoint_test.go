package runner

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// countingStore counts the contents handed to PutBlobs.
type countingStore struct {
	bulwark.CheckpointStore
	blobs int
}

func (s *countingStore) PutBlobs(ctx context.Context, tenant bulwark.TenantID, taskID string, contents [][]byte) error {
	s.blobs += len(contents)
	return s.CheckpointStore.PutBlobs(ctx, tenant, taskID, contents)
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// folder lists the entries under dir (files with content and mode, links
// as links).
func folder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case info.Mode()&os.ModeSymlink != 0:
			out = append(out, rel+" link")
		case info.Mode().IsRegular():
			data, _ := os.ReadFile(p)
			out = append(out, rel+" "+info.Mode().Perm().String()+" "+string(data))
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func newCheckpointTest(t *testing.T) (*Runtime, *countingStore, bulwark.Task, string) {
	t.Helper()
	db, task, dir := openTestDB(t)
	store := &countingStore{CheckpointStore: db}
	rt := New(Config{Store: db, Dir: filepath.Join(dir, "workspaces"), Checkpoints: store})
	ws := rt.workspaceDir(bulwark.TenantID(task.TenantID), task.ID)
	if err := os.MkdirAll(ws, 0o700); err != nil {
		t.Fatal(err)
	}
	return rt, store, task, ws
}

// openTestDB opens a SQLite store in a temporary folder (returned), with
// a tenant and a queued task of it.
func openTestDB(t *testing.T) (*sqlite.DB, bulwark.Task, string) {
	t.Helper()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "master.key")
	kr, err := secret.CreateKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "bulwark.db"), Keys: kr, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	tn, err := db.CreateTenant(ctx, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	task, err := db.CreateTask(ctx, tn.ID, bulwark.Task{Input: "x"})
	if err != nil {
		t.Fatal(err)
	}
	return db, task, dir
}

// TestCheckpointDedupAndRestore: a checkpoint stores only content it has
// not stored, and a restore puts the folder back exactly: files added
// after the checkpoint go, changed and removed ones come back with their
// modes, even in a new process that knows nothing but the store.
func TestCheckpointDedupAndRestore(t *testing.T) {
	rt, store, task, dir := newCheckpointTest(t)
	ctx := context.Background()
	writeFiles(t, dir, map[string]string{"a.txt": "A", "b.txt": "B", "src/c.py": "print(1)", "same.txt": "A"})
	if err := os.Chmod(filepath.Join(dir, "src/c.py"), 0o700); err != nil {
		t.Fatal(err)
	}
	k := rt.newCheckpointer(task, dir)
	if err := k.commit(ctx, bulwark.Checkpoint{Seq: 1}); err != nil {
		t.Fatal(err)
	}
	if store.blobs != 3 {
		t.Errorf("the first checkpoint stored %d blobs, want 3 (two files share content)", store.blobs)
	}

	writeFiles(t, dir, map[string]string{"b.txt": "B changed"})
	store.blobs = 0
	if err := k.commit(ctx, bulwark.Checkpoint{Seq: 2}); err != nil {
		t.Fatal(err)
	}
	if store.blobs != 1 {
		t.Errorf("a checkpoint with one changed file stored %d blobs, want 1", store.blobs)
	}
	writeFiles(t, dir, map[string]string{"b.txt": "B"}) // back as at seq 1
	store.blobs = 0
	if err := k.commit(ctx, bulwark.Checkpoint{Seq: 3}); err != nil {
		t.Fatal(err)
	}
	if store.blobs != 1 {
		// The store dropped it with the checkpoint it replaced.
		t.Errorf("a checkpoint of content the store no longer holds stored %d blobs, want 1", store.blobs)
	}
	want := folder(t, dir)

	// After the checkpoint: a file added, one changed, one removed, a mode
	// changed, a link and a folder of new files.
	writeFiles(t, dir, map[string]string{"new.txt": "N", "a.txt": "A but longer", "out/x/y.txt": "y", ".bulwark-tmp-1": "t"})
	os.Remove(filepath.Join(dir, "src/c.py"))
	os.Chmod(filepath.Join(dir, "b.txt"), 0o644)
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}

	// A new process: a new checkpointer, the store's latest checkpoint.
	latest, err := rt.cfg.Checkpoints.LatestCheckpoint(ctx, bulwark.TenantID(task.TenantID), task.ID)
	if err != nil || latest.Seq != 3 {
		t.Fatalf("LatestCheckpoint = seq %d, %v; want 3", latest.Seq, err)
	}
	k2 := rt.newCheckpointer(task, dir)
	if err := k2.restore(ctx, latest, nil); err != nil {
		t.Fatal(err)
	}
	got := folder(t, dir)
	if len(got) != len(want) {
		t.Fatalf("restored folder:\n%q\nwant\n%q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("restored %q, want %q", got[i], want[i])
		}
	}
	// The restored checkpointer knows the stored blobs: nothing again.
	store.blobs = 0
	if err := k2.commit(ctx, bulwark.Checkpoint{Seq: 4}); err != nil {
		t.Fatal(err)
	}
	if store.blobs != 0 {
		t.Errorf("a checkpoint right after a restore stored %d blobs, want 0", store.blobs)
	}
}

var stalledTests = []struct {
	name   string
	events []bulwark.EventType
	want   int
}{
	{"a run with steps", []bulwark.EventType{bulwark.EventTaskStarted, bulwark.EventToolCall, bulwark.EventToolResult}, 0},
	{"the first run stopped at once", []bulwark.EventType{bulwark.EventTaskStarted}, 1},
	{"two resumes without a step", []bulwark.EventType{bulwark.EventTaskStarted, bulwark.EventToolCall,
		bulwark.EventTaskStarted, bulwark.EventToolResult, bulwark.EventNotice,
		bulwark.EventTaskStarted, bulwark.EventNotice, bulwark.EventTaskStarted, bulwark.EventNotice, bulwark.EventError}, 2},
	{"a resume that asked again", []bulwark.EventType{bulwark.EventTaskStarted, bulwark.EventToolCall,
		bulwark.EventTaskStarted, bulwark.EventAskUser, bulwark.EventTaskStarted, bulwark.EventAskUser}, 0},
}

func TestStalledRuns(t *testing.T) {
	for _, tt := range stalledTests {
		var evs []bulwark.Event
		for i, typ := range tt.events {
			evs = append(evs, bulwark.Event{Seq: int64(i + 1), Type: typ})
		}
		if got := stalledRuns(evs); got != tt.want {
			t.Errorf("stalledRuns(%s) = %d, want %d", tt.name, got, tt.want)
		}
	}
}
