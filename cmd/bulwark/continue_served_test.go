package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestRunContinueOfAServedTask: a task 'bulwark serve' ran, which no
// process runs now, goes on in the terminal with `run --continue`: its
// files come back from the store for the turn (the agent reads them),
// and go back into the store when the turn ends, with what the turn
// wrote, leaving no folder behind, as a server leaves them.
func TestRunContinueOfAServedTask(t *testing.T) {
	data, _ := ranTask(t)
	db, tenant := openTestStore(t, data)
	ctx := context.Background()
	script := filepath.Join(t.TempDir(), "script.jsonl")
	lines := `{"tool_calls": [{"name": "read_file", "arguments": {"path": "kept.txt"}}]}
{"tool_calls": [{"name": "write_file", "arguments": {"path": "new.txt", "content": "from the terminal"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "went on"}}]}
`
	if err := os.WriteFile(script, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	served, err := db.CreateTask(ctx, tenant, bulwark.Task{Input: "served", Model: "replay:" + script})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvent(ctx, tenant, bulwark.Event{Seq: 1, TaskID: served.ID, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "done"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutArtifact(ctx, tenant, bulwark.Artifact{TaskID: served.ID, Path: "kept.txt", Uploaded: true}, []byte("kept-content-5c4b\n")); err != nil {
		t.Fatal(err)
	}
	r := runBulwark(t, nil, "run", "--data", data, "--continue", served.ID, "go on")
	if r.code != 0 {
		t.Fatalf("run --continue of a served task: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	got, err := db.Task(ctx, tenant, served.ID)
	if err != nil || got.Turns != 2 || got.Status != bulwark.TaskSucceeded || got.Answer != "went on" {
		t.Errorf("after the turn the task is %+v, %v; want its second turn succeeded", got, err)
	}
	evs, err := db.Events(ctx, tenant, served.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	read := false
	for _, e := range evs {
		read = read || e.Type == bulwark.EventToolResult && strings.Contains(e.Text, "kept-content-5c4b")
	}
	if !read {
		t.Error("the turn did not find the file the server kept")
	}
	arts, err := db.Artifacts(ctx, tenant, served.ID)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, a := range arts {
		paths = append(paths, a.Path)
		if a.Path == "kept.txt" && !a.Uploaded {
			t.Error("kept.txt lost its uploaded mark")
		}
	}
	if strings.Join(paths, ",") != "kept.txt,new.txt" {
		t.Errorf("the store keeps %q after the turn, want kept.txt and new.txt", paths)
	}
	for _, dir := range []string{filepath.Join(data, "workspaces", served.ID), filepath.Join(data, "workspaces", string(tenant), served.ID)} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("the turn left the folder %s: %v", dir, err)
		}
	}
}

// TestTaskOfAnotherTenant: the terminal sees every tenant of the folder,
// so an ID of another tenant's task says which --tenant finds it.
func TestTaskOfAnotherTenant(t *testing.T) {
	data, id := ranTask(t)
	if r := runBulwark(t, nil, "tenants", "create", "demo", "--data", data); r.code != 0 {
		t.Fatalf("tenants create: %d %s", r.code, r.stderr)
	}
	for _, args := range [][]string{{"tasks", "show", "--data", data, id, "--tenant", "demo"}, {"run", "--data", data, "--tenant", "demo", "--continue", id, "more"}} {
		r := runBulwark(t, nil, args...)
		if r.code != exitFailed || !strings.Contains(r.stderr, "is a task of the tenant local, not of demo: add --tenant local") {
			t.Errorf("bulwark %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	r := runBulwark(t, nil, "tasks", "show", "t_0000000000000000", "--tenant", "demo", "--data", data)
	if r.code != exitFailed || !strings.Contains(r.stderr, `no task "t_0000000000000000" in the tenant demo`) {
		t.Errorf("unknown task: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestAuditVerifyNamesTenants: each tenant chain is shown with the
// tenant's name beside its id, read from the store without changing it.
func TestAuditVerifyNamesTenants(t *testing.T) {
	data, _ := ranTask(t)
	r := runBulwark(t, nil, "audit", "verify", "--data", data)
	if r.code != 0 || !strings.Contains(r.stdout, "tenant local (tn_") {
		t.Errorf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestRunContinueOfATaskCanceledAtStop: `run --continue` of a task a
// person canceled as its server stopped (interrupted, a cancel stored for
// its turn, as a server that died before it could end the task leaves
// it) is refused with a message that says so and what to do; the task
// and its cancel stay as they were, and no turn runs.
func TestRunContinueOfATaskCanceledAtStop(t *testing.T) {
	data, _ := ranTask(t)
	db, tenant := openTestStore(t, data)
	ctx := context.Background()
	script := filepath.Join(t.TempDir(), "script.jsonl")
	if err := os.WriteFile(script, []byte(twoTurnScript), 0o600); err != nil {
		t.Fatal(err)
	}
	task, err := db.CreateTask(ctx, tenant, bulwark.Task{Input: "served", Model: "replay:" + script})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvent(ctx, tenant, bulwark.Event{Seq: 1, TaskID: task.ID, Type: bulwark.EventTaskStarted}); err != nil {
		t.Fatal(err)
	}
	if err := db.SetTaskStatus(ctx, tenant, task.ID, bulwark.TaskInterrupted); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SendControl(ctx, tenant, bulwark.ControlRequest{TaskID: task.ID, Turn: 1, Kind: bulwark.ControlCancel, Actor: "alice"}); err != nil {
		t.Fatal(err)
	}
	r := runBulwark(t, nil, "run", "--data", data, "--continue", task.ID, "go on")
	if r.code != 1 || !strings.Contains(r.stderr, "canceled as its server stopped") || !strings.Contains(r.stderr, "bulwark tasks cancel "+task.ID) {
		t.Errorf("run --continue of a task canceled as it stopped: exit %d, %q; want 1, saying so and how to end it", r.code, r.stderr)
	}
	got, err := db.Task(ctx, tenant, task.ID)
	if err != nil || got.Status != bulwark.TaskInterrupted || got.Turns != 1 {
		t.Errorf("after the refused --continue the task is %+v, %v; want interrupted in turn 1", got, err)
	}
	if ok, err := db.CancelStored(ctx, tenant, task.ID, 1); !ok || err != nil {
		t.Errorf("after the refused --continue the cancel is stored: %v, %v; want it kept", ok, err)
	}
	if evs, err := db.Events(ctx, tenant, task.ID, 0, 0); err != nil || len(evs) != 1 {
		t.Errorf("%d events after the refused --continue (%v), want the one before", len(evs), err)
	}
}
