package bulwark

import (
	"context"
	"time"
)

// TaskQuery selects a page of a tenant's tasks, newest first.
type TaskQuery struct {
	// Status keeps only tasks with one of these statuses; empty: all.
	Status []TaskStatus
	// Parent keeps only the sub-agent tasks of the task it names (their
	// ParentID); empty: tasks whatever their parent.
	Parent string
	// Limit is the most tasks returned; <= 0 means 50.
	Limit int
	// Offset skips that many tasks first (page-number paging).
	Offset int
	// Before, when set, keeps only tasks older than the one it names
	// (cursor paging: pass the last task of the previous page).
	Before *TaskCursor
	// Count asks for Total, the number of tasks that match without Limit,
	// Offset or Before.
	Count bool
}

// TaskCursor names a place in the newest-first order of tasks.
type TaskCursor struct {
	Created time.Time
	ID      string
}

// TaskPage is a page of tasks.
type TaskPage struct {
	Tasks []Task
	More  bool // tasks follow this page
	Total int  // set when the query asked for Count
}

// TaskQuerier pages through a tenant's tasks.
type TaskQuerier interface {
	QueryTasks(ctx context.Context, tenant TenantID, q TaskQuery) (TaskPage, error)
}

// TaskFamilyReader reads a task and its sub-agent tasks in one query, as
// GET /api/v1/tasks/{id} shows them: on SQLite one statement costs about
// half of two. Both stores implement it.
type TaskFamilyReader interface {
	// TaskWithChildren returns tenant's task id (NotFound as Task does)
	// and at most limit of its children (tasks whose ParentID is id),
	// newest first.
	TaskWithChildren(ctx context.Context, tenant TenantID, id string, limit int) (Task, []Task, error)
}

// TaskVersioner tells whether a task may have changed without reading it,
// so that a server can keep what it last showed of a task: the SQLite
// store keeps the versions in a file beside the database, shared with
// every process that opens it.
type TaskVersioner interface {
	// TaskVersion returns the version of tenant's task id and whether it
	// is stable. The version moves before any change of the task's row,
	// or of the list of its children (a child made, or a child's row
	// changed), commits, whoever makes it: what was read of the task
	// after a stable version v was read is current while the version is
	// still v. Nothing read while the version is not stable may be kept.
	// A version never comes back to a value once it has moved (a change
	// that rolled back moves it too).
	TaskVersion(ctx context.Context, tenant TenantID, id string) (v uint64, stable bool, err error)
}
