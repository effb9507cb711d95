package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
	"github.com/bulwark-agents/bulwark/internal/storecheck"
)

// Kinds of the sealed parts of a checkpoint.
const (
	kindCheckpoint = sealing.KindCheckpoint
	kindBlob       = sealing.KindCheckpointBlob
)

var _ bulwark.CheckpointStore = (*DB)(nil)

func blobRecordID(taskID, id string) string { return sealing.CheckpointBlobID(taskID, id) }

func checkpointRecordID(taskID string, seq int64) string { return sealing.CheckpointID(taskID, seq) }

// checkBlobID accepts only the form bulwark.BlobID gives.
func checkBlobID(op, id string) error { return storecheck.BlobID(op, id) }

// PutBlobs implements bulwark.CheckpointStore. Contents are sealed outside
// the write transaction; blobs the task has already are skipped.
func (db *DB) PutBlobs(ctx context.Context, tenant bulwark.TenantID, taskID string, contents [][]byte) error {
	const op = "sqlite.PutBlobs"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkTaskID(op, taskID); err != nil {
		return err
	}
	type blob struct {
		id   string
		size int
		ct   []byte
	}
	seen := map[string]bool{}
	var blobs []blob
	for _, c := range contents {
		id := bulwark.BlobID(c)
		if seen[id] {
			continue
		}
		seen[id] = true
		ct, err := db.seal(ctx, tenant, kindBlob, blobRecordID(taskID, id), c)
		if err != nil {
			return err
		}
		blobs = append(blobs, blob{id, len(c), ct})
	}
	now := unixTime(db.now())
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := taskStatus(ctx, tx, op, tenant, taskID); err != nil {
			return err
		}
		for _, b := range blobs {
			_, err := tx.ExecContext(ctx, `INSERT INTO checkpoint_blobs (task_id, id, tenant_id, size, content_ct, created)
				VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (task_id, id) DO NOTHING`,
				taskID, b.id, tenant, b.size, b.ct, now)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return unavailable(op, "store the task's checkpoint", err)
	}
	return nil
}

