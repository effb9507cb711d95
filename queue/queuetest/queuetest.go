// Package queuetest holds the behavioural tests that every queue.Queue
// passes: exactly once, the per-tenant quota, per-tenant order, and
// waiting tasks that hold no worker. Each implementation's tests call Run
// with a function that makes its nodes.
package queuetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/queue"
)

// Cluster makes the nodes of one fresh queue under test: nodes queues
// that share their state (one database), each with workers workers, and
// quota as every tenant's quota. It stops nothing: Run stops the nodes.
type Cluster func(t *testing.T, nodes, workers, quota int) []queue.Queue

// hang is how long a test waits for something that should happen: a
// guard against hanging, not a speed requirement.
const hang = 90 * time.Second

// Run runs the behavioural tests with clusters of up to maxNodes nodes.
func Run(t *testing.T, maxNodes int, cluster Cluster) {
	t.Run("QuotaOrderOnce", func(t *testing.T) { testQuotaOrderOnce(t, maxNodes, cluster) })
	t.Run("WaitingHoldsNoWorker", func(t *testing.T) { testWaitingHoldsNoWorker(t, maxNodes, cluster) })
	t.Run("ContinueBeforeWaiting", func(t *testing.T) { testContinueBeforeWaiting(t, cluster) })
	t.Run("ContinuedGoesFirst", func(t *testing.T) { testContinuedGoesFirst(t, cluster) })
	t.Run("EnqueueWhileEnding", func(t *testing.T) { testEnqueueWhileEnding(t, cluster) })
	t.Run("ContinueThenFinished", func(t *testing.T) { testContinueThenFinished(t, cluster) })
	t.Run("Remove", func(t *testing.T) { testRemove(t, cluster) })
	t.Run("Failures", func(t *testing.T) { testFailures(t, cluster) })
}

// start starts every node with run and stops them at the test's end.
func start(t *testing.T, nodes []queue.Queue, run queue.RunFunc) {
	t.Helper()
	for _, n := range nodes {
		if err := n.Start(context.Background(), run); err != nil {
			t.Fatalf("Start: %v", err)
		}
	}
	t.Cleanup(func() { stopAll(t, nodes) })
}

func stopAll(t *testing.T, nodes []queue.Queue) {
	ctx, cancel := context.WithTimeout(context.Background(), hang)
	defer cancel()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(func() {
			if err := n.Stop(ctx); err != nil {
				t.Errorf("Stop: %v", err)
			}
		})
	}
	wg.Wait()
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(hang):
		t.Fatal(what)
	}
}

