package pglimits

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/bulwark-agents/bulwark/limits"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { testfamily.Main(m, testfamily.Postgres) }

// twoNodes returns the Limits of two nodes: each its own pool on one
// fresh database, both made at once (their tables are created under a
// lock, so neither fails). The pools are returned too.
func twoNodes(t *testing.T) (a, b *Limits, pa, pb *pgxpool.Pool) {
	t.Helper()
	cfg := pgtest.NewDatabase(t)
	pa, pb = pgtest.Pool(t, cfg), pgtest.Pool(t, cfg)
	var errA, errB error
	var wg sync.WaitGroup
	wg.Go(func() { a, errA = New(context.Background(), pa) })
	wg.Go(func() { b, errB = New(context.Background(), pb) })
	wg.Wait()
	if errA != nil || errB != nil {
		t.Fatalf("New on two nodes at once: %v, %v", errA, errB)
	}
	t.Cleanup(a.Close)
	t.Cleanup(b.Close)
	return a, b, pa, pb
}

// TestTwoNodesShareOneBucket: a client that spreads its requests over two
// nodes gets what it would get from one: with burst 10 (and a rate too
// slow to matter), exactly 10 of 40 concurrent requests pass.
func TestTwoNodesShareOneBucket(t *testing.T) {
	t.Parallel()
	a, b, _, _ := twoNodes(t)
	const burst, requests = 10, 40
	var passed atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := range requests {
		node := a
		if i%2 == 1 {
			node = b
		}
		wg.Go(func() {
			ok, retry, err := node.Allow(context.Background(), "who|k_client", 0.001, burst)
			if err != nil {
				errs <- err
				return
			}
			if ok {
				passed.Add(1)
			} else if retry <= 0 {
				t.Errorf("a refusal with retryAfter %v, want > 0", retry)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := passed.Load(); got != burst {
		t.Errorf("%d of %d requests over two nodes passed, want %d (the burst)", got, requests, burst)
	}
	// Another key has its own bucket.
	if ok, _, err := b.Allow(context.Background(), "who|k_other", 0.001, burst); err != nil || !ok {
		t.Errorf("another key's first request: %v, %v; want it allowed", ok, err)
	}
}

// TestBucketRefill: a bucket refills at its rate from the time stored in
// its row (moved back here, as if time had passed on the database's
// clock), never above its burst; the refusal says how long until a
// token comes.
func TestBucketRefill(t *testing.T) {
	t.Parallel()
	a, b, pa, _ := twoNodes(t)
	ctx := context.Background()
	for range 2 {
		if ok, _, _ := a.Allow(ctx, "k", 0.5, 2); !ok {
			t.Fatal("a request of the burst was refused")
		}
	}
	ok, retry, err := b.Allow(ctx, "k", 0.5, 2)
	if err != nil || ok {
		t.Fatalf("past the burst: %v, %v; want refused", ok, err)
	}
	if retry <= time.Second || retry > 2*time.Second {
		t.Errorf("retryAfter = %v, want in (1s, 2s] (a token every 2s)", retry)
	}
	// 3 seconds pass: 1.5 tokens come back.
	if _, err := pa.Exec(ctx, `UPDATE limit_buckets SET at = at - interval '3 seconds'`); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := b.Allow(ctx, "k", 0.5, 2); !ok {
		t.Error("refused after a token came back")
	}
	if ok, _, _ := a.Allow(ctx, "k", 0.5, 2); ok {
		t.Error("allowed with half a token left")
	}
	// An hour passes: the bucket is full, no fuller than its burst.
	if _, err := pa.Exec(ctx, `UPDATE limit_buckets SET at = at - interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range 5 {
		if ok, _, _ := a.Allow(ctx, "k", 0.5, 2); ok {
			n++
		}
	}
	if n != 2 {
		t.Errorf("after an hour %d requests passed, want 2 (the burst)", n)
	}
	// A burst of 0 never allows.
	if ok, retry, _ := a.Allow(ctx, "zero", 1, 0); ok || retry <= 0 {
		t.Errorf("burst 0: %v, %v; want refused with a retryAfter", ok, retry)
	}
}

var policy = limits.Policy{Free: 2, Base: time.Second, MaxDelay: 4 * time.Second}

// TestLoginFailuresAcrossNodes: failures counted on either node slow the
// key down on both; Reset on one forgets them on the other.
func TestLoginFailuresAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, pa, _ := twoNodes(t)
	ctx := context.Background()
	const key = "acct|\nvictim@example.com"
	nodes := []*Limits{a, b}
	// After the n-th failure the next attempt waits at most this.
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, w := range want {
		if err := nodes[i%2].Fail(ctx, key, policy); err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			got, err := n.Wait(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if got > w || w > 0 && got <= w/2 {
				t.Errorf("after %d failures spread over both nodes, Wait = %v, want about %v", i+1, got, w)
			}
		}
	}
	if err := b.Reset(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Wait(ctx, key); got != 0 {
		t.Errorf("after Reset on the other node, Wait = %v, want 0", got)
	}

	// Failures at once on both nodes are each counted.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if err := nodes[i%2].Fail(ctx, "acct|\nmany", policy); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var n int
	if err := pa.QueryRow(ctx, `SELECT n FROM limit_login_failures WHERE key = $1`, hashKey("acct|\nmany")).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 20 {
		t.Errorf("20 failures at once on two nodes counted %d", n)
	}

	// Failures are forgotten FailureWindow after the last one.
	if _, err := pa.Exec(ctx, `UPDATE limit_login_failures SET last_failure = last_failure - $1::float8 * interval '1 microsecond',
		wait_until = wait_until - $1::float8 * interval '1 microsecond'`, float64(limits.FailureWindow.Microseconds())); err != nil {
		t.Fatal(err)
	}
	if err := a.Fail(ctx, "acct|\nmany", policy); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Wait(ctx, "acct|\nmany"); got != 0 {
		t.Errorf("the first failure after the window: Wait = %v, want 0 (the old ones forgotten)", got)
	}
}

// TestCursorsAcrossNodes: a cursor advanced on one node is read on the
// other, and never goes back.
func TestCursorsAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, _, _ := twoNodes(t)
	ctx := context.Background()
	if n, err := b.Cursor(ctx, "t1/task"); err != nil || n != 0 {
		t.Fatalf("a cursor never set = %d, %v; want 0", n, err)
	}
	steps := []struct {
		node *Limits
		n    int64
		want int64
	}{{a, 3, 3}, {b, 2, 3}, {b, 5, 5}, {a, 4, 5}}
	for _, s := range steps {
		if err := s.node.Advance(ctx, "t1/task", s.n); err != nil {
			t.Fatal(err)
		}
		for _, n := range []*Limits{a, b} {
			if got, err := n.Cursor(ctx, "t1/task"); err != nil || got != s.want {
				t.Errorf("after Advance(%d): Cursor = %d, %v; want %d", s.n, got, err, s.want)
			}
		}
	}
	if n, _ := a.Cursor(ctx, "t2/task"); n != 0 {
		t.Errorf("another task's cursor = %d, want 0", n)
	}
}

// TestClean deletes what says nothing any more, and only that.
func TestClean(t *testing.T) {
	t.Parallel()
	a, _, pa, _ := twoNodes(t)
	ctx := context.Background()
	a.Allow(ctx, "full again", 1, 5)
	a.Allow(ctx, "still low", 0.001, 5)
	a.Fail(ctx, "forgotten", policy)
	a.Fail(ctx, "recent", policy)
	a.Advance(ctx, "old cursor", 1)
	a.Advance(ctx, "new cursor", 1)
	for _, q := range []struct {
		sql string
		arg []byte
	}{
		{`UPDATE limit_buckets SET at = at - interval '10 seconds' WHERE key <> $1`, []byte("none")},
		{`UPDATE limit_login_failures SET last_failure = last_failure - interval '1 hour', wait_until = wait_until - interval '1 hour' WHERE key = $1`, hashKey("forgotten")},
		{`UPDATE limit_cursors SET changed = changed - interval '30 days' WHERE key = $1`, hashKey("old cursor")},
	} {
		if _, err := pa.Exec(ctx, q.sql, q.arg); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}
	if err := a.Clean(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		table, key string
		kept       bool
	}{
		{"limit_buckets", "full again", false}, {"limit_buckets", "still low", true},
		{"limit_login_failures", "forgotten", false}, {"limit_login_failures", "recent", true},
		{"limit_cursors", "old cursor", false}, {"limit_cursors", "new cursor", true},
	} {
		var n int
		if err := pa.QueryRow(ctx, `SELECT count(*) FROM `+c.table+` WHERE key = $1`, hashKey(c.key)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if (n == 1) != c.kept {
			t.Errorf("after Clean, %s holds %q: %v, want %v", c.table, c.key, n == 1, c.kept)
		}
	}
}

// TestFailsClosed: when the database cannot be reached every method
// returns an Unavailable error, and Allow does not allow.
func TestFailsClosed(t *testing.T) {
	t.Parallel()
	a, _, pa, _ := twoNodes(t)
	pa.Close()
	a.Close() // the locks' own connections, gone too
	ctx := context.Background()
	ok, _, err := a.Allow(ctx, "k", 10, 10)
	if ok || bulwark.ErrorKind(err) != bulwark.Unavailable {
		t.Errorf("Allow with the database gone = %v, %v; want false and an Unavailable error", ok, err)
	}
	if _, err := a.Wait(ctx, "k"); bulwark.ErrorKind(err) != bulwark.Unavailable {
		t.Errorf("Wait with the database gone: %v, want Unavailable", err)
	}
	if err := a.Fail(ctx, "k", policy); bulwark.ErrorKind(err) != bulwark.Unavailable {
		t.Errorf("Fail with the database gone: %v, want Unavailable", err)
	}
	if _, err := a.Cursor(ctx, "k"); bulwark.ErrorKind(err) != bulwark.Unavailable {
		t.Errorf("Cursor with the database gone: %v, want Unavailable", err)
	}
	if err := a.Advance(ctx, "k", 1); bulwark.ErrorKind(err) != bulwark.Unavailable {
		t.Errorf("Advance with the database gone: %v, want Unavailable", err)
	}
	if _, err := a.Lock(ctx, "k"); bulwark.ErrorKind(err) != bulwark.Unavailable {
		t.Errorf("Lock with the database gone: %v, want Unavailable", err)
	}
}

// TestLockAcrossNodes: a lock held on one node is not had on the other
// until it is released; increments made under it on both nodes at once
// are never lost.
func TestLockAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, _, _ := twoNodes(t)
	ctx := context.Background()
	unlock, err := a.Lock(ctx, "roles|t1")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(short, "roles|t1"); err == nil {
		t.Fatal("node B got the lock that node A holds")
	}
	if u, err := b.Lock(ctx, "roles|t2"); err != nil {
		t.Fatalf("another name's lock on node B: %v", err)
	} else {
		u()
	}
	unlock()
	unlock() // a second call does nothing
	u, err := b.Lock(ctx, "roles|t1")
	if err != nil {
		t.Fatalf("node B, after node A released the lock: %v", err)
	}
	u()

	// Read and write apart (not an atomic increment): only the lock
	// keeps two updates from being lost.
	var n atomic.Int64
	var wg sync.WaitGroup
	for i := range 20 {
		node := []*Limits{a, b}[i%2]
		wg.Go(func() {
			u, err := node.Lock(ctx, "counter")
			if err != nil {
				t.Error(err)
				return
			}
			defer u()
			v := n.Load()
			time.Sleep(time.Millisecond)
			n.Store(v + 1)
		})
	}
	wg.Wait()
	if got := n.Load(); got != 20 {
		t.Errorf("20 increments under the lock on two nodes gave %d", got)
	}
}

// BenchmarkAllow measures one rate-limit check in PostgreSQL, each
// goroutine on a key of its own (go test -bench Allow with
// BULWARK_TEST_POSTGRES set).
func BenchmarkAllow(b *testing.B) {
	cfg := pgtest.NewDatabase(b)
	l, err := New(context.Background(), pgtest.Pool(b, cfg))
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		key := "who|k" + string(rune('a'+next.Add(1)))
		for pb.Next() {
			if _, _, err := l.Allow(context.Background(), key, 1e9, 1e9); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// TestLocksLeaveThePoolFree: the locks held at once (one per tenant
// uploading a file or changing a role) take no connection the work under
// them needs. Held on the store's pool, as many locks as the pool has
// connections left none for the statements of the requests that hold
// them: every request of the node waited for a connection that none would
// give back.
func TestLocksLeaveThePoolFree(t *testing.T) {
	t.Parallel()
	const conns = 3
	u := pgtest.NewDatabase(t)
	if strings.Contains(u, "?") {
		u += "&pool_max_conns=3"
	} else {
		u += "?pool_max_conns=3"
	}
	pool := pgtest.Pool(t, u)
	l, err := New(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	for i := range conns {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		unlock, err := l.Lock(ctx, "uploads|tn_"+string(rune('a'+i)))
		cancel()
		if err != nil {
			t.Fatalf("Lock %d: %v", i, err)
		}
		defer unlock()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if ok, _, err := l.Allow(ctx, "who|k_1", 10, 10); err != nil || !ok {
		t.Errorf("with %d locks held on a pool of %d, Allow = %v, %v: the locks hold every connection", conns, conns, ok, err)
	}
	var one int
	if err := pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		t.Errorf("with %d locks held on a pool of %d, a query of the store: %v", conns, conns, err)
	}
}
