// Package riverqueue is the queue.Queue of a cluster of Bulwark servers
// sharing one PostgreSQL database, built on River
// (github.com/riverqueue/river): any node with a free worker runs any
// tenant's task, a tenant's concurrency quota holds over the whole
// cluster, its tasks start in order, a task waiting for a person holds no
// worker, and the tasks of a node that died are run again elsewhere.
//
// # Jobs are tokens
//
// River has no per-tenant concurrency limit (its open-source version), and
// its jobs run in no particular order. So a River job (kind bulwark_task,
// args: tenant and task id, never the task's content) is a token: "one of
// this tenant's tasks may be ready". The tasks themselves are rows of the
// queue's own table, bulwark_queue, in the order they were queued. A job,
// when a worker takes it, does in one transaction under an advisory lock
// on its tenant:
//
//  1. if a row names this job as its runner, the job was rescued from a
//     dead node: it takes the row over (a new attempt) and runs that task,
//     resumed;
//  2. else, if the tenant has quota tasks running (rows in state running,
//     over all nodes), the job ends: there is nothing it may do now;
//  3. else it claims the tenant's oldest queued row (SELECT ... FOR UPDATE
//     SKIP LOCKED), marks it running with its job id and attempt, and
//     runs that task, not necessarily the one its args name.
//
// When a run ends (finished, waiting, interrupted), the same transaction
// that releases its slot inserts a new token for each slot of the tenant
// now free, as many as it has queued tasks: the baton passes without
// polling, and a tenant at its quota costs no snoozing jobs. Every Enqueue
// and Continue inserts a token too, so a raised quota takes effect at the
// tenant's next queued task or next end of a run. Surplus tokens end at
// once. The counting is right because every change of a tenant's running
// rows happens under its advisory lock.
//
// # Waiting for a person
//
// A run that returns queue.Waiting releases its worker and slot: its row
// goes to state waiting, the job completes. Continue (on any node, when
// the answer comes) sets it queued again, keeping its place (ahead of the
// tasks queued after it), and inserts a token; it runs again with
// resumed set. An answer that comes before the run has returned Waiting
// marks the row continued, and the run's end queues it at once if the run
// returns Waiting; a run that returns Finished had the answer, or its
// turn is over, and does not run again for it (a run started then would
// race the next turn's, which a message may be opening in the store). An
// Enqueue of a task whose run is ending (a new turn of a conversation
// queued as the last one stores its end) marks the row requeued instead:
// it is queued again, not resumed, when the run returns.
//
// # Dead nodes: the lease
//
// River rescues a job stuck in state running once it was attempted more
// than RescueStuckJobsAfter ago (its rescuer runs on the leader, every 30
// seconds), and gives it to another node as a new attempt, which finds its
// row (step 1 above). That clock starts when the attempt starts, and a
// task may run for hours: so River's rescue interval here is not a task
// time limit but a lease. While a run goes on, its node renews the lease
// every Lease/4 by moving the job's attempted_at forward (the one write
// this package makes to a River table; the rescuer reads that column and
// nothing else of a running job). A node that dies stops renewing, and
// its jobs are rescued between Lease and Lease + 30 s (+ the leader's
// election when the dead node was the leader) later. A node that cannot
// renew for a whole lease, or finds its attempt superseded, cancels the
// run (queue.ErrLeaseLost): another node may run it now. Every write about
// a run is fenced by (job id, attempt), so a node that comes back too late
// changes nothing. River's own job timeout is set to the lease (River does
// not rescue jobs of an infinite timeout) and does not reach the run: the
// run's context is the node's, and the task's time limits are the
// runner's (its Limits and the operator's ceilings), which may be much
// longer than the lease.
//
// # Wiring
//
//	q, err := riverqueue.New(ctx, riverqueue.Config{Pool: db.Pool(), Workers: n, Quota: quota, Node: host})
//	rt := runner.New(runner.Config{..., Queue: q}) // Start starts q with the runtime's RunFunc
//	... rt.Shutdown(ctx)                            // stops q: its runs go to other nodes
//
// # Schema
//
// New migrates River's schema with rivermigrate and creates bulwark_queue,
// under a session advisory lock, since rivermigrate takes none: nodes that
// start together take turns, and the later ones find nothing to do.
package riverqueue

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/queue"
)

