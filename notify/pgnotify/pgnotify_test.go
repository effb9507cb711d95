package pgnotify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
)

func TestMain(m *testing.M) { testfamily.Main(m, testfamily.Postgres) }

var payloads = []struct {
	in     string
	tenant bulwark.TenantID
	task   string
	ok     bool
}{
	{"tn_a:t_1:7", "tn_a", "t_1", true},
	{"tn_a:t_1:0", "tn_a", "t_1", true},
	{"tn_a:t:x:12", "tn_a", "t:x", true}, // the tenant ends at the first colon, the seq starts after the last
	{"tn_a:t_1:-1", "", "", false},
	{"tn_a:t_1:", "", "", false},
	{"tn_a::3", "", "", false},
	{":t_1:3", "", "", false},
	{"tn_a:t_1", "", "", false},
	{"tn_a", "", "", false},
	{"", "", "", false},
	{"tn_a:t_1:99999999999999999999", "", "", false},
}

func TestParsePayload(t *testing.T) {
	for _, c := range payloads {
		tenant, task, ok := parsePayload(c.in)
		if tenant != c.tenant || task != c.task || ok != c.ok {
			t.Errorf("parsePayload(%q) = %q, %q, %v; want %q, %q, %v", c.in, tenant, task, ok, c.tenant, c.task, c.ok)
		}
	}
	if p := Payload("tn_a", "t_1", 42); p != "tn_a:t_1:42" {
		t.Errorf("Payload = %q, want tn_a:t_1:42", p)
	}
	if tenant, task, ok := parsePayload(Payload("tn_a", "t_1", 42)); !ok || tenant != "tn_a" || task != "t_1" {
		t.Errorf("parsePayload(Payload(tn_a, t_1, 42)) = %q, %q, %v", tenant, task, ok)
	}
}

func FuzzParsePayload(f *testing.F) {
	for _, c := range payloads {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tenant, task, ok := parsePayload(p)
		if !ok {
			return
		}
		if tenant == "" || task == "" {
			t.Fatalf("parsePayload(%q) accepted an empty tenant or task", p)
		}
		if t2, id2, ok2 := parsePayload(Payload(tenant, task, 1)); !ok2 || t2 != tenant || id2 != task {
			t.Fatalf("parsePayload(%q) = %q, %q, but its Payload reads back as %q, %q, %v", p, tenant, task, t2, id2, ok2)
		}
	})
}

func TestListenUnavailable(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://nobody@127.0.0.1:1/none?connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	l, err := Listen(context.Background(), pool)
	if err == nil {
		l.Close()
		t.Fatal("Listen on a server that is not there succeeded")
	}
	if k := bulwark.ErrorKind(err); k != bulwark.Unavailable {
		t.Errorf("Listen on a server that is not there: kind %v, want Unavailable (%v)", k, err)
	}
}

// testDB is a database of its own for one test.
type testDB struct {
	url string // the server's URL (its default database)
	cfg *pgxpool.Config
}

// freshDB creates a database with a random name on the server of
// BULWARK_TEST_POSTGRES (skipping the test without it) and drops it when
// the test ends.
func freshDB(t *testing.T) testDB {
	t.Helper()
	url := testfamily.Postgres.Require(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to BULWARK_TEST_POSTGRES: %v", err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 8)
	rand.Read(b)
	name := "pgnotify_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Database = name
	return testDB{url: url, cfg: cfg}
}

// pool opens a new pool on the database (a node of its own), closed when
// the test ends (before the database is dropped).
func (d testDB) pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.NewWithConfig(context.Background(), d.cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// listener starts a Listener on pool, closed when the test ends.
func listener(t *testing.T, pool *pgxpool.Pool) *Listener {
	t.Helper()
	l, err := Listen(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	return l
}

// notifyIn sends the notification of event seq of a task in a
// transaction that inserts a row too, as a store does, then commits it
// or rolls it back.
func notifyIn(t *testing.T, pool *pgxpool.Pool, tenant bulwark.TenantID, id string, seq int64, commit bool) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS events (task text, seq bigint)"); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "INSERT INTO events VALUES ($1, $2)", id, seq); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, NotifySQL, Payload(tenant, id, seq)); err != nil {
		t.Fatal(err)
	}
	if commit {
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
	} else if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
}

func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func waitWake(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: no wake-up", what)
	}
}

