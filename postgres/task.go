package postgres

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/sealing"
	"github.com/bulwark-agents/bulwark/internal/storecheck"
)

const taskColumns = `id, tenant_id, status, model, limits, input_ct, answer_ct, reason, created, turns, parent_id, schedule_id, created_by`

// taskReadColumns are what scanTasks reads: taskColumns and the task's
// usage and run times, which AppendEvent keeps.
const taskReadColumns = taskColumns + `, input_tokens, output_tokens, cost, started, finished`

func checkTaskID(op, id string) error { return storecheck.TaskID(op, id) }

// CreateTask implements bulwark.TaskStore. The input is sealed; status,
// model, limits and dates are kept in the clear.
func (db *DB) CreateTask(ctx context.Context, tenant bulwark.TenantID, t bulwark.Task) (bulwark.Task, error) {
	const op = "postgres.CreateTask"
	if err := tenant.Check(op); err != nil {
		return t, err
	}
	if t.ID == "" {
		t.ID = bulwark.NewID("t_")
	}
	if err := checkTaskID(op, t.ID); err != nil {
		return t, err
	}
	if t.ParentID != "" {
		if err := checkTaskID(op, t.ParentID); err != nil {
			return t, err
		}
	}
	if t.Status == "" {
		t.Status = bulwark.TaskQueued
	}
	if t.Created.IsZero() {
		t.Created = db.now()
	}
	t.Created = fromUnix(unixTime(t.Created))
	t.TenantID = string(tenant)
	t.Turns = max(t.Turns, 1)
	limits, err := json.Marshal(t.Limits)
	if err != nil {
		return t, bulwark.E(bulwark.Invalid, op, "the task's limits cannot be stored", err)
	}
	input, err := db.seal(ctx, tenant, kindTaskInput, t.ID, []byte(t.Input))
	if err != nil {
		return t, err
	}
	var answer []byte
	if t.Answer != "" {
		if answer, err = db.seal(ctx, tenant, kindTaskAnswer, t.ID, []byte(t.Answer)); err != nil {
			return t, err
		}
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tasks WHERE id = $1`, t.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return bulwark.Errorf(bulwark.Conflict, op, "a task with this id already exists")
		}
		if t.ParentID != "" {
			// A parent of another tenant is as unknown as one that does not exist.
			var p int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tasks WHERE tenant_id = $1 AND id = $2`, tenant, t.ParentID).Scan(&p); err != nil {
				return err
			}
			if p == 0 {
				return bulwark.Errorf(bulwark.NotFound, op, "no such parent task")
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO tasks (`+taskColumns+`, updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			t.ID, tenant, t.Status, t.Model, string(limits), input, answer, t.Reason, unixTime(t.Created), t.Turns, nullString(t.ParentID), nullString(t.ScheduleID), nullString(t.CreatedBy), unixTime(db.now()))
		if isCode(err, codeUniqueViolation) {
			return bulwark.E(bulwark.Conflict, op, "a task with this id already exists", err)
		}
		return err
	})
	if err != nil {
		return t, unavailable(op, "store the task", err)
	}
	return t, nil
}

// Task implements bulwark.TaskStore.
func (db *DB) Task(ctx context.Context, tenant bulwark.TenantID, id string) (bulwark.Task, error) {
	const op = "postgres.Task"
	if err := tenant.Check(op); err != nil {
		return bulwark.Task{}, err
	}
	if err := checkTaskID(op, id); err != nil {
		return bulwark.Task{}, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+taskReadColumns+` FROM tasks WHERE tenant_id = $1 AND id = $2`, tenant, id)
	if err != nil {
		return bulwark.Task{}, unavailable(op, "read the task", err)
	}
	ts, err := db.scanTasks(ctx, op, tenant, rows)
	if err != nil {
		return bulwark.Task{}, err
	}
	if len(ts) == 0 {
		return bulwark.Task{}, bulwark.Errorf(bulwark.NotFound, op, "no such task")
	}
	return ts[0], nil
}

// ListTasks implements bulwark.TaskStore.
func (db *DB) ListTasks(ctx context.Context, tenant bulwark.TenantID, opt bulwark.ListTasksOptions) ([]bulwark.Task, error) {
	const op = "postgres.ListTasks"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	limit := opt.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+taskReadColumns+` FROM tasks WHERE tenant_id = $1 ORDER BY created DESC, id DESC LIMIT $2`, tenant, limit)
	if err != nil {
		return nil, unavailable(op, "list the tasks", err)
	}
	return db.scanTasks(ctx, op, tenant, rows)
}

