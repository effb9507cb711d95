package storetest

import (
	"context"
	"slices"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// testTaskWithChildren: the task and its children in one read are what
// Task and QueryTasks(Parent) say, newest child first, capped at limit;
// another tenant's task is NotFound, and so are its children.
func testTaskWithChildren(t *testing.T, open func(*testing.T) Store) {
	ctx := context.Background()
	s := open(t)
	fr, ok := s.(bulwark.TaskFamilyReader)
	if !ok {
		t.Fatal("the store does not implement bulwark.TaskFamilyReader")
	}
	a, b := mustTenant(t, s, "a"), mustTenant(t, s, "b")
	parent := mustTask(t, s, a, bulwark.Task{Input: "parent"})
	var want []string
	for _, in := range []string{"one", "two", "three"} {
		want = append(want, mustTask(t, s, a, bulwark.Task{Input: in, ParentID: parent.ID}).ID)
	}
	mustTask(t, s, a, bulwark.Task{Input: "other"})
	page, err := s.QueryTasks(ctx, a, bulwark.TaskQuery{Parent: parent.ID})
	if err != nil {
		t.Fatal(err)
	}
	got, kids, err := fr.TaskWithChildren(ctx, a, parent.ID, 10)
	if err != nil || got.ID != parent.ID || got.Input != "parent" {
		t.Fatalf("TaskWithChildren = %s %q, %v; want the parent", got.ID, got.Input, err)
	}
	if !slices.Equal(ids(kids), ids(page.Tasks)) || len(kids) != len(want) {
		t.Errorf("children = %v, want %v (QueryTasks' order)", ids(kids), ids(page.Tasks))
	}
	if _, kids, _ := fr.TaskWithChildren(ctx, a, parent.ID, 2); !slices.Equal(ids(kids), ids(page.Tasks[:2])) {
		t.Errorf("children with limit 2 = %v, want %v", ids(kids), ids(page.Tasks[:2]))
	}
	if _, kids, err := fr.TaskWithChildren(ctx, a, want[0], 10); err != nil || len(kids) != 0 {
		t.Errorf("a task without children: %v, %v; want none", ids(kids), err)
	}
	for _, c := range []struct {
		tenant bulwark.TenantID
		id     string
	}{{b, parent.ID}, {a, "t_doesnotexist"}} {
		if _, kids, err := fr.TaskWithChildren(ctx, c.tenant, c.id, 10); bulwark.ErrorKind(err) != bulwark.NotFound || len(kids) != 0 {
			t.Errorf("TaskWithChildren(%s, %s) = %v, %v; want NotFound and nothing", c.tenant, c.id, ids(kids), err)
		}
	}
}
