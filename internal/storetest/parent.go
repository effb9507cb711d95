package storetest

import (
	"context"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// testTaskParent: a sub-agent's task keeps its parent_id, the task list
// filters by parent, and a parent of another tenant is NotFound, as one
// that does not exist: a child cannot be hung under another tenant's task.
func testTaskParent(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	parent := mustTask(t, s, a, bulwark.Task{Input: "parent"})
	child := mustTask(t, s, a, bulwark.Task{Input: "child", ParentID: parent.ID})
	if child.ParentID != parent.ID {
		t.Errorf("CreateTask returned ParentID %q, want %q", child.ParentID, parent.ID)
	}
	mustTask(t, s, a, bulwark.Task{Input: "other"})
	got, err := s.Task(ctx, a, child.ID)
	if err != nil || got.ParentID != parent.ID {
		t.Errorf("Task(child) = %q, %v; want ParentID %q", got.ParentID, err, parent.ID)
	}
	if got, _ := s.Task(ctx, a, parent.ID); got.ParentID != "" {
		t.Errorf("a top-level task has ParentID %q", got.ParentID)
	}
	page, err := s.QueryTasks(ctx, a, bulwark.TaskQuery{Parent: parent.ID, Count: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Tasks) != 1 || page.Tasks[0].ID != child.ID || page.Total != 1 {
		t.Errorf("QueryTasks(Parent) = %v (total %d), want only the child %s", ids(page.Tasks), page.Total, child.ID)
	}
	if page, err := s.QueryTasks(ctx, b, bulwark.TaskQuery{Parent: parent.ID}); err != nil || len(page.Tasks) != 0 {
		t.Errorf("tenant b's QueryTasks(Parent of a) = %v, %v; want nothing", ids(page.Tasks), err)
	}
	for _, p := range []string{parent.ID, "t_doesnotexist"} {
		_, err := s.CreateTask(ctx, b, bulwark.Task{Input: "stray", ParentID: p})
		if bulwark.ErrorKind(err) != bulwark.NotFound {
			t.Errorf("CreateTask in b with parent %s = %v, want NotFound", p, err)
		}
	}
}

func ids(ts []bulwark.Task) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}
