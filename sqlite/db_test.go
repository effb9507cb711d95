package sqlite

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// testFolder is a data folder for one test: a database path and a key file.
type testFolder struct {
	dir, dbPath, keyFile string
}

func newFolder(t *testing.T) testFolder {
	t.Helper()
	dir := t.TempDir()
	f := testFolder{dir: dir, dbPath: filepath.Join(dir, "bulwark.db"), keyFile: filepath.Join(dir, "master.key")}
	if _, err := secret.CreateKeyFile(f.keyFile); err != nil {
		t.Fatal(err)
	}
	return f
}

// open opens the folder's database with its key file; it fails the test
// on error and closes the database at cleanup.
func (f testFolder) open(t *testing.T) *DB {
	t.Helper()
	db, err := f.tryOpen()
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (f testFolder) tryOpen() (*DB, error) {
	kr, err := secret.ReadKeyFile(f.keyFile)
	if err != nil {
		return nil, err
	}
	return Open(context.Background(), Config{Path: f.dbPath, Keys: kr, KeyFile: f.keyFile})
}

// mustOpenDB opens a new store in a temporary data folder.
func mustOpenDB(t *testing.T) *DB {
	t.Helper()
	return newFolder(t).open(t)
}

func mustTenant(t *testing.T, db *DB, name string) bulwark.TenantID {
	t.Helper()
	tn, err := db.CreateTenant(context.Background(), name)
	if err != nil {
		t.Fatalf("CreateTenant(%q): %v", name, err)
	}
	return tn.ID
}

func TestMigrateFromEmptyAndReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	db := f.open(t)
	local, err := db.LocalTenant(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetSecret(ctx, local.ID, "TOKEN", "value-123"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if fi, err := os.Stat(f.dbPath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("database file: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	for i := range 2 { // re-opening applies nothing twice and keeps the data
		db := f.open(t)
		var n int
		names, _ := fs.Glob(migrations, "migrations/*.sql")
		if err := db.r.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != len(names) {
			t.Errorf("open %d: %d migrations recorded (%v), want %d", i+2, n, err, len(names))
		}
		again, err := db.LocalTenant(ctx)
		if err != nil || again.ID != local.ID {
			t.Errorf("open %d: LocalTenant = %v, %v; want the same tenant %s", i+2, again.ID, err, local.ID)
		}
		vals, err := db.SecretValues(ctx, local.ID)
		if err != nil || vals["TOKEN"] != "value-123" {
			t.Errorf("open %d: SecretValues = %v, %v", i+2, vals, err)
		}
		var mode string
		db.r.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
		var fk int
		db.w.QueryRow(`PRAGMA foreign_keys`).Scan(&fk)
		if mode != "wal" || fk != 1 {
			t.Errorf("journal_mode %q foreign_keys %d, want wal and 1", mode, fk)
		}
		db.Close()
	}
}

func TestNewerDatabaseRefused(t *testing.T) {
	t.Parallel()
	f := newFolder(t)
	db := f.open(t)
	if _, err := db.w.Exec(`INSERT INTO schema_migrations (version, name, applied) VALUES (9999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := f.tryOpen()
	if bulwark.ErrorKind(err) != bulwark.Invalid || !contains(bulwark.ErrorMessage(err), "newer version") {
		t.Errorf("Open of a newer database = %v, want Invalid about a newer version", err)
	}
}

func TestLocalTenantConcurrent(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	ids := make(chan bulwark.TenantID, 8)
	for range 8 {
		go func() {
			tn, err := db.LocalTenant(context.Background())
			if err != nil {
				t.Error(err)
			}
			ids <- tn.ID
		}()
	}
	first := <-ids
	for range 7 {
		if id := <-ids; id != first {
			t.Errorf("LocalTenant gave %s and %s", first, id)
		}
	}
}

func TestTasksAndEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	task, err := db.CreateTask(ctx, a, bulwark.Task{Input: "do it", Model: "replay:x", Limits: bulwark.Limits{MaxSteps: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if task.ID == "" || task.Status != bulwark.TaskQueued || task.TenantID != string(a) {
		t.Errorf("CreateTask = %+v", task)
	}
	if _, err := db.CreateTask(ctx, a, bulwark.Task{ID: task.ID, Input: "x"}); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("CreateTask with a used id = %v, want Conflict", err)
	}
	rec := bulwark.NewRecorder(ctx, db, a, task.ID)
	now := time.Now()
	for i, e := range []bulwark.Event{
		{Type: bulwark.EventTaskStarted, Text: "do it"},
		{Type: bulwark.EventModelDelta, Text: "par"},
		{Type: bulwark.EventToolCall, Tool: "write_file", Args: []byte(`{"path":"a"}`)},
		{Type: bulwark.EventToolResult, Tool: "write_file", Text: "ok"},
		{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "the answer"},
	} {
		e.Seq, e.Time = int64(i+1), now
		rec.Record(e)
		if i == 0 {
			if got, _ := db.Task(ctx, a, task.ID); got.Status != bulwark.TaskRunning {
				t.Errorf("after task_started the status is %q, want running", got.Status)
			}
		}
	}
	if err := rec.Err(); err != nil {
		t.Fatal(err)
	}
	got, err := db.Task(ctx, a, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != bulwark.TaskSucceeded || got.Answer != "the answer" || got.Reason != bulwark.FinishDone || got.Input != "do it" || got.Limits.MaxSteps != 3 {
		t.Errorf("finished task = %+v", got)
	}
	events, err := db.Events(ctx, a, task.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, e := range events {
		seqs = append(seqs, e.Seq)
	}
	if want := []int64{1, 3, 4, 5}; !equalInts(seqs, want) {
		t.Errorf("stored seqs %v, want %v (model_delta is not stored)", seqs, want)
	}
	if events[1].Tool != "write_file" || string(events[1].Args) != `{"path":"a"}` || !events[1].Time.Equal(now) {
		t.Errorf("event read back = %+v", events[1])
	}
	resumed, err := db.Events(ctx, a, task.ID, 3, 1)
	if err != nil || len(resumed) != 1 || resumed[0].Seq != 4 {
		t.Errorf("Events(after 3, limit 1) = %v, %v; want seq 4", resumed, err)
	}
	if err := db.AppendEvent(ctx, a, bulwark.Event{TaskID: task.ID, Seq: 3, Type: bulwark.EventNotice}); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("AppendEvent of a stored seq = %v, want Conflict", err)
	}
	if err := db.SetTaskStatus(ctx, a, task.ID, bulwark.TaskRunning); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("SetTaskStatus of an ended task = %v, want Conflict", err)
	}
	// Another tenant sees nothing of it.
	if _, err := db.Task(ctx, b, task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("Task from another tenant = %v, want NotFound", err)
	}
	if _, err := db.Events(ctx, b, task.ID, 0, 0); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("Events from another tenant = %v, want NotFound", err)
	}
	if err := db.AppendEvent(ctx, b, bulwark.Event{TaskID: task.ID, Seq: 9, Type: bulwark.EventNotice}); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("AppendEvent from another tenant = %v, want NotFound", err)
	}
	if ts, err := db.ListTasks(ctx, b, bulwark.ListTasksOptions{}); err != nil || len(ts) != 0 {
		t.Errorf("ListTasks of another tenant = %v, %v; want none", ts, err)
	}
	if ts, err := db.ListTasks(ctx, a, bulwark.ListTasksOptions{}); err != nil || len(ts) != 1 {
		t.Errorf("ListTasks = %v, %v; want the one task", ts, err)
	}
}

func TestSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := mustOpenDB(t)
	a := mustTenant(t, db, "a")
	for _, tc := range []struct {
		name, value string
		kind        bulwark.Kind
	}{
		{"OK_1", "value-long-enough", 0},
		{"bad-name", "value-long-enough", bulwark.Invalid},
		{"EMPTY", "", bulwark.Invalid},
		{"SHORT", "12345", bulwark.Invalid},
	} {
		err := db.SetSecret(ctx, a, tc.name, tc.value)
		if tc.kind == 0 && err != nil || tc.kind != 0 && bulwark.ErrorKind(err) != tc.kind {
			t.Errorf("SetSecret(%q, %q) = %v, want kind %v", tc.name, tc.value, err, tc.kind)
		}
	}
	if err := db.SetSecret(ctx, a, "OK_1", "replaced-value"); err != nil {
		t.Fatal(err)
	}
	vals, err := db.SecretValues(ctx, a)
	if err != nil || len(vals) != 1 || vals["OK_1"] != "replaced-value" {
		t.Errorf("SecretValues = %v, %v", vals, err)
	}
	infos, err := db.ListSecrets(ctx, a)
	if err != nil || len(infos) != 1 || infos[0].Name != "OK_1" || infos[0].Updated.Before(infos[0].Created) {
		t.Errorf("ListSecrets = %+v, %v", infos, err)
	}
	if err := db.DeleteSecret(ctx, a, "OK_1"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSecret(ctx, a, "OK_1"); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("second DeleteSecret = %v, want NotFound", err)
	}
	if err := db.SetSecret(ctx, "tn_nosuch", "X", "value-123"); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("SetSecret for an unknown tenant = %v, want NotFound", err)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

// TestTaskVersionsMarkedInTheSchema: a data folder records the version that
// marks task changes as moving the task versions, so that a binary older
// than them, which would change tasks without moving the versions a server
// keeps its answers by, refuses the folder as TestNewerDatabaseRefused
// shows.
func TestTaskVersionsMarkedInTheSchema(t *testing.T) {
	t.Parallel()
	db := mustOpenDB(t)
	var n int
	if err := db.r.QueryRow(`SELECT COUNT(*) FROM schema_migrations WHERE version = 19 AND name = '0019_task_versions.sql'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("the task versions' schema version is not recorded")
	}
}
