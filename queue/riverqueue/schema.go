package riverqueue

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// Advisory lock keys (the two-int form, so that they cannot meet the
// one-bigint keys others use). lockSpace with lockMigrate guards the
// migrations; lockSpace with hashtext(tenant) guards a tenant's slots.
const (
	lockSpace   = 0x42_57_51 // "BWQ"
	lockMigrate = 0
)

// schema is the queue's own table: one row per task the queue holds.
//
//   - seq orders a tenant's tasks (a task continued after a wait keeps its
//     place, ahead of those queued after it first was).
//   - state is queued, running (it holds one of its tenant's slots) or
//     waiting (for a person; no slot).
//   - job_id and attempt, while running, are the River job and attempt
//     that run it: the fencing token of every write about the run, and
//     how a rescued job finds the task it was running.
//   - started: it ran before (its next run is resumed).
//   - continued: Continue came while it ran (an answer); it is queued
//     again as soon as the run returns Waiting, and forgotten when the run
//     returns Finished (the answer came too late to matter: the run had
//     it, or its turn is over).
//   - requeued: Enqueue came while it ran (a new turn of a conversation,
//     whose run before is ending); it is queued again, as a new run,
//     when the run returns.
//   - failures: how many of its runs in a row returned an error (they
//     could not set up: the store was unreachable); its runner gives up
//     at a bound of its own (queue.Failures).
const schema = `
CREATE TABLE IF NOT EXISTS bulwark_queue (
	seq       bigserial PRIMARY KEY,
	tenant_id text NOT NULL,
	task_id   text NOT NULL,
	state     text NOT NULL CHECK (state IN ('queued', 'running', 'waiting')),
	started   boolean NOT NULL DEFAULT false,
	continued boolean NOT NULL DEFAULT false,
	job_id    bigint,
	attempt   integer,
	UNIQUE (tenant_id, task_id)
);
ALTER TABLE bulwark_queue ADD COLUMN IF NOT EXISTS requeued boolean NOT NULL DEFAULT false;
ALTER TABLE bulwark_queue ADD COLUMN IF NOT EXISTS failures integer NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS bulwark_queue_tenant_state ON bulwark_queue (tenant_id, state, seq);
CREATE INDEX IF NOT EXISTS bulwark_queue_job ON bulwark_queue (job_id) WHERE job_id IS NOT NULL;
`

// migrate brings River's schema (with rivermigrate) and the queue's table
// up to date. rivermigrate takes no lock of its own (v0.51.2), so nodes
// starting together take turns under a session advisory lock: the first
// migrates, the others find nothing left to do.
func migrate(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1, $2)`, lockSpace, lockMigrate); err != nil {
		return fmt.Errorf("lock for migrations: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1, $2)`, lockSpace, lockMigrate)

	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: log})
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	if _, err := conn.Exec(ctx, schema); err != nil {
		return fmt.Errorf("queue table: %w", err)
	}
	return nil
}
