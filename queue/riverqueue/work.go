package riverqueue

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/queue"
)

// finishTimeout bounds the transaction that records a run's end.
const finishTimeout = 30 * time.Second

// claimed is the task a token runs.
type claimed struct {
	task     string
	resumed  bool
	failures int // its runs in a row that returned an error
}

// work is a token's turn on a worker (see the package doc).
func (q *Queue) work(jobCtx context.Context, job *river.Job[taskArgs]) error {
	tenant := bulwark.TenantID(job.Args.Tenant)
	quota := max(q.cfg.Quota(tenant), 1) // outside the transaction: it may read the store
	c, err := q.claim(jobCtx, tenant, job.ID, job.Attempt, quota)
	if err != nil || c == nil {
		return err // nil: nothing to run now
	}
	q.mu.Lock()
	run := q.run
	q.mu.Unlock()

	// The run's context is the node's, not the job's: River's timeout is
	// the lease, and the lease is renewed while the run goes on.
	ctx, cancel := context.WithCancelCause(q.ctx)
	defer cancel(nil)
	stopRenewing := q.renew(ctx, cancel, job.ID, job.Attempt)
	outcome, runErr := run(queue.WithFailures(ctx, c.failures), tenant, c.task, c.resumed)
	stopRenewing()

	fctx, fcancel := context.WithTimeout(context.WithoutCancel(jobCtx), finishTimeout)
	defer fcancel()
	if runErr != nil {
		q.log.Error("a task could not run; its token tries again later", "tenant", tenant, "task", c.task, "err", runErr)
	}
	quota = max(q.cfg.Quota(tenant), 1)
	if err := q.finish(fctx, tenant, c.task, job.ID, job.Attempt, outcome, runErr, quota); err != nil {
		// The row still names this attempt: River retries the job, whose
		// next attempt finds the row (as after a rescue) and runs the task
		// again, resumed; a runner finds it ended and returns Finished.
		return err
	}
	return runErr
}

