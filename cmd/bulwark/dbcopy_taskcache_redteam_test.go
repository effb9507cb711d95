package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestDBCopyForceMovesTaskVersions: `bulwark db copy --force` into the data
// folder of a running server replaces the tasks table with raw SQL, behind
// the store. A process holding the target open (a server keeping task
// answers while a task's version holds) must see each task's version move
// or become unstable: otherwise it keeps answering a task the copy deleted,
// or its status from before the copy put an older one back.
func TestDBCopyForceMovesTaskVersions(t *testing.T) {
	clearStoreEnv(t)
	ctx := context.Background()
	key := newTestKey(t)
	t.Setenv("BULWARK_MASTER_KEY", key)
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "snapshot"), filepath.Join(dir, "live")

	live := openTestLocation(t, dst, key) // the running server's opening
	in := fillStore(t, live)
	if code, stdout, stderr := runDispatch("db", "copy", "--from", dst, "--to", src); code != exitOK {
		t.Fatalf("db copy into the snapshot: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// After the snapshot: a new task, and the old one continued and stopped.
	added, err := live.CreateTask(ctx, in.tenant, bulwark.Task{Input: "made after the snapshot", Status: bulwark.TaskRunning})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.ContinueTask(ctx, in.tenant, in.taskID, nil); err != nil {
		t.Fatal(err)
	}
	if err := live.SetTaskStatus(ctx, in.tenant, in.taskID, bulwark.TaskInterrupted); err != nil {
		t.Fatal(err)
	}
	tv, ok := live.(bulwark.TaskVersioner)
	if !ok {
		t.Skip("the SQLite store keeps no task versions")
	}
	before := map[string]uint64{}
	for _, id := range []string{added.ID, in.taskID} {
		v, stable, err := tv.TaskVersion(ctx, in.tenant, id)
		if err != nil || !stable {
			t.Fatalf("TaskVersion(%s) = %d, %v, %v; want a stable version", id, v, stable, err)
		}
		before[id] = v
	}
	av, ok := live.(bulwark.AuthVersioner)
	if !ok {
		t.Fatal("the SQLite store keeps no authentication version")
	}
	authBefore, stable, err := av.AuthVersion(ctx)
	if err != nil || !stable {
		t.Fatalf("AuthVersion = %d, %v, %v; want a stable version", authBefore, stable, err)
	}

	if code, stdout, stderr := runDispatch("db", "copy", "--from", src, "--to", dst, "--force"); code != exitOK {
		t.Fatalf("db copy --force into the live folder: exit %d\n%s\n%s", code, stdout, stderr)
	}

	if _, err := live.Task(ctx, in.tenant, added.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Fatalf("after the copy, the task made after the snapshot reads %v, want not found (the test copies nothing)", err)
	}
	if got, err := live.Task(ctx, in.tenant, in.taskID); err != nil || got.Status != bulwark.TaskSucceeded {
		t.Fatalf("after the copy, the task reads %s, %v; want succeeded as in the snapshot", got.Status, err)
	}
	for id, v := range before {
		now, stable, err := tv.TaskVersion(ctx, in.tenant, id)
		if err != nil {
			t.Fatal(err)
		}
		if stable && now == v {
			t.Errorf("db copy --force changed task %s, but its version is still %d and stable: a running server keeps answering what it kept", id, v)
		}
	}
	// The copy replaced the API keys and users too: a key it removed must
	// not keep authenticating at a server that kept it.
	if now, stable, err := av.AuthVersion(ctx); err != nil || stable && now == authBefore {
		t.Errorf("db copy --force replaced the keys, but the authentication version is still %d (stable %v, %v): a running server keeps the keys it read", now, stable, err)
	}
}