// Kind is the River job kind of a task token.
const Kind = "bulwark_task"

// riverQueue is the River queue the tokens go to.
const riverQueue = "bulwark_tasks"

// maxAttempts bounds the attempts of one token: runs that could not start
// (RunFunc errors) and rescues from dead nodes. Past it River discards
// the token, and its task is given up (see reclaim).
const maxAttempts = 25

// DefaultLease is Config.Lease when it is zero.
const DefaultLease = time.Minute

// Config wires a Queue.
type Config struct {
	// Pool is the database: the store's pool ((*postgres.DB).Pool()).
	Pool *pgxpool.Pool
	// Workers is the most tasks this node runs at once (default 64).
	Workers int
	// Quota is the most tasks of one tenant running at once over the
	// cluster (default 4; at least 1). It is called at each start and end
	// of a run, outside any transaction, and may read the store.
	Quota func(bulwark.TenantID) int
	// Lease is how long a node may go without renewing its hold on a
	// running task before another node runs it (River's
	// RescueStuckJobsAfter; default DefaultLease). Shorter: a dead node's
	// tasks go on sooner; longer: a node cut from the database for a
	// moment keeps its tasks.
	Lease time.Duration
	// Node names this node for River (its client ID); empty: River's.
	Node string
	// Logger is River's and the queue's logger; nil: slog.Default().
	Logger *slog.Logger
	// FetchPollInterval is how often River looks for new jobs when no
	// notification came (default River's, 1 s). Tests lower it.
	FetchPollInterval time.Duration
}

// Queue is the River queue.Queue. Make it with New.
type Queue struct {
	cfg    Config
	log    *slog.Logger
	client *river.Client[pgx.Tx]
	ctx    context.Context // the runs' life: canceled with queue.ErrStopping
	stop   context.CancelCauseFunc

	mu       sync.Mutex
	run      queue.RunFunc
	stopOnce sync.Once
	stopErr  error
}

var _ queue.Queue = (*Queue)(nil)

// taskArgs are a token's args: a tenant and a task id, nothing more.
type taskArgs struct {
	Tenant string `json:"tenant"`
	Task   string `json:"task"`
}

func (taskArgs) Kind() string { return Kind }

func (taskArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: riverQueue, MaxAttempts: maxAttempts}
}

type worker struct {
	river.WorkerDefaults[taskArgs]
	q *Queue
}

// Timeout is the lease: River rescues no job of an infinite timeout.
func (w *worker) Timeout(*river.Job[taskArgs]) time.Duration { return w.q.cfg.Lease }

func (w *worker) Work(ctx context.Context, job *river.Job[taskArgs]) error { return w.q.work(ctx, job) }

