package sqlite

import (
	"context"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// continueTests: which statuses a new turn may start from.
var continueTests = []struct {
	status bulwark.TaskStatus
	reason bulwark.FinishReason // for a task that ended
	ok     bool
}{
	{bulwark.TaskQueued, "", false},
	{bulwark.TaskRunning, "", false},
	{bulwark.TaskWaiting, "", false},
	{bulwark.TaskInterrupted, "", true},
	{bulwark.TaskSucceeded, bulwark.FinishDone, true},
	{bulwark.TaskFailed, bulwark.FinishError, true},
	{bulwark.TaskCanceled, bulwark.FinishCanceled, true},
}

func TestContinueTask(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newFolder(t).open(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	for _, tt := range continueTests {
		task, err := db.CreateTask(ctx, a, bulwark.Task{Input: "x", Limits: bulwark.Limits{MaxSteps: 7}})
		if err != nil {
			t.Fatal(err)
		}
		if task.Turns != 1 {
			t.Errorf("a new task has %d turns, want 1", task.Turns)
		}
		if tt.reason != "" {
			err = db.AppendEvent(ctx, a, bulwark.Event{TaskID: task.ID, Seq: 1, Type: bulwark.EventTaskFinished, Reason: tt.reason, Text: "the answer"})
		} else if tt.status != bulwark.TaskQueued {
			err = db.SetTaskStatus(ctx, a, task.ID, tt.status)
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ContinueTask(ctx, b, task.ID, nil); bulwark.ErrorKind(err) != bulwark.NotFound {
			t.Errorf("ContinueTask of A's %s task by B: %v, want not found", tt.status, err)
		}
		got, err := db.ContinueTask(ctx, a, task.ID, &bulwark.Limits{MaxSteps: 3})
		if !tt.ok {
			if bulwark.ErrorKind(err) != bulwark.Conflict {
				t.Errorf("ContinueTask of a %s task: %v, want conflict", tt.status, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ContinueTask of a %s task: %v", tt.status, err)
			continue
		}
		if got.Status != bulwark.TaskQueued || got.Turns != 2 || got.Limits.MaxSteps != 3 || got.Answer != "" || got.Reason != "" {
			t.Errorf("ContinueTask of a %s task = %+v, want queued, turn 2, the new limits, no answer", tt.status, got)
		}
		// Once queued it cannot be continued again until it stops.
		if _, err := db.ContinueTask(ctx, a, task.ID, nil); bulwark.ErrorKind(err) != bulwark.Conflict {
			t.Errorf("a second ContinueTask: %v, want conflict", err)
		}
	}
}

func TestDeleteArtifacts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newFolder(t).open(t)
	a, b := mustTenant(t, db, "a"), mustTenant(t, db, "b")
	task, err := db.CreateTask(ctx, a, bulwark.Task{Input: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutArtifact(ctx, a, bulwark.Artifact{TaskID: task.ID, Path: "a.txt"}, []byte("A")); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteArtifacts(ctx, b, task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("DeleteArtifacts by another tenant: %v, want not found", err)
	}
	if list, _ := db.Artifacts(ctx, a, task.ID); len(list) != 1 {
		t.Fatalf("another tenant's DeleteArtifacts removed %d files", 1-len(list))
	}
	if err := db.DeleteArtifacts(ctx, a, task.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := db.Artifacts(ctx, a, task.ID); len(list) != 0 {
		t.Errorf("after DeleteArtifacts: %+v, want none", list)
	}
}
