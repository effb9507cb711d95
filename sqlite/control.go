package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
	"github.com/bulwark-agents/bulwark/internal/storecheck"
)

var _ bulwark.ControlStore = (*DB)(nil)

const kindControl = sealing.KindControl

// controlsKept is how long taken requests stay before TakeControls
// deletes them.
const controlsKept = 24 * time.Hour

// SendControl implements bulwark.ControlStore.
func (db *DB) SendControl(ctx context.Context, tenant bulwark.TenantID, r bulwark.ControlRequest) (bulwark.ControlRequest, error) {
	const op = "sqlite.SendControl"
	if err := tenant.Check(op); err != nil {
		return r, err
	}
	if err := storecheck.ControlRequest(op, r); err != nil {
		return r, err
	}
	r.TenantID = string(tenant)
	r.ID = bulwark.NewID("ctl_")
	r.Created = db.now()
	payload, err := storecheck.ControlPayload(r)
	if err != nil {
		return r, bulwark.E(bulwark.Internal, op, "the request cannot be stored", err)
	}
	ct, err := db.seal(ctx, tenant, kindControl, r.ID, payload)
	if err != nil {
		return r, err
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		if _, err := taskStatus(ctx, tx, op, tenant, r.TaskID); err != nil {
			return err
		}
		if err := db.answeredAlready(ctx, tx, op, tenant, r); err != nil {
			return err
		}
		// The seq of the task's last event, unless the request has one.
		return tx.QueryRowContext(ctx, `INSERT INTO task_controls (id, tenant_id, task_id, turn, kind, payload_ct, created, event_seq)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?8 <> 0 THEN ?8 ELSE (SELECT COALESCE(MAX(seq), 0) FROM events WHERE task_id = ?3) END)
			RETURNING event_seq`,
			r.ID, tenant, r.TaskID, r.Turn, r.Kind, ct, unixTime(r.Created), r.EventSeq).Scan(&r.EventSeq)
	})
	if bulwark.ErrorKind(err) == bulwark.Conflict {
		return r, err
	}
	if err != nil {
		return r, unavailable(op, "store the request", err)
	}
	return r, nil
}

// answeredAlready is storecheck.AnsweredAlready with this store's query:
// the task's row is locked (or the writer is the only one) already.
func (db *DB) answeredAlready(ctx context.Context, tx *sql.Tx, op string, tenant bulwark.TenantID, r bulwark.ControlRequest) error {
	return storecheck.AnsweredAlready(ctx, tx, op, `SELECT id, payload_ct FROM task_controls WHERE tenant_id = ? AND task_id = ? AND turn = ? AND kind = ? AND taken IS NULL`, tenant, r,
		func(ctx context.Context, id string, ct []byte) ([]byte, error) {
			return db.open(ctx, tenant, kindControl, id, ct)
		})
}

// TakeControls implements bulwark.ControlStore: a read on the index of
// requests not taken, and a write only when there are some.
func (db *DB) TakeControls(ctx context.Context, tasks []bulwark.TaskRef) ([]bulwark.ControlRequest, error) {
	const op = "sqlite.TakeControls"
	if len(tasks) > controlsPerQuery {
		first, err := db.TakeControls(ctx, tasks[:controlsPerQuery])
		if err != nil {
			return first, err
		}
		rest, err := db.TakeControls(ctx, tasks[controlsPerQuery:])
		return append(first, rest...), err
	}
	if len(tasks) == 0 {
		return nil, nil
	}
	want := make(map[string]string, len(tasks)) // task -> tenant
	for _, t := range tasks {
		want[t.ID] = string(t.Tenant)
	}
	where, args := controlsWhere(tasks)
	var n int
	if err := db.readQueryRow(ctx, `SELECT COUNT(*) FROM task_controls WHERE taken IS NULL AND (`+where+`)`, args...).Scan(&n); err != nil {
		return nil, unavailable(op, "read the requests", err)
	}
	if n == 0 {
		return nil, nil
	}
	type row struct {
		r  bulwark.ControlRequest
		ct []byte
	}
	var rows []row
	now := db.now()
	err := db.write(ctx, func(tx *sql.Tx) error {
		rs, err := tx.QueryContext(ctx, `SELECT seq, id, tenant_id, task_id, turn, kind, payload_ct, created, event_seq FROM task_controls
			WHERE taken IS NULL AND (`+where+`) ORDER BY seq`, args...)
		if err != nil {
			return err
		}
		var seqs []any
		for rs.Next() {
			var x row
			var seq, created int64
			if err := rs.Scan(&seq, &x.r.ID, &x.r.TenantID, &x.r.TaskID, &x.r.Turn, &x.r.Kind, &x.ct, &created, &x.r.EventSeq); err != nil {
				rs.Close()
				return err
			}
			if want[x.r.TaskID] != x.r.TenantID {
				continue // not a task of the tenant named
			}
			x.r.Created = fromUnix(created)
			rows = append(rows, x)
			seqs = append(seqs, seq)
		}
		if err := rs.Close(); err != nil {
			return err
		}
		if len(seqs) == 0 {
			return nil
		}
		marks := strings.Repeat(",?", len(seqs))[1:]
		if _, err := tx.ExecContext(ctx, `UPDATE task_controls SET taken = ? WHERE seq IN (`+marks+`)`, append([]any{unixTime(now)}, seqs...)...); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM task_controls WHERE taken IS NOT NULL AND taken < ?`, unixTime(now.Add(-controlsKept)))
		return err
	})
	if err != nil {
		return nil, unavailable(op, "take the requests", err)
	}
	out := make([]bulwark.ControlRequest, 0, len(rows))
	for _, x := range rows {
		pt, err := db.open(ctx, bulwark.TenantID(x.r.TenantID), kindControl, x.r.ID, x.ct)
		if err != nil {
			return out, err
		}
		if err := storecheck.OpenControlPayload(op, &x.r, pt); err != nil {
			return out, err
		}
		out = append(out, x.r)
	}
	return out, nil
}

// controlsPerQuery is the most tasks one query of TakeControls names.
const controlsPerQuery = 500

// controlsWhere matches the requests of tasks by id, through the index
// of requests not taken; the caller checks each one's tenant.
func controlsWhere(tasks []bulwark.TaskRef) (string, []any) {
	args := make([]any, len(tasks))
	for i, t := range tasks {
		args[i] = t.ID
	}
	return "task_id IN (" + strings.Repeat(",?", len(tasks))[1:] + ")", args
}

// CancelStored implements bulwark.ControlStore.
func (db *DB) CancelStored(ctx context.Context, tenant bulwark.TenantID, id string, turn int) (bool, error) {
	const op = "sqlite.CancelStored"
	if err := tenant.Check(op); err != nil {
		return false, err
	}
	if err := checkTaskID(op, id); err != nil {
		return false, err
	}
	if _, err := db.Task(ctx, tenant, id); err != nil {
		return false, err
	}
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM task_controls WHERE tenant_id = ?1 AND task_id = ?2 AND taken IS NULL AND kind = ?3 AND turn = ?4`,
		tenant, id, bulwark.ControlCancel, turn).Scan(&n)
	if err != nil {
		return false, unavailable(op, "read the requests", err)
	}
	return n > 0, nil
}
