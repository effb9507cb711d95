package server

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/mcpserver"
)

// TestTaskCreatedBy: a task records the user who created it (its private
// memories are that user's): the signed-in user, or the user who made
// the API key it was created with, through the REST API and the Agent
// Protocol route; a key the operator made creates tasks of no user.
func TestTaskCreatedBy(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	ctx := context.Background()
	alice := te.a.users[bulwark.RoleMember]
	bob := te.user(te.a.id, "bob@a.test", bulwark.RoleMember)
	bobKey, _, err := IssueKey(ctx, te.db, te.a.id, KeySpec{Name: "bob's", Role: bulwark.RoleMember, CreatedBy: "user:" + bob.ID, CreatorUser: bob.ID})
	if err != nil {
		t.Fatal(err)
	}
	created := func(id string) string {
		t.Helper()
		task, err := te.db.Task(ctx, te.a.id, id)
		if err != nil {
			t.Fatal(err)
		}
		return task.CreatedBy
	}
	cookie := te.login(alice.Email)
	w := te.do(req{method: "POST", path: "/api/v1/tasks", body: `{"input":"hello"}`, cookie: cookie})
	if w.Code != http.StatusCreated {
		t.Fatalf("POST /api/v1/tasks as alice = %d %s", w.Code, w.Body)
	}
	v := decode[taskView](t, w)
	if v.CreatedBy != alice.ID || created(v.ID) != alice.ID {
		t.Errorf("alice's task: created_by %q, stored %q; want %s", v.CreatedBy, created(v.ID), alice.ID)
	}
	if v := te.createTask(bobKey, "hello"); created(v.ID) != bob.ID {
		t.Errorf("a task of bob's key: created_by %q, want %s", created(v.ID), bob.ID)
	}
	if v := te.createTask(te.key, "hello"); created(v.ID) != "" {
		t.Errorf("a task of an operator's key: created_by %q, want none", created(v.ID))
	}
	w = te.do(req{method: "POST", path: "/ap/v1/agent/tasks", body: `{"input":"hello"}`, key: bobKey})
	var ap struct {
		TaskID string `json:"task_id"`
	}
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &ap) != nil || ap.TaskID == "" {
		t.Fatalf("POST /ap/v1/agent/tasks = %d %s", w.Code, w.Body)
	}
	if got := created(ap.TaskID); got != bob.ID {
		t.Errorf("an Agent Protocol task of bob's key: created_by %q, want %s", got, bob.ID)
	}
}

// TestMCPTaskCreatedBy: MCP's create_task records the user whose key
// called it, as the REST API does.
func TestMCPTaskCreatedBy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	u := f.a.users[bulwark.RoleMember]
	key, _, err := IssueKey(ctx, f.e.db, f.a.id, KeySpec{Name: "mine", Role: bulwark.RoleMember, CreatedBy: "user:" + u.ID, CreatorUser: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	out := structured[mcpserver.TaskOut](t, "create_task", mcpCall(t, mcpClient(t, f, key, nil), "create_task", map[string]any{"input": "hello"}))
	if task, err := f.e.db.Task(ctx, f.a.id, out.ID); err != nil || task.CreatedBy != u.ID {
		t.Errorf("a task created through MCP: created_by %q, %v; want %s", task.CreatedBy, err, u.ID)
	}
}