// scanTasks reads and decrypts task rows, closing rows.
func (db *DB) scanTasks(ctx context.Context, op string, tenant bulwark.TenantID, rows *sql.Rows) ([]bulwark.Task, error) {
	type row struct {
		t                 bulwark.Task
		limits            string
		input, answer     []byte
		created           int64
		started, finished sql.NullInt64
		parent            sql.NullString
		schedule          sql.NullString
		createdBy         sql.NullString
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.t.ID, &r.t.TenantID, &r.t.Status, &r.t.Model, &r.limits, &r.input, &r.answer, &r.t.Reason, &r.created, &r.t.Turns,
			&r.parent, &r.schedule, &r.createdBy, &r.t.Usage.InputTokens, &r.t.Usage.OutputTokens, &r.t.Usage.Cost, &r.started, &r.finished); err != nil {
			rows.Close()
			return nil, unavailable(op, "read the tasks", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "read the tasks", err)
	}
	ts := make([]bulwark.Task, 0, len(all))
	for _, r := range all {
		t := r.t
		t.Created = fromUnix(r.created)
		t.ParentID = r.parent.String
		t.ScheduleID = r.schedule.String
		t.CreatedBy = r.createdBy.String
		if r.started.Valid {
			t.Started = fromUnix(r.started.Int64)
		}
		if r.finished.Valid {
			t.Finished = fromUnix(r.finished.Int64)
		}
		if err := json.Unmarshal([]byte(r.limits), &t.Limits); err != nil {
			return nil, bulwark.E(bulwark.Internal, op, "a stored task's limits are damaged", err)
		}
		input, err := db.open(ctx, tenant, kindTaskInput, t.ID, r.input)
		if err != nil {
			return nil, err
		}
		t.Input = string(input)
		if r.answer != nil {
			answer, err := db.open(ctx, tenant, kindTaskAnswer, t.ID, r.answer)
			if err != nil {
				return nil, err
			}
			t.Answer = string(answer)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// SetTaskStatus implements bulwark.TaskStore.
func (db *DB) SetTaskStatus(ctx context.Context, tenant bulwark.TenantID, id string, status bulwark.TaskStatus) error {
	const op = "postgres.SetTaskStatus"
	if err := tenant.Check(op); err != nil {
		return err
	}
	if err := checkTaskID(op, id); err != nil {
		return err
	}
	switch status {
	case bulwark.TaskQueued, bulwark.TaskRunning, bulwark.TaskWaiting, bulwark.TaskInterrupted:
	default:
		return bulwark.Errorf(bulwark.Invalid, op, "a task's status can be set to queued, running, waiting or interrupted; it ends with its task_finished event")
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		cur, err := taskStatus(ctx, tx, op, tenant, id)
		if err != nil {
			return err
		}
		if cur.Ended() {
			return bulwark.Errorf(bulwark.Conflict, op, "the task has ended (%s)", cur)
		}
		_, err = tx.ExecContext(ctx, `UPDATE tasks SET status = $1, updated = $2 WHERE tenant_id = $3 AND id = $4`, status, unixTime(db.now()), tenant, id)
		return err
	})
	if err != nil {
		return unavailable(op, "update the task", err)
	}
	return nil
}

func taskStatus(ctx context.Context, tx *sql.Tx, op string, tenant bulwark.TenantID, id string) (bulwark.TaskStatus, error) {
	var s bulwark.TaskStatus
	err := tx.QueryRowContext(ctx, `SELECT status FROM tasks WHERE tenant_id = $1 AND id = $2 FOR UPDATE`, tenant, id).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return s, bulwark.Errorf(bulwark.NotFound, op, "no such task")
	}
	return s, err
}

// AppendEvent implements bulwark.TaskStore. The payload is the sealed JSON
// of e, bound to the task and seq; the type and time are kept in the clear.
// The transaction that stores the event also notifies EventsChannel with
// EventsPayload, so listeners on every node learn of it once committed.
func (db *DB) AppendEvent(ctx context.Context, tenant bulwark.TenantID, e bulwark.Event) error {
	const op = "postgres.AppendEvent"
	p, err := db.prepareEvent(ctx, op, tenant, e)
	if err != nil {
		return err
	}
	err = db.write(ctx, func(tx *sql.Tx) error {
		cur, err := taskStatus(ctx, tx, op, tenant, e.TaskID)
		if err != nil {
			return err
		}
		return db.insertEvent(ctx, tx, op, tenant, cur, p)
	})
	if err != nil {
		return unavailable(op, "store the event", err)
	}
	return nil
}

// preparedEvent is an event checked and sealed, to be stored.
type preparedEvent struct {
	e      bulwark.Event
	ct     []byte
	answer []byte // a task_finished's answer, sealed
}

// prepareEvent checks e and seals it (and a task_finished's answer).
func (db *DB) prepareEvent(ctx context.Context, op string, tenant bulwark.TenantID, e bulwark.Event) (preparedEvent, error) {
	if err := tenant.Check(op); err != nil {
		return preparedEvent{}, err
	}
	if err := checkTaskID(op, e.TaskID); err != nil {
		return preparedEvent{}, err
	}
	if e.Seq <= 0 || e.Type == "" {
		return preparedEvent{}, bulwark.Errorf(bulwark.Invalid, op, "an event needs a type and a positive seq")
	}
	if e.Type.Live() {
		return preparedEvent{}, bulwark.Errorf(bulwark.Invalid, op, "%s events are live only and not stored", e.Type)
	}
	if e.Time.IsZero() {
		e.Time = db.now()
	}
	payload, err := json.Marshal(e)
	if err != nil {
		return preparedEvent{}, bulwark.E(bulwark.Invalid, op, "the event cannot be stored", err)
	}
	p := preparedEvent{e: e}
	if p.ct, err = db.seal(ctx, tenant, kindEvent, eventRecordID(e.TaskID, e.Seq), payload); err != nil {
		return p, err
	}
	if e.Type == bulwark.EventTaskFinished {
		if p.answer, err = db.seal(ctx, tenant, kindTaskAnswer, e.TaskID, []byte(e.Text)); err != nil {
			return p, err
		}
	}
	return p, nil
}

// insertEvent stores p in tx, for a task whose status (read with its row
// locked) is cur.
func (db *DB) insertEvent(ctx context.Context, tx *sql.Tx, op string, tenant bulwark.TenantID, cur bulwark.TaskStatus, p preparedEvent) error {
	e := p.e
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE task_id = $1 AND seq = $2`, e.TaskID, e.Seq).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return bulwark.Errorf(bulwark.Conflict, op, "event %d of the task is already stored", e.Seq)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (task_id, seq, tenant_id, type, time, payload_ct) VALUES ($1, $2, $3, $4, $5, $6)`,
		e.TaskID, e.Seq, tenant, e.Type, unixTime(e.Time), p.ct); err != nil {
		if isCode(err, codeUniqueViolation) {
			return bulwark.E(bulwark.Conflict, op, fmt.Sprintf("event %d of the task is already stored", e.Seq), err)
		}
		return err
	}
	now := unixTime(db.now())
	var err error
	switch {
	case e.Type == bulwark.EventTaskFinished:
		_, err = tx.ExecContext(ctx, `UPDATE tasks SET status = $1, reason = $2, answer_ct = $3, updated = $4, finished = $5 WHERE tenant_id = $6 AND id = $7`,
			bulwark.TaskStatusFor(e.Reason), e.Reason, p.answer, now, unixTime(e.Time), tenant, e.TaskID)
	case e.Type == bulwark.EventTaskStarted && !cur.Ended():
		_, err = tx.ExecContext(ctx, `UPDATE tasks SET status = $1, updated = $2, started = COALESCE(started, $3) WHERE tenant_id = $4 AND id = $5`,
			bulwark.TaskRunning, now, unixTime(e.Time), tenant, e.TaskID)
	}
	if err == nil && e.Usage != nil {
		err = addTaskUsage(ctx, tx, tenant, e)
	}
	if err == nil {
		// Delivered to listeners on every node when, and only if,
		// the transaction commits.
		_, err = tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, EventsChannel, EventsPayload(string(tenant), e.TaskID, e.Seq))
	}
	return err
}

