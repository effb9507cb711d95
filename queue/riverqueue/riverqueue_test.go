package riverqueue

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/bulwark-agents/bulwark/queue"
	"github.com/bulwark-agents/bulwark/queue/queuetest"
)

func TestMain(m *testing.M) { testfamily.Main(m, testfamily.Postgres) }

// testLogger shows errors only: River is chatty, and the tests cause
// warnings on purpose.
var testLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

// nodes makes n nodes on one fresh database, each on its own pool, all
// set up at once (their migrations take turns).
func nodes(t *testing.T, n, workers, quota int, lease time.Duration) ([]*Queue, []*pgxpool.Pool) {
	t.Helper()
	pool := queuetest.PostgresDB(t)
	qs := make([]*Queue, n)
	pools := make([]*pgxpool.Pool, n)
	for i := range pools {
		pools[i] = pool()
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			qs[i], errs[i] = New(context.Background(), Config{
				Pool:              pools[i],
				Workers:           workers,
				Quota:             func(bulwark.TenantID) int { return quota },
				Lease:             lease,
				Node:              fmt.Sprintf("node-%d", i),
				Logger:            testLogger,
				FetchPollInterval: 50 * time.Millisecond,
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("New (node %d of %d starting together): %v", i, n, err)
		}
	}
	return qs, pools
}

// TestBehaviour: the River queue keeps the promises of every queue, over
// three nodes on separate pools.
func TestBehaviour(t *testing.T) {
	queuetest.Run(t, 3, func(t *testing.T, n, workers, quota int) []queue.Queue {
		qs, _ := nodes(t, n, workers, quota, DefaultLease)
		out := make([]queue.Queue, n)
		for i, q := range qs {
			out[i] = q
		}
		return out
	})
}

// TestMigrateTogether: nodes that start at once on an empty database all
// come up, and the schema is there once.
func TestMigrateTogether(t *testing.T) {
	qs, pools := nodes(t, 5, 1, 1, DefaultLease)
	var versions int
	if err := pools[0].QueryRow(context.Background(), `SELECT count(DISTINCT version) FROM river_migration`).Scan(&versions); err != nil {
		t.Fatalf("River's migrations: %v", err)
	}
	var rows int
	if err := pools[0].QueryRow(context.Background(), `SELECT count(*) FROM river_migration`).Scan(&rows); err != nil || rows != versions || rows == 0 {
		t.Errorf("river_migration: %d rows, %d versions (%v); want each version once", rows, versions, err)
	}
	if err := qs[4].Enqueue(context.Background(), "a", "t1"); err != nil {
		t.Errorf("Enqueue after the migrations: %v", err)
	}
}

// TestRescue: a node dies (its context canceled without a graceful stop,
// its pool closed) while it runs a task; another node runs the task again,
// resumed, once the lease is over, and it ends there.
func TestRescue(t *testing.T) {
	const lease = 2 * time.Second
	qs, pools := nodes(t, 3, 2, 2, lease)

	type runRec struct {
		node    int
		resumed bool
	}
	var mu sync.Mutex
	var runs []runRec
	victimRunning, rescued := make(chan struct{}), make(chan struct{})
	release := make(chan struct{}) // the dead node's run never returns before the test ends
	t.Cleanup(func() { close(release) })
	runOn := func(node int) queue.RunFunc {
		return func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
			mu.Lock()
			runs = append(runs, runRec{node, resumed})
			mu.Unlock()
			if node == 0 {
				close(victimRunning)
				<-release // a dead node does nothing more, whatever its context says
				return queue.Finished, nil
			}
			close(rescued)
			return queue.Finished, nil
		}
	}
	victimCtx, kill := context.WithCancel(context.Background())
	if err := qs[0].Start(victimCtx, runOn(0)); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := qs[1].Enqueue(ctx, "a", "t1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-victimRunning:
	case <-time.After(time.Minute):
		t.Fatal("the first node did not run the task")
	}

	kill()
	go pools[0].Close() // it waits for connections in use
	for i := 1; i < 3; i++ {
		if err := qs[i].Start(ctx, runOn(i)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		qs[1].Stop(sctx)
		qs[2].Stop(sctx)
	})
	// The rescue takes the lease, the rescuer's period (30 s, on the
	// leader) and a new election when the dead node led.
	select {
	case <-rescued:
	case <-time.After(2 * time.Minute):
		t.Fatal("no other node ran the task of the dead node")
	}
	mu.Lock()
	if len(runs) != 2 || runs[0].node != 0 || runs[1].node == 0 || !runs[1].resumed {
		t.Errorf("runs = %+v; want one on node 0, then one on another node, resumed", runs)
	}
	mu.Unlock()
	waitFor(t, func() bool {
		var n int
		pools[1].QueryRow(ctx, `SELECT count(*) FROM bulwark_queue`).Scan(&n)
		return n == 0
	}, "the rescued task, finished, is still in the queue")
}