// testQuotaOrderOnce: 60 tasks of 3 tenants, quota 2, on every node of
// the cluster: each runs exactly once, never more than 2 of a tenant at
// once, and each tenant's start in the order they were queued.
func testQuotaOrderOnce(t *testing.T, nodes int, cluster Cluster) {
	const tenants, perTenant, quota, workers = 3, 20, 2, 4
	qs := cluster(t, nodes, workers, quota)

	var (
		mu      sync.Mutex
		running = map[bulwark.TenantID]int{}
		most    = map[bulwark.TenantID]int{}
		order   = map[bulwark.TenantID][]int{} // task numbers in start order
		runs    = map[string]int{}
		ended   int
		all     = make(chan struct{})
		// full is closed once quota tasks of the tenant ran at once: until
		// then a run waits for the next (a fixed time of work did not
		// always make runs overlap on a loaded machine, and the check
		// that the quota was reached failed).
		full = map[bulwark.TenantID]chan struct{}{}
	)
	for j := range tenants {
		full[bulwark.TenantID(fmt.Sprintf("tenant-%d", j))] = make(chan struct{})
	}
	run := func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
		var n int
		fmt.Sscanf(id, "task-%d", &n)
		mu.Lock()
		running[tenant]++
		if running[tenant] == quota && most[tenant] < quota {
			close(full[tenant])
		}
		most[tenant] = max(most[tenant], running[tenant])
		if running[tenant] > quota {
			t.Errorf("tenant %s: %d tasks running at once, quota %d", tenant, running[tenant], quota)
		}
		order[tenant] = append(order[tenant], n)
		runs[string(tenant)+"/"+id]++
		mu.Unlock()
		select { // a queue that never runs quota at once fails below
		case <-full[tenant]:
		case <-time.After(hang / 4):
		}
		time.Sleep(10 * time.Millisecond) // work, so that later runs overlap too
		mu.Lock()
		running[tenant]--
		ended++
		if ended == tenants*perTenant {
			close(all)
		}
		mu.Unlock()
		return queue.Finished, nil
	}

	ctx := context.Background()
	for i := range perTenant {
		for j := range tenants {
			tenant := bulwark.TenantID(fmt.Sprintf("tenant-%d", j))
			id := fmt.Sprintf("task-%d", i)
			if err := qs[(i*tenants+j)%len(qs)].Enqueue(ctx, tenant, id); err != nil {
				t.Fatalf("Enqueue(%s, %s): %v", tenant, id, err)
			}
		}
	}
	// Queuing a queued task again adds nothing.
	if err := qs[0].Enqueue(ctx, "tenant-0", "task-0"); err != nil {
		t.Fatalf("Enqueue again: %v", err)
	}
	if p, err := qs[0].Position(ctx, "tenant-1", "task-3"); err != nil || p != 4 {
		t.Errorf("Position(tenant-1, task-3) before start = %d, %v; want 4", p, err)
	}
	start(t, qs, run)
	wait(t, all, "the 60 tasks did not all run")
	stopAll(t, qs) // no run can come after this

	mu.Lock()
	defer mu.Unlock()
	for j := range tenants {
		tenant := bulwark.TenantID(fmt.Sprintf("tenant-%d", j))
		if most[tenant] != quota {
			t.Errorf("tenant %s: at most %d tasks ran at once; want the quota, %d (the test did not exercise it)", tenant, most[tenant], quota)
		}
		// A task starts after every task queued before it was claimed;
		// only those claimed alongside it (quota-1 at most) may start
		// their run a moment before it.
		for pos, n := range order[tenant] {
			if d := pos - n; d >= quota || -d >= quota {
				t.Errorf("tenant %s: start order %v: task %d started at place %d", tenant, order[tenant], n, pos)
				break
			}
		}
	}
	if len(runs) != tenants*perTenant {
		t.Errorf("%d distinct tasks ran, want %d", len(runs), tenants*perTenant)
	}
	for id, n := range runs {
		if n != 1 {
			t.Errorf("task %s ran %d times, want once", id, n)
		}
	}
}

// testWaitingHoldsNoWorker: with one worker per node, as many tasks as
// nodes wait for a person, and another task still runs; Continue (on
// another node than the one that queued it) runs each waiting task again,
// resumed.
func testWaitingHoldsNoWorker(t *testing.T, nodes int, cluster Cluster) {
	qs := cluster(t, nodes, 1, 4)
	var mu sync.Mutex
	runs := map[string][]bool{} // resumed, per run of each task
	waiting, again := make(chan struct{}, nodes), make(chan struct{}, nodes)
	bRan := make(chan struct{})
	run := func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
		if id == "b1" {
			close(bRan)
			return queue.Finished, nil
		}
		mu.Lock()
		runs[id] = append(runs[id], resumed)
		n := len(runs[id])
		mu.Unlock()
		if n == 1 {
			defer func() { waiting <- struct{}{} }()
			return queue.Waiting, nil
		}
		again <- struct{}{}
		return queue.Finished, nil
	}
	start(t, qs, run)
	ctx := context.Background()
	for i := range nodes {
		if err := qs[i].Enqueue(ctx, bulwark.TenantID(fmt.Sprintf("w%d", i)), fmt.Sprintf("w%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for range nodes {
		wait(t, waiting, "a task that waits for a person did not run")
	}
	if err := qs[0].Enqueue(ctx, "b", "b1"); err != nil {
		t.Fatal(err)
	}
	wait(t, bRan, "a task did not run while the others waited for a person, with one worker per node")
	for i := range nodes {
		if err := qs[(i+1)%nodes].Continue(ctx, bulwark.TenantID(fmt.Sprintf("w%d", i)), fmt.Sprintf("w%d", i)); err != nil {
			t.Fatalf("Continue: %v", err)
		}
	}
	for range nodes {
		wait(t, again, "a waiting task did not run again after Continue")
	}
	stopAll(t, qs)
	mu.Lock()
	defer mu.Unlock()
	for id, r := range runs {
		if len(r) != 2 || r[0] || !r[1] {
			t.Errorf("%s's runs (resumed each) = %v, want [false true]", id, r)
		}
	}
	if err := qs[0].Continue(ctx, "w0", "unknown"); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("Continue of an unknown task = %v, want NotFound", err)
	}
}

