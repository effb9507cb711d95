package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
)

var _ bulwark.ScheduleStore = (*DB)(nil)

const scheduleColumns = `id, tenant_id, cron, timezone, model, limits, overlap, owner_user, owner_key, input_ct, created, updated,
	next_run, last_run, last_task, runs, skipped, last_skipped, skip_reason, stopped`

// checkScheduleID refuses an id that is not a schedule's, so that a
// malformed one is NotFound-shaped Invalid rather than a query.
func checkScheduleID(op, id string) error {
	if !strings.HasPrefix(id, "sch_") || len(id) > 64 {
		return bulwark.Errorf(bulwark.NotFound, op, "no such schedule")
	}
	return nil
}

// CreateSchedule implements bulwark.ScheduleStore. The input is sealed.
func (db *DB) CreateSchedule(ctx context.Context, tenant bulwark.TenantID, s bulwark.Schedule) (bulwark.Schedule, error) {
	const op = "sqlite.CreateSchedule"
	if err := tenant.Check(op); err != nil {
		return s, err
	}
	if s.Cron == "" || s.Input == "" || s.NextRun.IsZero() {
		return s, bulwark.Errorf(bulwark.Invalid, op, "a schedule needs a cron spec, an input and a next run")
	}
	s.ID = bulwark.NewID("sch_")
	s.TenantID = string(tenant)
	s.Created = fromUnix(unixTime(db.now()))
	s.Updated = s.Created
	s.NextRun = fromUnix(unixTime(s.NextRun))
	s.Runs, s.Skipped, s.LastTask, s.SkipReason, s.Stopped = 0, 0, "", "", ""
	s.LastRun, s.LastSkipped = time.Time{}, time.Time{}
	limits, err := json.Marshal(s.Limits)
	if err != nil {
		return s, bulwark.E(bulwark.Invalid, op, "the schedule's limits cannot be stored", err)
	}
	input, err := db.seal(ctx, tenant, sealing.KindScheduleInput, s.ID, []byte(s.Input))
	if err != nil {
		return s, err
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO schedules (`+scheduleColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '', 0, 0, NULL, '', '')`,
			s.ID, tenant, s.Cron, s.Timezone, s.Model, string(limits), boolInt(s.Overlap), s.OwnerUser, s.OwnerKey, input,
			unixTime(s.Created), unixTime(s.Updated), unixTime(s.NextRun))
		return err
	})
	if err != nil {
		return s, unavailable(op, "store the schedule", err)
	}
	return s, nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// Schedule implements bulwark.ScheduleStore.
func (db *DB) Schedule(ctx context.Context, tenant bulwark.TenantID, id string) (bulwark.Schedule, error) {
	const op = "sqlite.Schedule"
	if err := tenant.Check(op); err != nil {
		return bulwark.Schedule{}, err
	}
	if err := checkScheduleID(op, id); err != nil {
		return bulwark.Schedule{}, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE tenant_id = ? AND id = ?`, tenant, id)
	if err != nil {
		return bulwark.Schedule{}, unavailable(op, "read the schedule", err)
	}
	ss, err := db.scanSchedules(ctx, op, rows)
	if err != nil {
		return bulwark.Schedule{}, err
	}
	if len(ss) == 0 {
		return bulwark.Schedule{}, bulwark.Errorf(bulwark.NotFound, op, "no such schedule")
	}
	return ss[0], nil
}

// ListSchedules implements bulwark.ScheduleStore.
func (db *DB) ListSchedules(ctx context.Context, tenant bulwark.TenantID) ([]bulwark.Schedule, error) {
	const op = "sqlite.ListSchedules"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE tenant_id = ? ORDER BY created, id`, tenant)
	if err != nil {
		return nil, unavailable(op, "list the schedules", err)
	}
	return db.scanSchedules(ctx, op, rows)
}

