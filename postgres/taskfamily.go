package postgres

import (
	"context"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/storecheck"
)

// TaskWithChildren implements bulwark.TaskFamilyReader: one
// query for the task and its children.
func (db *DB) TaskWithChildren(ctx context.Context, tenant bulwark.TenantID, id string, limit int) (bulwark.Task, []bulwark.Task, error) {
	const op = "postgres.TaskWithChildren"
	if err := tenant.Check(op); err != nil {
		return bulwark.Task{}, nil, err
	}
	if err := checkTaskID(op, id); err != nil {
		return bulwark.Task{}, nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+taskReadColumns+` FROM tasks WHERE tenant_id = $1 AND id = $2
		UNION ALL (SELECT `+taskReadColumns+` FROM tasks WHERE tenant_id = $1 AND parent_id = $2 ORDER BY created DESC, id DESC LIMIT $3)`,
		tenant, id, min(max(limit, 1), maxTaskPage))
	if err != nil {
		return bulwark.Task{}, nil, unavailable(op, "read the task", err)
	}
	ts, err := db.scanTasks(ctx, op, tenant, rows)
	if err != nil {
		return bulwark.Task{}, nil, err
	}
	return storecheck.SplitFamily(op, id, ts)
}