// testContinueBeforeWaiting: the answer comes (on another node, maybe)
// before the run has returned Waiting; the task must still run again.
func testContinueBeforeWaiting(t *testing.T, cluster Cluster) {
	qs := cluster(t, 1, 1, 4)
	q := qs[0]
	var mu sync.Mutex
	runs := 0
	done := make(chan struct{})
	run := func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
		mu.Lock()
		runs++
		n := runs
		mu.Unlock()
		if n == 1 {
			if err := q.Continue(ctx, tenant, id); err != nil {
				t.Errorf("Continue while it runs: %v", err)
			}
			return queue.Waiting, nil
		}
		close(done)
		return queue.Finished, nil
	}
	start(t, qs, run)
	if err := q.Enqueue(context.Background(), "a", "a1"); err != nil {
		t.Fatal(err)
	}
	wait(t, done, "a task answered before it returned Waiting never ran again")
}

// testContinuedGoesFirst: a task continued after a wait goes ahead of
// the tasks its tenant queued after it.
func testContinuedGoesFirst(t *testing.T, cluster Cluster) {
	qs := cluster(t, 1, 2, 1)
	q := qs[0]
	var mu sync.Mutex
	var order []string
	waits, a2Runs, a3Done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	release := make(chan struct{})
	run := func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
		mu.Lock()
		order = append(order, fmt.Sprintf("%s/%v", id, resumed))
		mu.Unlock()
		switch {
		case id == "a1" && !resumed:
			defer close(waits)
			return queue.Waiting, nil
		case id == "a2":
			close(a2Runs)
			<-release
		case id == "a3":
			close(a3Done)
		}
		return queue.Finished, nil
	}
	start(t, qs, run)
	ctx := context.Background()
	if err := q.Enqueue(ctx, "a", "a1"); err != nil {
		t.Fatal(err)
	}
	wait(t, waits, "a1 did not run")
	for _, id := range []string{"a2", "a3"} {
		if err := q.Enqueue(ctx, "a", id); err != nil {
			t.Fatal(err)
		}
	}
	wait(t, a2Runs, "a2 did not run")
	if err := q.Continue(ctx, "a", "a1"); err != nil {
		t.Fatal(err)
	}
	close(release)
	wait(t, a3Done, "a3 did not run")
	stopAll(t, qs)
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(order); got != "[a1/false a2/false a1/true a3/false]" {
		t.Errorf("runs %s; want a1 continued before a3, queued after it first was", got)
	}
}

// testEnqueueWhileEnding: a new turn of a task queued while its run
// before ends (it has stored its end, and has not returned yet) runs
// after it, as a new run, not resumed.
func testEnqueueWhileEnding(t *testing.T, cluster Cluster) {
	qs := cluster(t, 1, 1, 4)
	q := qs[0]
	var mu sync.Mutex
	var runs []bool
	done := make(chan struct{})
	run := func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
		mu.Lock()
		runs = append(runs, resumed)
		n := len(runs)
		mu.Unlock()
		if n == 1 {
			if err := q.Enqueue(ctx, tenant, id); err != nil {
				t.Errorf("Enqueue while it ends: %v", err)
			}
			return queue.Finished, nil
		}
		close(done)
		return queue.Finished, nil
	}
	start(t, qs, run)
	if err := q.Enqueue(context.Background(), "a", "a1"); err != nil {
		t.Fatal(err)
	}
	wait(t, done, "a task queued again while its run ended did not run again")
	stopAll(t, qs)
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(runs) != "[false false]" {
		t.Errorf("runs (resumed each) = %v, want [false false]", runs)
	}
}