// New migrates the schema (see the package doc) and returns a Queue that
// works no task until Start.
func New(ctx context.Context, cfg Config) (*Queue, error) {
	const op = "riverqueue.New"
	if cfg.Pool == nil {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "no database pool")
	}
	cfg.Workers = cmp.Or(cfg.Workers, 64)
	cfg.Lease = cmp.Or(cfg.Lease, DefaultLease)
	if cfg.Quota == nil {
		cfg.Quota = func(bulwark.TenantID) int { return 4 }
	}
	log := cmp.Or(cfg.Logger, slog.Default())
	if err := migrate(ctx, cfg.Pool, log); err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "the task queue's tables could not be set up", err)
	}
	q := &Queue{cfg: cfg, log: log}
	q.ctx, q.stop = context.WithCancelCause(context.Background())
	workers := river.NewWorkers()
	river.AddWorker(workers, &worker{q: q})
	client, err := river.NewClient(riverpgxv5.New(cfg.Pool), &river.Config{
		ID:                   cfg.Node,
		Logger:               log,
		Queues:               map[string]river.QueueConfig{riverQueue: {MaxWorkers: cfg.Workers}},
		Workers:              workers,
		JobTimeout:           cfg.Lease,
		RescueStuckJobsAfter: cfg.Lease,
		// A run outlives River's timeout by design (see the package doc):
		// not a stuck job.
		JobStuckThreshold: 100 * 365 * 24 * time.Hour,
		// A token whose run could not set up (the store was unreachable)
		// is tried again as the in-process queue does (queue.Backoff), not
		// after River's attempt⁴ seconds: its task's runner gives up after
		// a few tries (queue.Failures), which should take minutes, not hours.
		RetryPolicy:       retryPolicy{},
		FetchPollInterval: cfg.FetchPollInterval,
		FetchCooldown:     min(cmp.Or(cfg.FetchPollInterval, river.FetchCooldownDefault), river.FetchCooldownDefault),
	})
	if err != nil {
		return nil, bulwark.E(bulwark.Internal, op, "the task queue could not be set up", err)
	}
	q.client = client
	return q, nil
}

// retryPolicy is River's retry policy for the tokens: queue.Backoff.
type retryPolicy struct{}

func (retryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	return time.Now().Add(queue.Backoff(job.Attempt))
}

// Start implements queue.Queue: this node works tokens until Stop, or
// until ctx ends (then its runs are canceled with queue.ErrStopping too).
func (q *Queue) Start(ctx context.Context, run queue.RunFunc) error {
	q.mu.Lock()
	q.run = run
	q.mu.Unlock()
	context.AfterFunc(ctx, func() { q.stop(queue.ErrStopping) })
	if err := q.client.Start(ctx); err != nil {
		return bulwark.E(bulwark.Unavailable, "riverqueue.Start", "the task queue could not start", err)
	}
	return nil
}

// Stop implements queue.Queue.
func (q *Queue) Stop(ctx context.Context) error {
	q.stopOnce.Do(func() {
		q.stop(queue.ErrStopping)
		if err := q.client.Stop(ctx); err != nil {
			q.stopErr = bulwark.E(bulwark.Unavailable, "riverqueue.Stop", "tasks still running", err)
		}
	})
	return q.stopErr
}

// Enqueue implements queue.Queue. It always inserts a token, even for a
// task queued already: that repairs a token lost with its job.
func (q *Queue) Enqueue(ctx context.Context, tenant bulwark.TenantID, taskID string) error {
	return q.tx(ctx, "riverqueue.Enqueue", func(tx pgx.Tx) error {
		// Queued already: nothing. Running: a new turn queued while the
		// run before ends; it is queued again when it does. Waiting: queued.
		if _, err := tx.Exec(ctx, `INSERT INTO bulwark_queue AS b (tenant_id, task_id, state) VALUES ($1, $2, 'queued')
			ON CONFLICT (tenant_id, task_id) DO UPDATE SET
				requeued = b.requeued OR b.state = 'running',
				state = CASE WHEN b.state = 'waiting' THEN 'queued' ELSE b.state END`, string(tenant), taskID); err != nil {
			return err
		}
		return q.tokens(ctx, tx, tenant, taskID, 1)
	})
}

// Continue implements queue.Queue.
func (q *Queue) Continue(ctx context.Context, tenant bulwark.TenantID, taskID string) error {
	const op = "riverqueue.Continue"
	found := true
	err := q.tx(ctx, op, func(tx pgx.Tx) error {
		if err := lockTenant(ctx, tx, tenant); err != nil {
			return err
		}
		var state string
		err := tx.QueryRow(ctx, `SELECT state FROM bulwark_queue WHERE tenant_id = $1 AND task_id = $2 FOR UPDATE`,
			string(tenant), taskID).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) {
			found = false
			return nil
		}
		if err != nil {
			return err
		}
		switch state {
		case "waiting":
			if _, err := tx.Exec(ctx, `UPDATE bulwark_queue SET state = 'queued', continued = false
				WHERE tenant_id = $1 AND task_id = $2`, string(tenant), taskID); err != nil {
				return err
			}
			return q.tokens(ctx, tx, tenant, taskID, 1)
		case "running":
			_, err := tx.Exec(ctx, `UPDATE bulwark_queue SET continued = true WHERE tenant_id = $1 AND task_id = $2`, string(tenant), taskID)
			return err
		}
		return nil // queued already
	})
	if err == nil && !found {
		return bulwark.Errorf(bulwark.NotFound, op, "the task is not in the queue")
	}
	return err
}

