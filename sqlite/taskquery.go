package sqlite

import (
	"context"
	"strings"

	"github.com/bulwark-agents/bulwark"
)

// maxTaskPage is the most tasks one QueryTasks call returns.
const maxTaskPage = 1000

var _ bulwark.TaskQuerier = (*DB)(nil)

// QueryTasks implements bulwark.TaskQuerier: the tenant's tasks, newest
// first (by creation time, then id), filtered by status.
func (db *DB) QueryTasks(ctx context.Context, tenant bulwark.TenantID, q bulwark.TaskQuery) (bulwark.TaskPage, error) {
	const op = "sqlite.QueryTasks"
	var page bulwark.TaskPage
	if err := tenant.Check(op); err != nil {
		return page, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, maxTaskPage)
	if q.Offset < 0 {
		return page, bulwark.Errorf(bulwark.Invalid, op, "the offset must not be negative")
	}
	where := []string{"tenant_id = ?"}
	args := []any{tenant}
	if len(q.Status) > 0 {
		where = append(where, "status IN (?"+strings.Repeat(", ?", len(q.Status)-1)+")")
		for _, s := range q.Status {
			args = append(args, s)
		}
	}
	if q.Parent != "" {
		where = append(where, "parent_id = ?")
		args = append(args, q.Parent)
	}
	if q.Count {
		err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM tasks WHERE `+strings.Join(where, " AND "), args...).Scan(&page.Total)
		if err != nil {
			return page, unavailable(op, "count the tasks", err)
		}
	}
	if c := q.Before; c != nil {
		at := unixTime(c.Created)
		where = append(where, "(created < ? OR (created = ? AND id < ?))")
		args = append(args, at, at, c.ID)
	}
	args = append(args, limit+1, q.Offset)
	query := `SELECT ` + taskReadColumns + ` FROM tasks WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY created DESC, id DESC LIMIT ? OFFSET ?`
	run := db.r.QueryContext
	if len(q.Status) == 0 {
		// Without a status filter the query is one of four texts (with or
		// without a parent, a cursor): cache its statement, since parsing
		// it costs as much as running it on GET /api/v1/tasks/{id}, which
		// lists the task's children. With one the texts are unbounded.
		run = db.readQuery
	}
	rows, err := run(ctx, query, args...)
	if err != nil {
		return page, unavailable(op, "list the tasks", err)
	}
	ts, err := db.scanTasks(ctx, op, tenant, rows)
	if err != nil {
		return page, err
	}
	if len(ts) > limit {
		ts, page.More = ts[:limit], true
	}
	page.Tasks = ts
	return page, nil
}