// testContinueThenFinished: a Continue that comes while a run goes on
// (a second answer to an approval the run has taken already) does not
// queue the task again when the run returns Finished: its turn is over,
// and a run started then would race the next turn's (a new turn is an
// Enqueue, after its message is stored). The next turn, when it is
// queued, runs once, not resumed.
func testContinueThenFinished(t *testing.T, cluster Cluster) {
	qs := cluster(t, 1, 2, 1)
	q := qs[0]
	var mu sync.Mutex
	var order []string
	nextTurn := false
	first, a2Ran, a3Ran, nextRan := make(chan struct{}), make(chan struct{}), make(chan struct{}), make(chan struct{})
	run := func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
		mu.Lock()
		order = append(order, fmt.Sprintf("%s/%v", id, resumed))
		a1Runs := strings.Count(fmt.Sprint(order), "a1/")
		next := nextTurn
		mu.Unlock()
		switch {
		case id == "a1" && a1Runs == 1:
			defer close(first)
			if err := q.Continue(ctx, tenant, id); err != nil {
				t.Errorf("Continue while it runs: %v", err)
			}
		case id == "a1" && !next:
			t.Errorf("a1 ran again after its run returned Finished, with only a Continue since (resumed %v)", resumed)
		case id == "a1":
			close(nextRan)
		case id == "a2":
			close(a2Ran)
		case id == "a3":
			close(a3Ran)
		}
		return queue.Finished, nil
	}
	start(t, qs, run)
	ctx := context.Background()
	if err := q.Enqueue(ctx, "a", "a1"); err != nil {
		t.Fatal(err)
	}
	wait(t, first, "a1 did not run")
	// With a quota of one, in order: a re-run of a1 queued by its end
	// would run before a3 does.
	if err := q.Enqueue(ctx, "a", "a2"); err != nil {
		t.Fatal(err)
	}
	wait(t, a2Ran, "a2 did not run")
	if err := q.Enqueue(ctx, "a", "a3"); err != nil {
		t.Fatal(err)
	}
	wait(t, a3Ran, "a3 did not run")
	mu.Lock()
	nextTurn = true
	mu.Unlock()
	if err := q.Enqueue(ctx, "a", "a1"); err != nil {
		t.Fatal(err)
	}
	wait(t, nextRan, "the next turn of a1 did not run")
	stopAll(t, qs)
	mu.Lock()
	defer mu.Unlock()
	if got := fmt.Sprint(order); got != "[a1/false a2/false a3/false a1/false]" {
		t.Errorf("runs %s; want [a1/false a2/false a3/false a1/false]", got)
	}
}

// testRemove: a task removed before it starts never runs; the others do.
func testRemove(t *testing.T, cluster Cluster) {
	qs := cluster(t, 1, 1, 4)
	q := qs[0]
	ctx := context.Background()
	for _, id := range []string{"a1", "a2", "a3"} {
		if err := q.Enqueue(ctx, "a", id); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := q.Remove(ctx, "a", "a2"); !ok || err != nil {
		t.Fatalf("Remove(a2) = %v, %v; want true", ok, err)
	}
	if ok, err := q.Remove(ctx, "a", "a2"); ok || err != nil {
		t.Fatalf("Remove(a2) again = %v, %v; want false", ok, err)
	}
	if p, err := q.Position(ctx, "a", "a3"); p != 2 || err != nil {
		t.Errorf("Position(a3) after a2's removal = %d, %v; want 2", p, err)
	}
	var mu sync.Mutex
	var ran []string
	done := make(chan struct{})
	run := func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
		mu.Lock()
		defer mu.Unlock()
		ran = append(ran, id)
		if id == "a3" {
			close(done)
		}
		return queue.Finished, nil
	}
	start(t, qs, run)
	wait(t, done, "a3 did not run")
	stopAll(t, qs)
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(ran) != "[a1 a3]" {
		t.Errorf("ran %v, want [a1 a3]", ran)
	}
}

// testFailures: a run that returns an error is run again, resumed, after
// a backoff, told how many runs of the task in a row returned one
// (queue.Failures); a run that waits resets the count.
func testFailures(t *testing.T, cluster Cluster) {
	qs := cluster(t, 1, 1, 4)
	q := qs[0]
	ctx := context.Background()
	var mu sync.Mutex
	var seen []string
	waiting, done := make(chan struct{}), make(chan struct{})
	run := func(ctx context.Context, tenant bulwark.TenantID, id string, resumed bool) (queue.Outcome, error) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%d/%v", queue.Failures(ctx), resumed))
		switch len(seen) {
		case 1, 2, 4:
			return queue.Finished, bulwark.Errorf(bulwark.Unavailable, "test", "the store does not answer")
		case 3:
			close(waiting)
			return queue.Waiting, nil
		}
		close(done)
		return queue.Finished, nil
	}
	start(t, qs, run)
	if err := q.Enqueue(ctx, "a", "a1"); err != nil {
		t.Fatal(err)
	}
	wait(t, waiting, "a1 did not run again after its failures")
	if err := q.Continue(ctx, "a", "a1"); err != nil {
		t.Fatal(err)
	}
	wait(t, done, "a1 did not run again after its wait")
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(seen, " "); got != "0/false 1/true 2/true 0/true 1/true" {
		t.Errorf("runs saw failures/resumed %s, want 0/false 1/true 2/true 0/true 1/true", got)
	}
}
