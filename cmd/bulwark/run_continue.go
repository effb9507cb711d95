package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/workspace"
)

// `bulwark run --continue ID MESSAGE`: a new turn of a stopped task of
// the local tenant, in the same conversation and workspace folder (see
// runner/continue.go for the server's side).

func localTask(ctx context.Context, db store, tenant bulwark.TenantID, id string) (bulwark.Task, error) {
	t, err := db.Task(ctx, tenant, id)
	if bulwark.ErrorKind(err) == bulwark.NotFound || bulwark.ErrorKind(err) == bulwark.Invalid {
		return t, notTenantsTask(ctx, db, tenant, id, "run")
	}
	return t, err
}

// servedFolder returns the workspace folder of a task whose files are
// kept the way 'bulwark serve' keeps them, or "" for a task of 'bulwark
// run', whose folder is workspaces/TASK (or the --workspace given,
// workspaceFlag). The server keeps a stopped task's files sealed in the
// store, and its folder, workspaces/TENANT/TASK, only while it runs it; a
// turn run here does the same (restoreServed, then sealServed), so that
// the task goes on in either. A task with no folder of 'bulwark run' and
// no --workspace is kept that way too.
func servedFolder(ctx context.Context, db store, data, workspaceFlag string, tenant bulwark.TenantID, t bulwark.Task) (string, error) {
	arts, err := db.Artifacts(ctx, tenant, t.ID)
	if err != nil {
		return "", err
	}
	if workspaceFlag != "" {
		if len(arts) > 0 {
			return "", usagef("task %s keeps its files in the store, as bulwark serve does: continue it without --workspace", t.ID)
		}
		return "", nil
	}
	if fi, err := os.Lstat(filepath.Join(data, "workspaces", t.ID)); err == nil && fi.IsDir() && len(arts) == 0 {
		return "", nil
	}
	return filepath.Join(data, "workspaces", string(tenant), t.ID), nil
}

// restoreServed moves the sealed files of a served task into ws for a
// turn run here, and out of the store, as the server does before a new
// turn. It returns the paths a person uploaded.
func restoreServed(ctx context.Context, db store, tenant bulwark.TenantID, id string, ws *workspace.Workspace) (map[string]bool, error) {
	kept, err := db.Artifacts(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	uploads := map[string]bool{}
	for _, a := range kept {
		_, data, err := db.ArtifactContent(ctx, tenant, id, a.Path)
		if err != nil {
			return nil, err
		}
		if err := ws.WriteFile(a.Path, data); err != nil {
			return nil, bulwark.E(bulwark.Internal, "run", "the task's files could not be put back in its workspace", err)
		}
		uploads[a.Path] = a.Uploaded
	}
	if len(kept) > 0 {
		if err := db.DeleteArtifacts(ctx, tenant, id); err != nil {
			return nil, err
		}
	}
	return uploads, nil
}

// sealServed seals the regular files of a served task's folder into the
// store and removes the folder, as the server does when a run stops.
func sealServed(ctx context.Context, db store, tenant bulwark.TenantID, id, dir string, uploads map[string]bool) error {
	ws, err := workspace.Open(dir)
	if err != nil {
		return err
	}
	err = ws.Walk(".", func(name string, info fs.FileInfo) error {
		if info.IsDir() {
			return nil
		}
		data, err := ws.ReadFile(name)
		if err != nil { // a link, a special file, too big: not kept
			return nil
		}
		_, err = db.PutArtifact(ctx, tenant, bulwark.Artifact{TaskID: id, Path: name, Uploaded: uploads[name]}, data)
		return err
	})
	ws.Close()
	if err != nil {
		return err
	}
	return os.RemoveAll(dir)
}

// continueLocal opens a new turn of the task id with message: the task is
// queued again with its turn counted (limits, when not nil, replace its
// own), the message is stored as the turn's first step, and the stored
// steps are returned for the agent to rebuild the conversation from.
func continueLocal(ctx context.Context, db store, tenant bulwark.TenantID, id, message string, limits *bulwark.Limits) (bulwark.Task, []bulwark.Event, error) {
	t, err := localTask(ctx, db, tenant, id)
	if err != nil {
		return t, nil, err
	}
	if !t.Status.Continuable() {
		return t, nil, bulwark.Errorf(bulwark.Conflict, "run",
			"the task is %s: only a stopped task (succeeded, failed, canceled or interrupted) can be continued", t.Status)
	}
	history, err := db.Events(ctx, tenant, id, 0, 0)
	if err != nil {
		return t, nil, err
	}
	var last bulwark.Event
	if n := len(history); n > 0 {
		last = history[n-1]
	}
	if t, err = db.ContinueTask(ctx, tenant, id, limits); err != nil {
		if errors.Is(err, bulwark.ErrCanceledAtStop) {
			return t, nil, bulwark.E(bulwark.Conflict, "run", fmt.Sprintf("task %s was canceled as its server stopped, and does not go on: "+
				"end it with bulwark tasks cancel %s, then continue it with bulwark run --continue", id, id), err)
		}
		return t, nil, err
	}
	msg := bulwark.Event{Seq: last.Seq + 1, TaskID: id, Time: time.Now(), Type: bulwark.EventUserMessage, Step: last.Step, Text: message}
	if err := db.AppendEvent(ctx, tenant, msg); err != nil {
		// Leave no half-open turn behind.
		db.AppendEvent(context.WithoutCancel(ctx), tenant, bulwark.Event{Seq: last.Seq + 1, TaskID: id, Time: time.Now(),
			Type: bulwark.EventTaskFinished, Step: last.Step, Reason: bulwark.FinishError, Text: "the message could not be stored"})
		return t, nil, err
	}
	return t, append(history, msg), nil
}
