package storetest

import (
	"context"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// testTaskCreator: a task keeps the user who created it (created_by), read
// back by Task and ListTasks, since the task's private memories are that
// user's; a task made without a user reads back with none.
func testTaskCreator(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a := mustTenant(t, s, "a")
	mine := mustTask(t, s, a, bulwark.Task{Input: "mine", CreatedBy: "u_alice"})
	if mine.CreatedBy != "u_alice" {
		t.Errorf("CreateTask returned CreatedBy %q, want u_alice", mine.CreatedBy)
	}
	if got, err := s.Task(ctx, a, mine.ID); err != nil || got.CreatedBy != "u_alice" {
		t.Errorf("Task = %q, %v; want CreatedBy u_alice", got.CreatedBy, err)
	}
	none := mustTask(t, s, a, bulwark.Task{Input: "nobody's"})
	if got, err := s.Task(ctx, a, none.ID); err != nil || got.CreatedBy != "" {
		t.Errorf("Task(no user) = %q, %v; want no CreatedBy", got.CreatedBy, err)
	}
	list, err := s.ListTasks(ctx, a, bulwark.ListTasksOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range list {
		want := map[string]string{mine.ID: "u_alice", none.ID: ""}[task.ID]
		if task.CreatedBy != want {
			t.Errorf("ListTasks: task %s has CreatedBy %q, want %q", task.ID, task.CreatedBy, want)
		}
	}
}