// addTaskUsage counts e's usage on its task: the usage of each model reply
// is on one event (model_text, or the first event after a reply of tool
// calls alone) and is added as it comes, so the count adds up across the
// turns of a conversation; a task_finished event's (its turn's total)
// raises the count to it where the replies' sum fell short (events stored
// before replies' usage was carried this way).
func addTaskUsage(ctx context.Context, tx *sql.Tx, tenant bulwark.TenantID, e bulwark.Event) error {
	u := e.Usage
	var err error
	switch {
	case u == nil:
	case e.Type != bulwark.EventTaskFinished:
		_, err = tx.ExecContext(ctx, `UPDATE tasks SET input_tokens = input_tokens + $1, output_tokens = output_tokens + $2, cost = cost + $3 WHERE tenant_id = $4 AND id = $5`,
			u.InputTokens, u.OutputTokens, u.Cost, tenant, e.TaskID)
	default:
		_, err = tx.ExecContext(ctx, `UPDATE tasks SET input_tokens = GREATEST(input_tokens, $1), output_tokens = GREATEST(output_tokens, $2), cost = GREATEST(cost, $3) WHERE tenant_id = $4 AND id = $5`,
			u.InputTokens, u.OutputTokens, u.Cost, tenant, e.TaskID)
	}
	return err
}

