package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark"
)

// maxTaskPage is the most tasks one QueryTasks call returns.
const maxTaskPage = 1000

var _ bulwark.TaskQuerier = (*DB)(nil)

// QueryTasks implements bulwark.TaskQuerier: the tenant's tasks, newest
// first (by creation time, then id), filtered by status.
func (db *DB) QueryTasks(ctx context.Context, tenant bulwark.TenantID, q bulwark.TaskQuery) (bulwark.TaskPage, error) {
	const op = "postgres.QueryTasks"
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
	where := []string{"tenant_id = $1"}
	args := []any{tenant}
	arg := func(v any) string { // the placeholder of a new argument
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(q.Status) > 0 {
		statuses := make([]string, len(q.Status))
		for i, s := range q.Status {
			statuses[i] = string(s)
		}
		where = append(where, "status = ANY("+arg(statuses)+")")
	}
	if q.Parent != "" {
		where = append(where, "parent_id = "+arg(q.Parent))
	}
	if q.Count {
		err := db.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM tasks WHERE `+strings.Join(where, " AND "), args...).Scan(&page.Total)
		if err != nil {
			return page, unavailable(op, "count the tasks", err)
		}
	}
	if c := q.Before; c != nil {
		at := unixTime(c.Created)
		where = append(where, "(created < "+arg(at)+" OR (created = "+arg(at)+" AND id < "+arg(c.ID)+"))")
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+taskReadColumns+` FROM tasks WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created DESC, id DESC LIMIT `+arg(limit+1)+` OFFSET `+arg(q.Offset), args...)
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
