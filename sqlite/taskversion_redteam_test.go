package sqlite

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// TestTaskVersionNamesOneView: while another opening of the database (a
// second process) keeps changing a task and its child, readers read the
// task's version, then the task (as the server does before it keeps an
// answer), then the version again. Whenever the version read stable was
// still the same after the read, the view read is the one of that
// version: two such reads under one version never show two different
// views (a change whose version moved only after its commit, or not for
// the parent when a child changed, would show here).
//
// (A read whose version moved in between may show a newer view than its
// first version: kept under that version, it is never served again,
// since the version never comes back.)
func TestTaskVersionNamesOneView(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	reader, writer := f.open(t), f.open(t)
	tn := mustTenant(t, writer, "acme")
	parent, err := writer.CreateTask(ctx, tn, bulwark.Task{Input: "p", Status: bulwark.TaskRunning})
	if err != nil {
		t.Fatal(err)
	}
	child, err := writer.CreateTask(ctx, tn, bulwark.Task{Input: "c", Status: bulwark.TaskRunning, ParentID: parent.ID})
	if err != nil {
		t.Fatal(err)
	}

	var (
		mu     sync.Mutex
		seen   = map[uint64]string{} // stable version: the view read under it
		stable atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, ok, err := reader.TaskVersion(ctx, tn, parent.ID)
				if err != nil {
					t.Error(err)
					return
				}
				p, kids, err := reader.TaskWithChildren(ctx, tn, parent.ID, 10)
				if err != nil {
					t.Error(err)
					return
				}
				v2, ok2, err := reader.TaskVersion(ctx, tn, parent.ID)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok || !ok2 || v2 != v {
					continue
				}
				stable.Add(1)
				view := fmt.Sprintf("%s %d %+v", p.Status, p.Turns, p.Usage)
				for _, k := range kids {
					view += " " + k.ID + ":" + string(k.Status)
				}
				mu.Lock()
				if old, ok := seen[v]; ok && old != view {
					t.Errorf("version %d read stable before two different views:\n%s\n%s", v, old, view)
				}
				seen[v] = view
				mu.Unlock()
			}
		}()
	}
	seq := int64(0)
	statuses := []bulwark.TaskStatus{bulwark.TaskWaiting, bulwark.TaskRunning}
	for i := range 200 {
		s := statuses[i%2]
		var err error
		switch i % 3 {
		case 0:
			err = writer.SetTaskStatus(ctx, tn, parent.ID, s)
		case 1:
			err = writer.SetTaskStatus(ctx, tn, child.ID, s)
		case 2:
			seq++
			err = writer.AppendEvent(ctx, tn, bulwark.Event{TaskID: parent.ID, Seq: seq, Type: bulwark.EventModelText, Text: "x",
				Usage: &bulwark.Usage{InputTokens: 1}})
		}
		if err != nil {
			t.Fatal(err)
		}
		if i%20 == 19 {
			// Readers read stable between the changes, however loaded
			// the machine: under load, 200 changes could all pass
			// before any reader had read once, and nothing was tested.
			for n := stable.Load(); stable.Load() == n && !t.Failed(); {
				time.Sleep(time.Millisecond)
			}
		}
	}
	close(stop)
	wg.Wait()
	if stable.Load() == 0 {
		t.Fatal("no version was read stable: the test tested nothing")
	}
}

// TestTaskFileTruncatedUnderAProcess: the task version file cut short
// while a process maps it (an operator "resetting" it with truncate or
// `: >`) must leave the process without stable versions (it keeps
// nothing), not kill it: a read of the mapping past the end of the file
// faults. Likewise the authentication version file. Run in a child
// process, since a fault ends the process.
func TestTaskFileTruncatedUnderAProcess(t *testing.T) {
	t.Parallel()
	if os.Getenv("BULWARK_TEST_TRUNCATED_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTaskFileTruncatedUnderAProcess$", "-test.v")
		cmd.Env = append(os.Environ(), "BULWARK_TEST_TRUNCATED_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestTaskFileTruncatedUnderAProcess") {
			t.Fatalf("the process whose task version file was truncated: %v\n%s", err, out)
		}
		return
	}
	ctx := context.Background()
	f := newFolder(t)
	db := f.open(t)
	tn := mustTenant(t, db, "acme")
	task, err := db.CreateTask(ctx, tn, bulwark.Task{Input: "x", Status: bulwark.TaskRunning})
	if err != nil {
		t.Fatal(err)
	}
	if _, stable := taskVersionOf(t, db, tn, task.ID); !stable {
		t.Fatal("the version is not stable before the file was cut")
	}
	if err := os.Truncate(f.dbPath+taskFileSuffix, 0); err != nil {
		t.Fatal(err)
	}
	if _, stable := taskVersionOf(t, db, tn, task.ID); stable {
		t.Error("the version is stable after the file was truncated")
	}
	if err := db.SetTaskStatus(ctx, tn, task.ID, bulwark.TaskWaiting); err == nil {
		t.Error("a change of a task was made after the file was truncated")
	}

	// The authentication version file, mapped the same way.
	u, err := db.CreateUser(ctx, tn, bulwark.User{Email: "bob@acme.test", Role: bulwark.RoleAdmin}, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo")
	if err != nil {
		t.Fatal(err)
	}
	if _, stable, _ := db.AuthVersion(ctx); !stable {
		t.Fatal("the authentication version is not stable before its file was cut")
	}
	if err := os.Truncate(f.dbPath+authFileSuffix, 0); err != nil {
		t.Fatal(err)
	}
	if _, stable, _ := db.AuthVersion(ctx); stable {
		t.Error("the authentication version is stable after its file was truncated")
	}
	if _, err := db.SetUserRole(ctx, tn, u.ID, bulwark.RoleViewer); err == nil {
		t.Error("a change of the authentication records was made after its file was truncated")
	}
}

// BenchmarkTaskVersion is the cost of reading a task's version at a
// request (GET /api/v1/tasks/{id}).
func BenchmarkTaskVersion(b *testing.B) {
	tv, err := openTaskVersions(filepath.Join(b.TempDir(), "bulwark.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer tv.close()
	for b.Loop() {
		tv.version("t_0123456789abcdef")
	}
}

// TestTaskFileMadeASymlink: the task version file replaced, under a
// running process, by a symlink (even to the very file it was) leaves that
// process with no stable version and refusing changes of tasks, and a
// process that opens the database then is refused: a link could give each
// process its own counters (to /dev/zero, or a copy).
func TestTaskFileMadeASymlink(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	db := f.open(t)
	tn := mustTenant(t, db, "acme")
	task, err := db.CreateTask(ctx, tn, bulwark.Task{Input: "x", Status: bulwark.TaskRunning})
	if err != nil {
		t.Fatal(err)
	}
	if _, stable := taskVersionOf(t, db, tn, task.ID); !stable {
		t.Fatal("the version is not stable before the file was linked")
	}
	path := f.dbPath + taskFileSuffix
	moved := filepath.Join(f.dir, "elsewhere")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(moved, path); err != nil {
		t.Fatal(err)
	}
	if _, stable := taskVersionOf(t, db, tn, task.ID); stable {
		t.Error("the version is stable after the file was made a symlink")
	}
	if err := db.SetTaskStatus(ctx, tn, task.ID, bulwark.TaskWaiting); err == nil {
		t.Error("a change of a task was made after the file was made a symlink")
	}
	kr, err := secret.ReadKeyFile(f.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if other, err := Open(ctx, Config{Path: f.dbPath, Keys: kr}); err == nil {
		other.Close()
		t.Error("the database opened through a task version file that is a symlink")
	}
}
