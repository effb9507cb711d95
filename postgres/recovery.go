package postgres

import (
	"context"

	"github.com/bulwark-agents/bulwark"
)

// UnfinishedTasks returns the tasks of every tenant that had not ended
// (queued, running, waiting or interrupted): what a runtime starting after a
// crash must resume or mark interrupted. It is an operator's view across
// tenants, for the task runtime only.
func (db *DB) UnfinishedTasks(ctx context.Context) ([]bulwark.Task, error) {
	const op = "postgres.UnfinishedTasks"
	rows, err := db.db.QueryContext(ctx, `SELECT DISTINCT tenant_id FROM tasks WHERE status IN ($1, $2, $3, $4)`,
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
		rows, err := db.db.QueryContext(ctx, `SELECT `+taskReadColumns+` FROM tasks WHERE tenant_id = $1 AND status IN ($2, $3, $4, $5) ORDER BY created, id`,
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