// Remove implements queue.Queue.
func (q *Queue) Remove(ctx context.Context, tenant bulwark.TenantID, taskID string) (bool, error) {
	tag, err := q.cfg.Pool.Exec(ctx, `DELETE FROM bulwark_queue WHERE tenant_id = $1 AND task_id = $2 AND state IN ('queued', 'waiting')`,
		string(tenant), taskID)
	if err != nil {
		return false, bulwark.E(bulwark.Unavailable, "riverqueue.Remove", "the task queue is not reachable", err)
	}
	return tag.RowsAffected() > 0, nil
}

// Position implements queue.Queue.
func (q *Queue) Position(ctx context.Context, tenant bulwark.TenantID, taskID string) (int, error) {
	var n int
	err := q.cfg.Pool.QueryRow(ctx, `SELECT count(*) FROM bulwark_queue
		WHERE tenant_id = $1 AND state = 'queued'
		AND seq <= (SELECT seq FROM bulwark_queue WHERE tenant_id = $1 AND task_id = $2 AND state = 'queued')`,
		string(tenant), taskID).Scan(&n)
	if err != nil {
		return 0, bulwark.E(bulwark.Unavailable, "riverqueue.Position", "the task queue is not reachable", err)
	}
	return n, nil
}

// tx runs fn in a transaction; its errors are Unavailable (the database).
func (q *Queue) tx(ctx context.Context, op string, fn func(pgx.Tx) error) error {
	err := pgx.BeginFunc(ctx, q.cfg.Pool, fn)
	if err != nil {
		return bulwark.E(bulwark.Unavailable, op, "the task queue is not reachable", err)
	}
	return nil
}

// tokens inserts n tokens of tenant in tx (taskID is for the reader of
// River's tables only: a token runs its tenant's oldest queued task).
func (q *Queue) tokens(ctx context.Context, tx pgx.Tx, tenant bulwark.TenantID, taskID string, n int) error {
	if n <= 0 {
		return nil
	}
	params := make([]river.InsertManyParams, n)
	for i := range params {
		params[i] = river.InsertManyParams{Args: taskArgs{Tenant: string(tenant), Task: taskID}}
	}
	_, err := q.client.InsertManyTx(ctx, tx, params)
	return err
}

// lockTenant takes the advisory lock of tenant's slots until tx ends.
func lockTenant(ctx context.Context, tx pgx.Tx, tenant bulwark.TenantID) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lockSpace, string(tenant))
	return err
}

// String names the queue for logs.
// Ready reports whether the queue works jobs: started, not stopped, and
// its tables answer.
func (q *Queue) Ready(ctx context.Context) error {
	q.mu.Lock()
	started := q.run != nil
	q.mu.Unlock()
	switch {
	case !started:
		return bulwark.Errorf(bulwark.Unavailable, "riverqueue.Ready", "the queue has not started")
	case q.ctx.Err() != nil:
		return bulwark.Errorf(bulwark.Unavailable, "riverqueue.Ready", "the queue has stopped")
	}
	var n int
	if err := q.cfg.Pool.QueryRow(ctx, `SELECT 1 FROM river_job LIMIT 1`).Scan(&n); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return bulwark.E(bulwark.Unavailable, "riverqueue.Ready", "the queue's tables do not answer", err)
	}
	return nil
}

func (q *Queue) String() string { return fmt.Sprintf("riverqueue(%s)", q.cfg.Node) }