func TestCommittedNotificationsReachEveryNode(t *testing.T) {
	d := freshDB(t)
	p1, p2 := d.pool(t), d.pool(t)
	nodes := []*Listener{listener(t, p1), listener(t, p2)}
	type follower struct{ t1, t2 <-chan struct{} }
	var fs []follower
	for _, l := range nodes {
		t1, stop1 := l.Follow("tn_a", "t_1")
		t.Cleanup(stop1)
		t2, stop2 := l.Follow("tn_a", "t_2")
		t.Cleanup(stop2)
		fs = append(fs, follower{t1, t2})
	}

	// Noise first: a rolled-back event of t_1, the same task id in
	// another tenant, and payloads no store sends.
	notifyIn(t, p1, "tn_a", "t_1", 1, false)
	notifyIn(t, p2, "tn_b", "t_1", 1, true)
	for _, junk := range []string{"tn_a:t_1", "garbage", "tn_a:t_1:x"} {
		if _, err := p1.Exec(context.Background(), NotifySQL, junk); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p1.Exec(context.Background(), "NOTIFY other_channel, 'tn_a:t_1:1'"); err != nil {
		t.Fatal(err)
	}
	// Then a committed event of t_2. PostgreSQL delivers notifications
	// in commit order and a Listener dispatches them in turn, so once the
	// followers of t_2 are woken, any wake-up of t_1 from the noise would
	// have come.
	notifyIn(t, p1, "tn_a", "t_2", 1, true)
	for i, f := range fs {
		waitWake(t, f.t2, "node "+string(rune('1'+i))+", committed event of t_2")
		if woken(f.t1) {
			t.Errorf("node %d: the follower of tn_a/t_1 was woken by a rolled-back transaction, another tenant's task or a foreign payload", i+1)
		}
	}

	notifyIn(t, p2, "tn_a", "t_1", 1, true)
	for i, f := range fs {
		waitWake(t, f.t1, "node "+string(rune('1'+i))+", committed event of t_1")
	}
}

func TestReconnectAfterTheConnectionIsKilled(t *testing.T) {
	d := freshDB(t)
	pool := d.pool(t)
	l := listener(t, pool)
	ch, stop := l.Follow("tn_a", "t_1")
	defer stop()

	admin, err := pgx.Connect(context.Background(), d.url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	for round := range 2 {
		old := l.pid.Load()
		var killed bool
		if err := admin.QueryRow(context.Background(), "SELECT pg_terminate_backend($1)", int32(old)).Scan(&killed); err != nil || !killed {
			t.Fatalf("round %d: pg_terminate_backend(%d) = %v, %v", round, old, killed, err)
		}
		// Whatever was sent while it was away is lost: reconnected, it
		// wakes every follower so that each re-reads the store.
		waitWake(t, ch, "after the listening connection was killed")
		if now := l.pid.Load(); now == old {
			t.Fatalf("round %d: woken, but the listening connection is still backend %d", round, now)
		}
		// And it listens again.
		notifyIn(t, pool, "tn_a", "t_1", int64(round+1), true)
		waitWake(t, ch, "a committed event after the reconnection")
	}
}

func TestCloseStopsListening(t *testing.T) {
	d := freshDB(t)
	pool := d.pool(t)
	l, err := Listen(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	pid := l.pid.Load()
	l.Close()
	// The connection is closed when Close returns; its backend process
	// ends a moment later, on the server's side (CI saw it still listed
	// right after): it must be gone within a generous bound.
	var n int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err = pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", int32(pid)).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 || time.Now().After(deadline) {
			break
		}
	}
	if n != 0 {
		t.Errorf("after Close, the listening connection (backend %d) is still open", pid)
	}
}