// eventRecordID is the record id an event's payload is bound to.
func eventRecordID(taskID string, seq int64) string { return sealing.EventID(taskID, seq) }

// Events implements bulwark.TaskStore.
func (db *DB) Events(ctx context.Context, tenant bulwark.TenantID, taskID string, after int64, limit int) ([]bulwark.Event, error) {
	const op = "postgres.Events"
	if err := tenant.Check(op); err != nil {
		return nil, err
	}
	if err := checkTaskID(op, taskID); err != nil {
		return nil, err
	}
	var lim any // NULL: no limit
	if limit > 0 {
		lim = limit
	}
	tx, err := db.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead}) // one snapshot for both queries
	if err != nil {
		return nil, unavailable(op, "read the events", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tasks WHERE tenant_id = $1 AND id = $2`, tenant, taskID).Scan(&n); err != nil {
		return nil, unavailable(op, "read the events", err)
	}
	if n == 0 {
		return nil, bulwark.Errorf(bulwark.NotFound, op, "no such task")
	}
	rows, err := tx.QueryContext(ctx, `SELECT seq, payload_ct FROM events WHERE tenant_id = $1 AND task_id = $2 AND seq > $3 ORDER BY seq LIMIT $4`,
		tenant, taskID, after, lim)
	if err != nil {
		return nil, unavailable(op, "read the events", err)
	}
	type row struct {
		seq int64
		ct  []byte
	}
	var all []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.seq, &r.ct); err != nil {
			rows.Close()
			return nil, unavailable(op, "read the events", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "read the events", err)
	}
	events := make([]bulwark.Event, 0, len(all))
	for _, r := range all {
		payload, err := db.open(ctx, tenant, kindEvent, eventRecordID(taskID, r.seq), r.ct)
		if err != nil {
			return nil, err
		}
		var e bulwark.Event
		if err := json.Unmarshal(payload, &e); err != nil {
			return nil, bulwark.E(bulwark.Internal, op, "a stored event is damaged", err)
		}
		events = append(events, e)
	}
	return events, nil
}

// LastEventSeq returns the Seq of the task's last stored event, 0 when it
// has none; an unknown task (or one of another tenant) is NotFound. One
// read on the events' key, whatever their number.
func (db *DB) LastEventSeq(ctx context.Context, tenant bulwark.TenantID, taskID string) (int64, error) {
	const op = "postgres.LastEventSeq"
	if err := tenant.Check(op); err != nil {
		return 0, err
	}
	if err := checkTaskID(op, taskID); err != nil {
		return 0, err
	}
	var seq int64
	err := db.db.QueryRowContext(ctx, `SELECT (SELECT COALESCE(MAX(seq), 0) FROM events WHERE tenant_id = $1 AND task_id = $2) FROM tasks WHERE tenant_id = $1 AND id = $2`,
		tenant, taskID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, bulwark.Errorf(bulwark.NotFound, op, "no such task")
	}
	if err != nil {
		return 0, unavailable(op, "read the events", err)
	}
	return seq, nil
}
