package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"hash/fnv"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// taskVersionOf reads db's version of tenant's task id.
func taskVersionOf(t *testing.T, db *DB, tenant bulwark.TenantID, id string) (uint64, bool) {
	t.Helper()
	v, stable, err := db.TaskVersion(context.Background(), tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return v, stable
}

// TestTaskVersionAcrossProcesses: each change of a task made through one
// opening of the database (another process) moves the version of the
// task, and of its parent, that another opening reads; a change that
// rolls back moves it too, so no version read before it comes back.
func TestTaskVersionAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFolder(t)
	a, b := f.open(t), f.open(t)
	tn := mustTenant(t, a, "acme")
	parent, err := a.CreateTask(ctx, tn, bulwark.Task{Input: "p", Status: bulwark.TaskRunning})
	if err != nil {
		t.Fatal(err)
	}
	var child bulwark.Task
	seq := int64(0)
	event := func(id string, e bulwark.Event) error {
		seq++
		e.TaskID, e.Seq = id, seq
		return a.AppendEvent(ctx, tn, e)
	}
	changes := []struct {
		name   string
		change func() error
		moved  []*bulwark.Task // whose versions must move
	}{
		{"status set", func() error { return a.SetTaskStatus(ctx, tn, parent.ID, bulwark.TaskWaiting) }, []*bulwark.Task{&parent}},
		{"a child made", func() error {
			child, err = a.CreateTask(ctx, tn, bulwark.Task{Input: "c", Status: bulwark.TaskRunning, ParentID: parent.ID})
			return err
		}, []*bulwark.Task{&parent}},
		{"the child's usage", func() error {
			return event(child.ID, bulwark.Event{Type: bulwark.EventModelText, Usage: &bulwark.Usage{InputTokens: 1}})
		}, []*bulwark.Task{&child, &parent}},
		{"the child's status", func() error { return a.SetTaskStatus(ctx, tn, child.ID, bulwark.TaskWaiting) }, []*bulwark.Task{&child, &parent}},
		{"the task finished", func() error {
			return event(parent.ID, bulwark.Event{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "done"})
		}, []*bulwark.Task{&parent}},
		{"a change rolled back", func() error {
			err := a.taskWrite(ctx, func(tx *sql.Tx, c *taskChange) error {
				c.touch(parent.ID)
				if _, err := tx.ExecContext(ctx, `UPDATE tasks SET turns = 99 WHERE id = ?`, parent.ID); err != nil {
					return err
				}
				return errors.New("rolled back")
			})
			if err == nil {
				t.Fatal("the change did not fail")
			}
			if got, err := b.Task(ctx, tn, parent.ID); err != nil || got.Turns == 99 {
				t.Fatalf("after the rollback: turns %d, %v; want the change undone", got.Turns, err)
			}
			return nil
		}, []*bulwark.Task{&parent}},
		{"continued", func() error {
			_, err := a.ContinueTask(ctx, tn, parent.ID, nil)
			return err
		}, []*bulwark.Task{&parent}},
	}
	for _, c := range changes {
		before := map[string]uint64{}
		for _, task := range c.moved {
			if task.ID != "" {
				before[task.ID], _ = taskVersionOf(t, b, tn, task.ID)
			}
		}
		if err := c.change(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for _, task := range c.moved {
			v, stable := taskVersionOf(t, b, tn, task.ID)
			if v == before[task.ID] || !stable {
				t.Errorf("%s: the version of %q another process reads is %d (was %d), stable %v; want it moved and stable", c.name, task.Input, v, before[task.ID], stable)
			}
		}
	}
	// An event that changes nothing of the task's row moves nothing.
	v0, _ := taskVersionOf(t, b, tn, parent.ID)
	if err := event(parent.ID, bulwark.Event{Type: bulwark.EventNotice, Text: "n"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := taskVersionOf(t, b, tn, parent.ID); v != v0 {
		t.Errorf("a notice moved the task's version from %d to %d", v0, v)
	}
	if _, _, err := b.TaskVersion(ctx, tn, "t_ x"); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("TaskVersion of a malformed id = %v, want Invalid", err)
	}
}

// TestTaskVersionUnstableDuringChange: while another process is making a
// change of a task its version is not stable (nothing read then is
// kept), and it is not repaired under that process's feet; once a
// process that died in the middle of a change holds the lock no more,
// the version is repaired and stable again.
func TestTaskVersionUnstableDuringChange(t *testing.T) {
	t.Parallel()
	f := newFolder(t)
	a, b := f.open(t), f.open(t)
	const id = "t_0123456789abcdef"
	v0, stable := taskVersionOf(t, a, "acme", id)
	if !stable {
		t.Fatal("the version of an untouched task is not stable")
	}
	c, err := b.tasks.begin() // b is in the middle of a change
	if err != nil {
		t.Fatal(err)
	}
	c.touch(id)
	for i := range 2 {
		a.tasks.lastRepair.Store(0)
		if _, stable := taskVersionOf(t, a, "acme", id); stable {
			t.Fatalf("check %d: the version is stable while another process's change is under way", i+1)
		}
	}
	// b dies: the kernel drops its lock; ended was never moved.
	syscall.Flock(int(b.tasks.f.Fd()), syscall.LOCK_UN)
	a.tasks.lastRepair.Store(0)
	taskVersionOf(t, a, "acme", id) // repairs
	if v, stable := taskVersionOf(t, a, "acme", id); !stable || v != v0+1 {
		t.Errorf("after the changing process died: version %d, stable %v; want %d, stable", v, stable, v0+1)
	}
}

// TestTaskFileReplacedOrRewound: a task version file removed, replaced or
// copied back over itself while a process runs leaves that process with
// no stable version (it keeps nothing) and refusing changes of tasks,
// never trusting counters other processes no longer move.
func TestTaskFileReplacedOrRewound(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		name string
		do   func(t *testing.T, path string, saved []byte)
	}{
		{"removed", func(t *testing.T, path string, _ []byte) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
		{"replaced", func(t *testing.T, path string, saved []byte) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, saved, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"rewound in place", func(t *testing.T, path string, saved []byte) {
			if err := os.WriteFile(path, saved, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := newFolder(t)
			db := f.open(t)
			tn := mustTenant(t, db, "acme")
			path := f.dbPath + taskFileSuffix
			saved, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			task, err := db.CreateTask(ctx, tn, bulwark.Task{Input: "x", Status: bulwark.TaskRunning})
			if err != nil {
				t.Fatal(err)
			}
			taskVersionOf(t, db, tn, task.ID)
			c.do(t, path, saved)
			if _, stable := taskVersionOf(t, db, tn, task.ID); stable {
				t.Error("the version is stable after the file was " + c.name)
			}
			if err := db.SetTaskStatus(ctx, tn, task.ID, bulwark.TaskWaiting); err == nil {
				t.Error("a change of a task was made after the file was " + c.name)
			}
		})
	}
}

// taskWrite matches SQL that changes the tasks table.
var taskWriteSQL = regexp.MustCompile(`(?i)\b(UPDATE\s+tasks\b|DELETE\s+FROM\s+tasks\b|INSERT\s+(OR\s+\w+\s+)?INTO\s+tasks\b|REPLACE\s+INTO\s+tasks\b)`)

// taskWriteExempt are the functions allowed to write tasks outside
// db.taskWrite, and why.
var taskWriteExempt = map[string]string{
	"addTaskUsage": "called only in AppendEvent's taskWrite, which touches the task when an event carries usage",
	"insertEvent":  "called in AppendEvent's taskWrite, which touches the task when the event changes its row (preparedEvent.changesTask), and in EndInterrupted's, which touches it",
}

// TestTaskWritesMoveTheVersion: every function of the package whose SQL
// changes the tasks table runs it in db.taskWrite, so that a server that
// keeps a task's answer sees the change at its next request. A method
// added later (deleting tasks, moving them) that writes tasks without it
// fails here.
func TestTaskWritesMoveTheVersion(t *testing.T) {
	found := 0
	for f := range funcBodies(t) {
		if !taskWriteSQL.MatchString(f.body) {
			continue
		}
		found++
		if _, ok := taskWriteExempt[f.name]; ok {
			continue
		}
		if !strings.Contains(f.body, "taskWrite(") || !strings.Contains(f.body, ".touch(") {
			t.Errorf("%s: %s writes %q without db.taskWrite and touch: a running server would keep answering what it kept", f.file, f.name, taskWriteSQL.FindString(f.body))
		}
	}
	if found < 4 { // create, set status, append an event, continue
		t.Errorf("found %d functions writing tasks; the scan is broken", found)
	}
}

// TestStripeOf: a task's stripe is its id's FNV-1a hash, within the file.
func TestStripeOf(t *testing.T) {
	for _, id := range []string{"", "t_0123456789abcdef", "t_x", strings.Repeat("é", 40)} {
		h := fnv.New32a()
		h.Write([]byte(id))
		if got, want := stripeOf(id), int(h.Sum32()%taskStripes); got != want {
			t.Errorf("stripeOf(%q) = %d, want %d", id, got, want)
		}
	}
}