// claim finds the task a token runs, or nil when there is none it may run
// now (see the package doc, steps 1 to 3).
func (q *Queue) claim(ctx context.Context, tenant bulwark.TenantID, jobID int64, attempt, quota int) (*claimed, error) {
	var c *claimed
	err := pgx.BeginFunc(ctx, q.cfg.Pool, func(tx pgx.Tx) error {
		if err := lockTenant(ctx, tx, tenant); err != nil {
			return err
		}
		// 1. Rescued: this job held a task on a node that died.
		var task string
		var failures int
		err := tx.QueryRow(ctx, `UPDATE bulwark_queue SET attempt = $2 WHERE job_id = $1 AND state = 'running' RETURNING task_id, failures`,
			jobID, attempt).Scan(&task, &failures)
		if err == nil {
			q.log.Warn("running a task again, whose node stopped without ending it", "tenant", tenant, "task", task, "job", jobID, "attempt", attempt)
			c = &claimed{task: task, resumed: true, failures: failures}
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := q.reclaim(ctx, tx, tenant); err != nil {
			return err
		}
		// 2. The tenant's quota, over the cluster.
		var running int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM bulwark_queue WHERE tenant_id = $1 AND state = 'running'`,
			string(tenant)).Scan(&running); err != nil {
			return err
		}
		if running >= quota {
			return nil // a run of the tenant passes a token on when it ends
		}
		// 3. The tenant's oldest queued task.
		var started bool
		err = tx.QueryRow(ctx, `WITH next AS (
				SELECT seq, started FROM bulwark_queue
				WHERE tenant_id = $1 AND state = 'queued'
				ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
			UPDATE bulwark_queue b SET state = 'running', started = true, continued = false, requeued = false, job_id = $2, attempt = $3
			FROM next WHERE b.seq = next.seq
			RETURNING b.task_id, next.started, b.failures`, string(tenant), jobID, attempt).Scan(&task, &started, &failures)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // a surplus token
		}
		if err != nil {
			return err
		}
		c = &claimed{task: task, resumed: started, failures: failures}
		return nil
	})
	return c, err
}

// reclaim gives up the tasks of tenant held by a River job that will not
// run again (discarded after maxAttempts, canceled, or cleaned away): they
// would hold a slot for ever. Held by tx's tenant lock.
func (q *Queue) reclaim(ctx context.Context, tx pgx.Tx, tenant bulwark.TenantID) error {
	rows, err := tx.Query(ctx, `DELETE FROM bulwark_queue b
		WHERE b.tenant_id = $1 AND b.state = 'running' AND NOT EXISTS (
			SELECT 1 FROM river_job j WHERE j.id = b.job_id
			AND j.state IN ('available', 'pending', 'retryable', 'running', 'scheduled'))
		RETURNING b.task_id`, string(tenant))
	if err != nil {
		return err
	}
	tasks, err := pgx.CollectRows(rows, pgx.RowTo[string])
	for _, task := range tasks {
		q.log.Error("a task was given up: the nodes that ran it kept stopping without ending it", "tenant", tenant, "task", task)
	}
	return err
}

// finish records the end of a run of task by (jobID, attempt), and passes
// tokens on for the slots it frees. A run whose hold was lost (another
// attempt has the task) changes nothing.
func (q *Queue) finish(ctx context.Context, tenant bulwark.TenantID, task string, jobID int64, attempt int, outcome queue.Outcome, runErr error, quota int) error {
	return pgx.BeginFunc(ctx, q.cfg.Pool, func(tx pgx.Tx) error {
		if err := lockTenant(ctx, tx, tenant); err != nil {
			return err
		}
		const fence = ` WHERE job_id = $1 AND attempt = $2 AND state = 'running'`
		var steps []string
		switch {
		case runErr != nil:
			steps = []string{`UPDATE bulwark_queue SET state = 'queued', failures = failures + 1, job_id = NULL, attempt = NULL` + fence}
		case outcome == queue.Interrupted:
			steps = []string{`UPDATE bulwark_queue SET state = 'queued', failures = 0, job_id = NULL, attempt = NULL` + fence}
		case outcome == queue.Waiting:
			steps = []string{`UPDATE bulwark_queue SET state = CASE WHEN continued OR requeued THEN 'queued' ELSE 'waiting' END,
				continued = false, requeued = false, failures = 0, job_id = NULL, attempt = NULL` + fence}
		default:
			// Finished; queued again, as a new turn, when one was queued
			// while it ended (Enqueue marked it requeued). An answer that
			// came meanwhile (continued) is no reason: the run had it, or
			// its turn is over.
			// The row is locked first: an Enqueue cannot mark it requeued
			// between the two statements (its new turn deleted with it).
			if _, err := tx.Exec(ctx, `SELECT 1 FROM bulwark_queue`+fence+` FOR UPDATE`, jobID, attempt); err != nil {
				return err
			}
			steps = []string{
				`UPDATE bulwark_queue SET state = 'queued', started = false, continued = false, requeued = false,
					failures = 0, job_id = NULL, attempt = NULL` + fence + ` AND requeued`,
				`DELETE FROM bulwark_queue` + fence,
			}
		}
		var recorded int64
		for _, sql := range steps {
			if recorded > 0 {
				break
			}
			tag, err := tx.Exec(ctx, sql, jobID, attempt)
			if err != nil {
				return err
			}
			recorded = tag.RowsAffected()
		}
		if recorded == 0 {
			q.log.Warn("a run ended after another node took its task over; its end is not recorded", "tenant", tenant, "task", task, "job", jobID, "attempt", attempt)
			return nil
		}
		if runErr != nil {
			return nil // this job, retried later by River, is the task's token
		}
		// Pass the baton: a token for each free slot, as many as wait.
		var running, queued int
		if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE state = 'running'), count(*) FILTER (WHERE state = 'queued')
			FROM bulwark_queue WHERE tenant_id = $1`, string(tenant)).Scan(&running, &queued); err != nil {
			return err
		}
		return q.tokens(ctx, tx, tenant, task, min(quota-running, queued))
	})
}

// endedByAnEarlierAttempt says whether job is still at attempt and no
// longer running: a node that ran an earlier attempt ended it as it came
// back, and no later attempt has it.
func (q *Queue) endedByAnEarlierAttempt(jobID int64, attempt int, wait time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var cur int
	var state string
	err := q.cfg.Pool.QueryRow(ctx, `SELECT attempt, state FROM river_job WHERE id = $1`, jobID).Scan(&cur, &state)
	return err == nil && cur == attempt && state != "running"
}

// renew keeps this attempt's lease on its job while the run goes on (see
// the package doc), and cancels the run with queue.ErrLeaseLost when
// another attempt has the job or the lease could not be renewed in time.
// The returned function stops it.
func (q *Queue) renew(ctx context.Context, cancel context.CancelCauseFunc, jobID int64, attempt int) (stop func()) {
	every := q.cfg.Lease / 4
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		renewed := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			// Not ctx: a stopping node's runs still hold their tasks while
			// they wind down.
			bctx, bcancel := context.WithTimeout(context.Background(), every)
			tag, err := q.cfg.Pool.Exec(bctx, `UPDATE river_job SET attempted_at = now()
				WHERE id = $1 AND attempt = $2 AND state = 'running'`, jobID, attempt)
			bcancel()
			switch {
			case err == nil && tag.RowsAffected() == 0:
				if q.endedByAnEarlierAttempt(jobID, attempt, every) {
					// A node whose lease this run took over came back
					// and River completed the job for it (its
					// completion is not fenced by attempt): nobody else
					// runs the task. The run goes on, with no lease
					// left to renew. It ended the rescuing run as taken
					// over, which recorded it canceled (a red team).
					q.log.Warn("an earlier attempt of a running task ended its job; this run goes on without a lease", "job", jobID, "attempt", attempt)
					return
				}
				q.log.Error("another node took a running task over; stopping it here", "job", jobID, "attempt", attempt)
				cancel(queue.ErrLeaseLost)
				return
			case err == nil:
				renewed = time.Now()
			case time.Since(renewed) > q.cfg.Lease-every:
				q.log.Error("the lease of a running task could not be renewed; stopping it here", "job", jobID, "err", err)
				cancel(queue.ErrLeaseLost)
				return
			}
		}
	}()
	return func() { close(done); <-finished }
}
