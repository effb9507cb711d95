package main

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"

	"github.com/bulwark-agents/bulwark"
)

// settleEnded puts the files of tasks that had ended when the backup was
// made, but whose files were still only in their checkpoint, into the
// artifact store of the restored store db (in the folder dir), and drops
// the checkpoint, as the server would have done a moment later.
//
// A task's run ends with its status stored first, then its folder sealed
// into the artifact store, then its checkpoint dropped; a backup made in
// between has the task ended, its checkpoint (the folder as of its last
// step) and none or part of its files in the artifact store, and no
// folder (plain folders are never in a backup). A file already in the
// artifact store is kept as it is there (it is as new as the
// checkpoint's); a checkpoint marked sealed adds none (the store holds
// the files its run left). It returns how many tasks it settled.
func settleEnded(ctx context.Context, dir string, db store) (int, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, dbFileName)+"?"+q.Encode())
	if err != nil {
		return 0, err
	}
	defer raw.Close()
	rows, err := raw.QueryContext(ctx, `SELECT DISTINCT c.tenant_id, c.task_id FROM checkpoints c JOIN tasks t ON t.id = c.task_id
		WHERE t.status IN (?, ?, ?)`, string(bulwark.TaskSucceeded), string(bulwark.TaskFailed), string(bulwark.TaskCanceled))
	if err != nil {
		return 0, err
	}
	type ended struct{ tenant, task string }
	var todo []ended
	for rows.Next() {
		var e ended
		if err := rows.Scan(&e.tenant, &e.task); err != nil {
			rows.Close()
			return 0, err
		}
		todo = append(todo, e)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	for _, e := range todo {
		tenant := bulwark.TenantID(e.tenant)
		cp, err := db.LatestCheckpoint(ctx, tenant, e.task)
		if err != nil {
			return 0, err
		}
		have := map[string]bool{}
		arts, err := db.Artifacts(ctx, tenant, e.task)
		if err != nil {
			return 0, err
		}
		for _, a := range arts {
			have[a.Path] = true
		}
		files := cp.Files
		if cp.Sealed {
			// The run a stop cut off sealed its folder, newer than the
			// checkpoint, and a cancel then ended the task: its files are
			// those (as runner's settleCheckpoint keeps them).
			files = nil
		}
		for _, f := range files {
			if have[f.Path] {
				continue
			}
			content, err := db.Blob(ctx, tenant, e.task, f.SHA256)
			if err != nil {
				return 0, err
			}
			if _, err := db.PutArtifact(ctx, tenant, bulwark.Artifact{TaskID: e.task, Path: f.Path}, content); err != nil {
				return 0, err
			}
		}
		if err := db.DeleteCheckpoint(ctx, tenant, e.task); err != nil {
			return 0, err
		}
	}
	return len(todo), nil
}
