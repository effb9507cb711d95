package sqlite

import (
	"context"

	"github.com/bulwark-agents/bulwark"
)

// UnfinishedTasks returns the tasks of every tenant that had not ended
// (queued, running, waiting or interrupted): what a runtime starting after a
// crash must resume or mark interrupted. It is an operator's view across
// tenants, for the task runtime only.
func (db *DB) UnfinishedTasks(ctx context.Context) ([]bulwark.Task, error) {
	const op = "sqlite.UnfinishedTasks"
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT tenant_id FROM tasks WHERE status IN (?, ?, ?, ?)`,
		bulwark.TaskQueued, bulwark.TaskRunning, bulwark.TaskWaiting, bulwark.TaskInterrupted)
	if err != nil {
		return nil, unavailable(op, "list unfinished tasks", err)
	}
	var tenants []bulwark.TenantID
	for rows.Next() {
		var t bulwark.TenantID
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return nil, unavailable(op, "list unfinished tasks", err)
		}
		tenants = append(tenants, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, unavailable(op, "list unfinished tasks", err)
	}
	var all []bulwark.Task
	for _, tenant := range tenants {
		rows, err := db.r.QueryContext(ctx, `SELECT `+taskReadColumns+` FROM tasks WHERE tenant_id = ? AND status IN (?, ?, ?, ?) ORDER BY created, id`,
			tenant, bulwark.TaskQueued, bulwark.TaskRunning, bulwark.TaskWaiting, bulwark.TaskInterrupted)
		if err != nil {
			return nil, unavailable(op, "list unfinished tasks", err)
		}
		ts, err := db.scanTasks(ctx, op, tenant, rows)
		if err != nil {
			return nil, err
		}
		all = append(all, ts...)
	}
	return all, nil
}