// TestLeaseFences: a run whose attempt was superseded (here by hand, as a
// rescue would) is canceled with ErrLeaseLost, and its end changes
// nothing of the task's row.
func TestLeaseFences(t *testing.T) {
	const lease = 400 * time.Millisecond
	qs, pools := nodes(t, 1, 1, 1, lease)
	q, pool := qs[0], pools[0]
	ctx := context.Background()
	lost := make(chan error, 1)
	run := func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
		// Another attempt takes the job over.
		if _, err := pool.Exec(ctx, `UPDATE river_job SET attempt = attempt + 1 WHERE kind = $1`, Kind); err != nil {
			t.Errorf("bump the attempt: %v", err)
		}
		if _, err := pool.Exec(ctx, `UPDATE bulwark_queue SET attempt = attempt + 1`); err != nil {
			t.Errorf("bump the attempt: %v", err)
		}
		<-ctx.Done()
		lost <- context.Cause(ctx)
		return queue.Finished, nil
	}
	if err := q.Start(ctx, run); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	if err := q.Enqueue(ctx, "a", "t1"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-lost:
		if err != queue.ErrLeaseLost {
			t.Errorf("the superseded run's context ended with %v, want ErrLeaseLost", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the superseded run was not canceled")
	}
	waitFor(t, func() bool {
		var n int
		pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1 AND state = 'running'`, Kind).Scan(&n)
		return n == 0
	}, "the superseded run's job never ended")
	var state string
	if err := pool.QueryRow(ctx, `SELECT state FROM bulwark_queue WHERE task_id = 't1'`).Scan(&state); err != nil || state != "running" {
		t.Errorf("after the superseded run ended, the task's row is %q (%v); want it left running, the new attempt's", state, err)
	}
}

// waitFor polls cond until it holds (a hang guard of two minutes).
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStopHandsOver: a node that stops gracefully ends its runs
// (queue.ErrStopping); a run that returns Interrupted goes back to the
// queue, ahead of its tenant's later tasks, and another node runs it,
// resumed.
func TestStopHandsOver(t *testing.T) {
	qs, _ := nodes(t, 2, 1, 1, DefaultLease)
	ctx := context.Background()
	type runRec struct {
		node    int
		task    string
		resumed bool
	}
	var mu sync.Mutex
	var runs []runRec
	started := make(chan struct{})
	done := make(chan struct{})
	runOn := func(node int) queue.RunFunc {
		return func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
			mu.Lock()
			runs = append(runs, runRec{node, id, resumed})
			n := len(runs)
			mu.Unlock()
			if node == 0 {
				close(started)
				<-ctx.Done()
				if context.Cause(ctx) != queue.ErrStopping {
					t.Errorf("the stopping node's run ended with %v, want ErrStopping", context.Cause(ctx))
				}
				return queue.Interrupted, nil
			}
			if n == 3 {
				close(done)
			}
			return queue.Finished, nil
		}
	}
	if err := qs[0].Start(ctx, runOn(0)); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"t1", "t2"} {
		if err := qs[0].Enqueue(ctx, "a", id); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("node 0 did not run the task")
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := qs[0].Stop(sctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := qs[1].Start(ctx, runOn(1)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { qs[1].Stop(context.Background()) })
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("node 1 did not run the tasks")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []runRec{{0, "t1", false}, {1, "t1", true}, {1, "t2", false}}
	if fmt.Sprint(runs) != fmt.Sprint(want) {
		t.Errorf("runs = %v, want %v", runs, want)
	}
}

// TestTokensCarryOnlyIDs: a River job's args are the tenant and the task
// id: no task content, no secret, goes through River's tables.
func TestTokensCarryOnlyIDs(t *testing.T) {
	qs, pools := nodes(t, 1, 1, 1, DefaultLease)
	ctx := context.Background()
	if err := qs[0].Enqueue(ctx, "tenant-a", "task-1"); err != nil {
		t.Fatal(err)
	}
	var kind string
	var args map[string]any
	if err := pools[0].QueryRow(ctx, `SELECT kind, args FROM river_job`).Scan(&kind, &args); err != nil {
		t.Fatal(err)
	}
	if kind != Kind || len(args) != 2 || args["tenant"] != "tenant-a" || args["task"] != "task-1" {
		t.Errorf("job %s args %v; want %s with tenant and task only", kind, args, Kind)
	}
}

// TestLeaseKeepsALongRun: a run much longer than the lease, on a node that
// lives, is not rescued: River's rescuer (every 30 s on the leader) finds
// its lease renewed, and the task runs once.
func TestLeaseKeepsALongRun(t *testing.T) {
	if testing.Short() {
		t.Skip("takes over 30 s: one period of River's rescuer")
	}
	t.Parallel()
	// Renewed every lease/4 and given up after lease*3/4 without one: a
	// lease of a few seconds rides out a slow moment of a loaded
	// database, which a 1 s one did not (CI lost it once).
	const lease = 4 * time.Second
	qs, _ := nodes(t, 2, 1, 1, lease)
	var mu sync.Mutex
	runs := 0
	ctx := context.Background()
	run := func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
		mu.Lock()
		runs++
		mu.Unlock()
		select {
		case <-time.After(32 * time.Second): // one rescuer period and more
		case <-ctx.Done():
			t.Errorf("the long run was canceled: %v", context.Cause(ctx))
		}
		return queue.Finished, nil
	}
	for _, q := range qs {
		if err := q.Start(ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, q := range qs {
			q.Stop(context.Background())
		}
	})
	if err := qs[0].Enqueue(ctx, "a", "t1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		var n int
		qs[0].cfg.Pool.QueryRow(ctx, `SELECT count(*) FROM bulwark_queue`).Scan(&n)
		return n == 0
	}, "the long task did not end")
	mu.Lock()
	defer mu.Unlock()
	if runs != 1 {
		t.Errorf("the long task ran %d times, want once", runs)
	}
}

// TestReady: a queue is ready only between Start and Stop.
func TestReady(t *testing.T) {
	qs, _ := nodes(t, 1, 1, 1, DefaultLease)
	q := qs[0]
	ctx := context.Background()
	if err := q.Ready(ctx); err == nil {
		t.Error("a queue not started says it is ready")
	}
	run := func(context.Context, bulwark.TenantID, string, bool) (queue.Outcome, error) {
		return queue.Finished, nil
	}
	if err := q.Start(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := q.Ready(ctx); err != nil {
		t.Errorf("a started queue is not ready: %v", err)
	}
	if err := q.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := q.Ready(ctx); err == nil {
		t.Error("a stopped queue says it is ready")
	}
}

// TestLeaseKeptWhenAnEarlierAttemptEnds: a node that ran an earlier
// attempt and comes back (a freeze) has River complete the job, which is
// running the later attempt (River's completion is not fenced by
// attempt): the later run is not taken for superseded. It was canceled
// with ErrLeaseLost, and the task recorded canceled though nobody had
// canceled it (a red team).
func TestLeaseKeptWhenAnEarlierAttemptEnds(t *testing.T) {
	const lease = 400 * time.Millisecond
	qs, pools := nodes(t, 1, 1, 1, lease)
	q, pool := qs[0], pools[0]
	ctx := context.Background()
	ended := make(chan error, 1)
	run := func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
		// The earlier attempt's node completes the job.
		if _, err := pool.Exec(ctx, `UPDATE river_job SET state = 'completed', finalized_at = now() WHERE kind = $1`, Kind); err != nil {
			t.Errorf("complete the job: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(4 * lease):
		}
		ended <- context.Cause(ctx)
		return queue.Finished, nil
	}
	if err := q.Start(ctx, run); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Stop(context.Background()) })
	if err := q.Enqueue(ctx, "a", "t1"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Errorf("the run whose job an earlier attempt completed was ended: %v, want it to go on", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the run did not end")
	}
}
