package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/bulwark-agents/bulwark"
)

// ContinueTask opens a new turn of the conversation of a task of tenant
// that has stopped (see bulwark.TaskStatus.Continuable): in one
// transaction it puts the task back in the queue, counts the turn, and
// clears the answer and reason of the turn before. limits, when not nil,
// replace the task's limits from this turn on. A task that is queued,
// running or waiting is Conflict; an unknown one NotFound. It returns the
// task as stored.
//
// The turn of an interrupted task goes on in the new one: the messages
// stored for it and not taken (those its cut-off run had not read) move
// to the new turn, in the same transaction, for the run that goes on.
// Other requests stay with the turn before, which no run takes up; but
// a cancel stored for it and not taken (a person canceled the task as its
// run stopped) is carried out instead: ContinueTask changes nothing and
// is bulwark.ErrCanceledAtStop (Conflict).
func (db *DB) ContinueTask(ctx context.Context, tenant bulwark.TenantID, id string, limits *bulwark.Limits) (bulwark.Task, error) {
	const op = "sqlite.ContinueTask"
	if err := tenant.Check(op); err != nil {
		return bulwark.Task{}, err
	}
	if err := checkTaskID(op, id); err != nil {
		return bulwark.Task{}, err
	}
	var lim []byte
	if limits != nil {
		var err error
		if lim, err = json.Marshal(limits); err != nil {
			return bulwark.Task{}, bulwark.E(bulwark.Invalid, op, "the task's limits cannot be stored", err)
		}
	}
	err := db.taskWrite(ctx, func(tx *sql.Tx, c *taskChange) error {
		cur, parent, err := taskStatusParent(ctx, tx, op, tenant, id)
		if err != nil {
			return err
		}
		if !cur.Continuable() {
			return bulwark.Errorf(bulwark.Conflict, op, "the task is %s, not stopped", cur)
		}
		c.touch(id, parent)
		if cur == bulwark.TaskInterrupted {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM task_controls
				WHERE tenant_id = ?1 AND task_id = ?2 AND taken IS NULL AND kind = ?3
				AND turn = (SELECT turns FROM tasks WHERE tenant_id = ?1 AND id = ?2)`,
				tenant, id, bulwark.ControlCancel).Scan(&n)
			if err != nil {
				return err
			}
			if n > 0 {
				return bulwark.ErrCanceledAtStop
			}
			_, err = tx.ExecContext(ctx, `UPDATE task_controls SET turn = turn + 1
				WHERE tenant_id = ?1 AND task_id = ?2 AND taken IS NULL AND kind = ?3
				AND turn = (SELECT turns FROM tasks WHERE tenant_id = ?1 AND id = ?2)`,
				tenant, id, bulwark.ControlMessage)
			if err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE tasks SET status = ?, turns = turns + 1, answer_ct = NULL, reason = '',
			limits = COALESCE(?, limits), updated = ? WHERE tenant_id = ? AND id = ?`,
			bulwark.TaskQueued, nullString(string(lim)), unixTime(db.now()), tenant, id)
		return err
	})
	if err != nil {
		return bulwark.Task{}, unavailable(op, "continue the task", err)
	}
	return db.Task(ctx, tenant, id)
}

// DeleteArtifacts removes every file kept for a task of tenant: its
// files have moved back into its workspace folder for a new turn. An
// unknown task is NotFound.
func (db *DB) DeleteArtifacts(ctx context.Context, tenant bulwark.TenantID, taskID string) error {
	const op = "sqlite.DeleteArtifacts"
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
		_, err := tx.ExecContext(ctx, `DELETE FROM artifacts WHERE tenant_id = ? AND task_id = ?`, tenant, taskID)
		return err
	})
	if err != nil {
		return unavailable(op, "delete the task's files", err)
	}
	return nil
}
