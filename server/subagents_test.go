package server

import (
	"net/http"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestSubAgentTasksNest: a delegate call's child is a task of the API with
// parent_id, listed under its parent (GET /tasks/{id} children, GET
// /tasks?parent=), with its own steps; another tenant finds neither.
func TestSubAgentTasksNest(t *testing.T) {
	te := newTaskEnv(t)
	parent := te.createTask(te.key, "delegate:write:from the child")
	done := te.waitTask(te.key, parent.ID, ended)
	if done.Status != bulwark.TaskSucceeded || done.Answer != "parent done: wrote out.txt" {
		t.Fatalf("parent = %s %q", done.Status, done.Answer)
	}
	if len(done.Children) != 1 || done.Children[0].Input != "write:from the child" || done.Children[0].Status != bulwark.TaskSucceeded {
		t.Fatalf("children = %+v, want the one sub-agent, succeeded", done.Children)
	}
	childID := done.Children[0].ID
	child := decode[taskView](t, te.do(req{method: "GET", path: "/api/v1/tasks/" + childID, key: te.key}))
	if child.ParentID != parent.ID {
		t.Errorf("child's parent_id = %q, want %q", child.ParentID, parent.ID)
	}
	list := decode[taskList](t, te.do(req{method: "GET", path: "/api/v1/tasks?parent=" + parent.ID, key: te.key}))
	if len(list.Tasks) != 1 || list.Tasks[0].ID != childID {
		t.Errorf("?parent= lists %+v, want only the child", list.Tasks)
	}
	var wrote, linked bool
	for _, e := range te.steps(childID) {
		wrote = wrote || e.Type == bulwark.EventToolResult && e.Tool == "write_file" && !e.IsError
	}
	for _, e := range te.steps(parent.ID) {
		linked = linked || e.Child == childID
	}
	if !wrote || !linked {
		t.Errorf("child's steps hold its write: %v; a parent's step names the child: %v", wrote, linked)
	}

	other := te.tenant("b").keys[bulwark.RoleOwner]
	for _, path := range []string{"/api/v1/tasks/" + childID, "/api/v1/tasks/" + childID + "/steps", "/api/v1/tasks?parent=" + parent.ID} {
		if w := te.do(req{method: "GET", path: path, key: other}); w.Code != http.StatusNotFound {
			t.Errorf("another tenant's GET %s = %d, want 404", path, w.Code)
		}
	}
}