// PutCheckpoint implements bulwark.CheckpointStore: in one transaction it
// checks the blobs, replaces the task's checkpoint and deletes the blobs
// it does not refer to.
func (db *DB) PutCheckpoint(ctx context.Context, tenant bulwark.TenantID, c bulwark.Checkpoint) error {
	const op = "sqlite.PutCheckpoint"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkTaskID(op, c.TaskID); err != nil {
		return err
	}
	if c.Seq <= 0 {
		return bulwark.Errorf(bulwark.Invalid, op, "a checkpoint needs a seq")
	}
	for _, f := range c.Files {
		if err := checkArtifactPath(op, f.Path); err != nil {
			return err
		}
		if err := checkBlobID(op, f.SHA256); err != nil {
			return err
		}
	}
	c.Created = fromUnix(unixTime(db.now()))
	sums := make([]string, 0, len(c.Files))
	for _, f := range c.Files {
		sums = append(sums, f.SHA256)
	}
	ids, err := json.Marshal(sums)
	if err != nil {
		return bulwark.E(bulwark.Internal, op, "the checkpoint cannot be stored", err)
	}
	state, err := json.Marshal(c)
	if err != nil {
		return bulwark.E(bulwark.Internal, op, "the checkpoint cannot be stored", err)
	}
	ct, err := db.seal(ctx, tenant, kindCheckpoint, checkpointRecordID(c.TaskID, c.Seq), state)
	if err != nil {
		return err
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		if _, err := taskStatus(ctx, tx, op, tenant, c.TaskID); err != nil {
			return err
		}
		for _, f := range c.Files {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM checkpoint_blobs WHERE tenant_id = ? AND task_id = ? AND id = ?`,
				tenant, c.TaskID, f.SHA256).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return bulwark.Errorf(bulwark.Invalid, op, "the content of %s was not stored before its checkpoint", f.Path)
			}
			if err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM checkpoints WHERE tenant_id = ? AND task_id = ?`, tenant, c.TaskID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (task_id, seq, tenant_id, state_ct, created) VALUES (?, ?, ?, ?, ?)`,
			c.TaskID, c.Seq, tenant, ct, unixTime(c.Created)); err != nil {
			return err
		}
		// Blobs the checkpoint does not refer to are not needed any more.
		_, err := tx.ExecContext(ctx, `DELETE FROM checkpoint_blobs WHERE tenant_id = ? AND task_id = ? AND id NOT IN (SELECT value FROM json_each(?))`,
			tenant, c.TaskID, string(ids))
		return err
	})
	if err != nil {
		return unavailable(op, "store the task's checkpoint", err)
	}
	return nil
}

// LatestCheckpoint implements bulwark.CheckpointStore.
func (db *DB) LatestCheckpoint(ctx context.Context, tenant bulwark.TenantID, taskID string) (bulwark.Checkpoint, error) {
	const op = "sqlite.LatestCheckpoint"
	var c bulwark.Checkpoint
	if err := tenant.Check(op); err != nil {
		return c, err
	}
	if err := checkTaskID(op, taskID); err != nil {
		return c, err
	}
	var seq int64
	var ct []byte
	err := db.r.QueryRowContext(ctx, `SELECT seq, state_ct FROM checkpoints WHERE tenant_id = ? AND task_id = ? ORDER BY seq DESC LIMIT 1`,
		tenant, taskID).Scan(&seq, &ct)
	if errors.Is(err, sql.ErrNoRows) {
		return c, bulwark.Errorf(bulwark.NotFound, op, "the task has no checkpoint")
	}
	if err != nil {
		return c, unavailable(op, "read the task's checkpoint", err)
	}
	pt, err := db.open(ctx, tenant, kindCheckpoint, checkpointRecordID(taskID, seq), ct)
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(pt, &c); err != nil || c.TaskID != taskID || c.Seq != seq {
		return bulwark.Checkpoint{}, bulwark.E(bulwark.Internal, op, "a stored checkpoint does not match its record", err)
	}
	return c, nil
}

// Blob implements bulwark.CheckpointStore.
func (db *DB) Blob(ctx context.Context, tenant bulwark.TenantID, taskID, id string) ([]byte, error) {
	const op = "sqlite.Blob"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	if err := checkTaskID(op, taskID); err != nil {
		return nil, err
	}
	if err := checkBlobID(op, id); err != nil {
		return nil, err
	}
	var ct []byte
	err := db.r.QueryRowContext(ctx, `SELECT content_ct FROM checkpoint_blobs WHERE tenant_id = ? AND task_id = ? AND id = ?`,
		tenant, taskID, id).Scan(&ct)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, bulwark.Errorf(bulwark.NotFound, op, "no such blob")
	}
	if err != nil {
		return nil, unavailable(op, "read the task's checkpoint", err)
	}
	content, err := db.open(ctx, tenant, kindBlob, blobRecordID(taskID, id), ct)
	if err != nil {
		return nil, err
	}
	if bulwark.BlobID(content) != id {
		return nil, bulwark.Errorf(bulwark.Internal, op, "a stored blob does not match its id")
	}
	return content, nil
}

// DeleteCheckpoint implements bulwark.CheckpointStore.
func (db *DB) DeleteCheckpoint(ctx context.Context, tenant bulwark.TenantID, taskID string) error {
	const op = "sqlite.DeleteCheckpoint"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkTaskID(op, taskID); err != nil {
		return err
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		if _, err := taskStatus(ctx, tx, op, tenant, taskID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM checkpoints WHERE tenant_id = ? AND task_id = ?`, tenant, taskID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM checkpoint_blobs WHERE tenant_id = ? AND task_id = ?`, tenant, taskID)
		return err
	})
	if err != nil {
		return unavailable(op, "delete the task's checkpoint", err)
	}
	return nil
}
