package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/mcpclient"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
	"github.com/bulwark-agents/bulwark/workspace"
)

// TestTaskMemoryIsItsCreators: a task's private memories (scope "user")
// are its creator's, from the stored task's created_by to the memory
// tools prepareTask gives it: what user A's task remembers, A's next task
// recalls and user B's task of the same tenant does not; nor does a task
// no user created.
func TestTaskMemoryIsItsCreators(t *testing.T) {
	ctx := context.Background()
	withEnv(t, map[string]string{"BULWARK_SANDBOX": "off"})
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(t.TempDir(), "bulwark.db"), Keys: secret.NewKeyring()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tn, err := db.CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	lim, err := readTenantLimits()
	if err != nil {
		t.Fatal(err)
	}
	lim.local.all = true
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	// call runs one memory tool in a new task created by user.
	call := func(user, name string, args map[string]any) string {
		t.Helper()
		task, err := db.CreateTask(ctx, tn.ID, bulwark.Task{Input: "x", Model: "ollama:x", CreatedBy: user})
		if err != nil {
			t.Fatal(err)
		}
		if task, err = db.Task(ctx, tn.ID, task.ID); err != nil { // as the runner reads it
			t.Fatal(err)
		}
		setup, err := prepareTask(db, "", lim, false, nil, mcpclient.Config{}, nil, injectionSettings{})(ctx, task, ws)
		if err != nil {
			t.Fatal(err)
		}
		if setup.Close != nil {
			defer setup.Close()
		}
		raw, _ := json.Marshal(args)
		res, err := setup.Tools.Call(ctx, nil, name, raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return res.Output
	}
	call("u_alice", "remember", map[string]any{"text": "alice's zanzibar locker code is blue"})
	recall := map[string]any{"query": "zanzibar locker"}
	if got := call("u_alice", "recall", recall); !strings.Contains(got, "locker code") {
		t.Errorf("alice's next task recalls %q, want her memory", got)
	}
	if got := call("u_bob", "recall", recall); strings.Contains(got, "locker code") {
		t.Errorf("bob's task recalls alice's private memory: %q", got)
	}
	if got := call("", "recall", recall); strings.Contains(got, "locker code") {
		t.Errorf("a task no user created recalls alice's private memory: %q", got)
	}
}