// UpdateSchedule implements bulwark.ScheduleStore.
func (db *DB) UpdateSchedule(ctx context.Context, tenant bulwark.TenantID, s bulwark.Schedule) (bulwark.Schedule, error) {
	const op = "sqlite.UpdateSchedule"
	if err := tenant.Check(op); err != nil {
		return s, err
	}
	if err := checkScheduleID(op, s.ID); err != nil {
		return s, err
	}
	if s.Cron == "" || s.Input == "" || s.NextRun.IsZero() {
		return s, bulwark.Errorf(bulwark.Invalid, op, "a schedule needs a cron spec, an input and a next run")
	}
	limits, err := json.Marshal(s.Limits)
	if err != nil {
		return s, bulwark.E(bulwark.Invalid, op, "the schedule's limits cannot be stored", err)
	}
	input, err := db.seal(ctx, tenant, sealing.KindScheduleInput, s.ID, []byte(s.Input))
	if err != nil {
		return s, err
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE schedules SET cron = ?, timezone = ?, model = ?, limits = ?, overlap = ?, input_ct = ?, next_run = ?, updated = ?,
			owner_user = ?, owner_key = ?, stopped = '' WHERE tenant_id = ? AND id = ?`,
			s.Cron, s.Timezone, s.Model, string(limits), boolInt(s.Overlap), input, unixTime(s.NextRun), unixTime(db.now()), s.OwnerUser, s.OwnerKey, tenant, s.ID)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return bulwark.Errorf(bulwark.NotFound, op, "no such schedule")
		}
		return nil
	})
	if err != nil {
		return s, unavailable(op, "update the schedule", err)
	}
	return db.Schedule(ctx, tenant, s.ID)
}

// DeleteSchedule implements bulwark.ScheduleStore.
func (db *DB) DeleteSchedule(ctx context.Context, tenant bulwark.TenantID, id string) error {
	const op = "sqlite.DeleteSchedule"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkScheduleID(op, id); err != nil {
		return err
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `DELETE FROM schedules WHERE tenant_id = ? AND id = ?`, tenant, id)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return bulwark.Errorf(bulwark.NotFound, op, "no such schedule")
		}
		return nil
	})
	if err != nil {
		return unavailable(op, "delete the schedule", err)
	}
	return nil
}

// DueSchedules implements bulwark.ScheduleStore.
func (db *DB) DueSchedules(ctx context.Context, now time.Time, limit int) ([]bulwark.Schedule, error) {
	const op = "sqlite.DueSchedules"
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+scheduleColumns+` FROM schedules WHERE stopped = '' AND next_run <= ? ORDER BY next_run, id LIMIT ?`,
		unixTime(now), limit)
	if err != nil {
		return nil, unavailable(op, "read the due schedules", err)
	}
	return db.scanSchedules(ctx, op, rows)
}

// ClaimScheduleTick implements bulwark.ScheduleStore: one conditional
// UPDATE, so that of several processes on one database exactly one wins.
func (db *DB) ClaimScheduleTick(ctx context.Context, tenant bulwark.TenantID, id string, tick, next time.Time) (bool, error) {
	const op = "sqlite.ClaimScheduleTick"
	if err := tenant.Check(op); err != nil {
		return false, err
	}
	if err := checkScheduleID(op, id); err != nil {
		return false, err
	}
	var claimed bool
	err := db.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE schedules SET next_run = ? WHERE tenant_id = ? AND id = ? AND next_run = ? AND stopped = ''`,
			unixTime(next), tenant, id, unixTime(tick))
		if err != nil {
			return err
		}
		n, err := r.RowsAffected()
		claimed = n == 1
		return err
	})
	if err != nil {
		return false, unavailable(op, "claim the schedule's tick", err)
	}
	return claimed, nil
}

// RecordScheduleRun implements bulwark.ScheduleStore.
func (db *DB) RecordScheduleRun(ctx context.Context, tenant bulwark.TenantID, id string, o bulwark.ScheduleOutcome) error {
	const op = "sqlite.RecordScheduleRun"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkScheduleID(op, id); err != nil {
		return err
	}
	var q string
	var args []any
	switch {
	case o.Stopped != "":
		q, args = `UPDATE schedules SET stopped = ?, skipped = skipped + 1, last_skipped = ?, skip_reason = ?`, []any{o.Stopped, unixTime(o.At), o.Stopped}
	case o.Skipped != "":
		q, args = `UPDATE schedules SET skipped = skipped + ?, last_skipped = ?, skip_reason = ?`, []any{max(1, o.Count), unixTime(o.At), o.Skipped}
	case o.Task != "":
		q, args = `UPDATE schedules SET runs = runs + 1, last_run = ?, last_task = ?`, []any{unixTime(o.At), o.Task}
	default:
		return bulwark.Errorf(bulwark.Invalid, op, "an outcome names a task, a skip or a stop")
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		r, err := tx.ExecContext(ctx, q+` WHERE tenant_id = ? AND id = ?`, append(args, tenant, id)...)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return bulwark.Errorf(bulwark.NotFound, op, "no such schedule")
		}
		return nil
	})
	if err != nil {
		return unavailable(op, "record the schedule's run", err)
	}
	return nil
}

// scanSchedules reads and opens schedule rows, closing rows.
func (db *DB) scanSchedules(ctx context.Context, op string, rows *sql.Rows) ([]bulwark.Schedule, error) {
	type row struct {
		s                      bulwark.Schedule
		limits                 string
		overlap                int64
		input                  []byte
		created, updated, next int64
		lastRun, lastSkipped   sql.NullInt64
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.s.ID, &r.s.TenantID, &r.s.Cron, &r.s.Timezone, &r.s.Model, &r.limits, &r.overlap, &r.s.OwnerUser, &r.s.OwnerKey,
			&r.input, &r.created, &r.updated, &r.next, &r.lastRun, &r.s.LastTask, &r.s.Runs, &r.s.Skipped, &r.lastSkipped,
			&r.s.SkipReason, &r.s.Stopped); err != nil {
			rows.Close()
			return nil, unavailable(op, "read the schedules", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "read the schedules", err)
	}
	out := make([]bulwark.Schedule, 0, len(all))
	for _, r := range all {
		s := r.s
		s.Overlap = r.overlap != 0
		s.Created, s.Updated, s.NextRun = fromUnix(r.created), fromUnix(r.updated), fromUnix(r.next)
		if r.lastRun.Valid {
			s.LastRun = fromUnix(r.lastRun.Int64)
		}
		if r.lastSkipped.Valid {
			s.LastSkipped = fromUnix(r.lastSkipped.Int64)
		}
		if err := json.Unmarshal([]byte(r.limits), &s.Limits); err != nil {
			return nil, bulwark.E(bulwark.Internal, op, "a stored schedule's limits are damaged", err)
		}
		input, err := db.open(ctx, bulwark.TenantID(s.TenantID), sealing.KindScheduleInput, s.ID, r.input)
		if err != nil {
			return nil, err
		}
		s.Input = string(input)
		out = append(out, s)
	}
	return out, nil
}
