package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/storecheck"
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
	return db.continueTask(ctx, "sqlite.ContinueTask", tenant, id, limits, 0)
}

// ResumeTask is ContinueTask of a task of tenant that is interrupted in
// turn turn, as the caller read it: one that is not (another process
// resumed, continued or canceled it since) is bulwark.ErrTurnMoved
// (Conflict), and nothing changes.
func (db *DB) ResumeTask(ctx context.Context, tenant bulwark.TenantID, id string, turn int) (bulwark.Task, error) {
	return db.continueTask(ctx, "sqlite.ResumeTask", tenant, id, nil, turn)
}

// continueTask is ContinueTask, and, with turn > 0, ResumeTask.
func (db *DB) continueTask(ctx context.Context, op string, tenant bulwark.TenantID, id string, limits *bulwark.Limits, turn int) (bulwark.Task, error) {
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
		if turn > 0 {
			if err := checkTurn(ctx, tx, tenant, id, cur, turn); err != nil {
				return err
			}
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

// checkTurn is bulwark.ErrTurnMoved for a task whose status, read in tx,
// is cur, when it is no longer interrupted in turn turn.
func checkTurn(ctx context.Context, tx *sql.Tx, tenant bulwark.TenantID, id string, cur bulwark.TaskStatus, turn int) error {
	if cur != bulwark.TaskInterrupted {
		return bulwark.ErrTurnMoved
	}
	var turns int
	if err := tx.QueryRowContext(ctx, `SELECT turns FROM tasks WHERE tenant_id = ? AND id = ?`, tenant, id).Scan(&turns); err != nil {
		return err
	}
	if turns != turn {
		return bulwark.ErrTurnMoved
	}
	return nil
}

// EndInterrupted stores events, in order, for a task of tenant that is
// interrupted in turn turn, as the caller read it, in one transaction:
// the last, a task_finished, ends the task (as AppendEvent has it). A
// task that is not (another process resumed, continued or ended it
// since) is bulwark.ErrTurnMoved (Conflict), and nothing is stored.
// Events that are not the task's, or whose last is not a task_finished,
// are Invalid.
func (db *DB) EndInterrupted(ctx context.Context, tenant bulwark.TenantID, id string, turn int, events []bulwark.Event) error {
	const op = "sqlite.EndInterrupted"
	if err := storecheck.EndingEvents(op, id, events); err != nil {
		return err
	}
	ps := make([]preparedEvent, len(events))
	for i, e := range events {
		p, err := db.prepareEvent(ctx, op, tenant, e)
		if err != nil {
			return err
		}
		ps[i] = p
	}
	err := db.taskWrite(ctx, func(tx *sql.Tx, c *taskChange) error {
		cur, parent, err := taskStatusParent(ctx, tx, op, tenant, id)
		if err != nil {
			return err
		}
		if err := checkTurn(ctx, tx, tenant, id, cur, turn); err != nil {
			return err
		}
		c.touch(id, parent)
		for _, p := range ps {
			if err := db.insertEvent(ctx, tx, op, tenant, cur, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return unavailable(op, "end the interrupted task", err)
	}
	return nil
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
