package pgaudit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/audit/audittest"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
)

// TestBackendScenarios runs the scenarios every audit backend must pass.
func TestBackendScenarios(t *testing.T) {
	testfamily.Postgres.Require(t)
	audittest.Run(t, newStorage)
}

// TestNodesShareAChain: 3 nodes (pools of their own) × 4 goroutines
// append 200 records each to one tenant's chain at once: it verifies, one
// chain of 2400 records with no gap, each record once.
func TestNodesShareAChain(t *testing.T) {
	audittest.Shared(t, newStorage(t), 3, 4, 200)
}

// TestNewIsIdempotent: nodes that start at once on an empty database all
// get the tables, and New on tables that exist changes nothing.
func TestNewIsIdempotent(t *testing.T) {
	d := freshDB(t)
	var wg sync.WaitGroup
	for range 4 {
		p := d.pool(t)
		wg.Go(func() {
			if _, err := New(t.Context(), p); err != nil {
				t.Errorf("New: %v", err)
			}
		})
	}
	wg.Wait()
	c, err := audit.OpenChains(t.Context(), d.backend(t), audit.Options{SigningKey: audittest.Key(t)})
	if err != nil {
		t.Fatal(err)
	}
	c.Append(t.Context(), audit.Record{Actor: "u", Action: "x", Outcome: audit.OutcomeOK})
	c.Close()
	if _, err := New(t.Context(), d.pool(t)); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.pool(t).QueryRow(t.Context(), `SELECT count(*) FROM audit_records`).Scan(&n); err != nil || n != 1 {
		t.Errorf("records after a second New: %d, %v; want 1", n, err)
	}
}

// fill writes 12 records to tenant t1's chain, with checkpoints after
// records 5, 10 and 12.
func fill(t *testing.T, s storage) ed25519.PrivateKey {
	key := audittest.Key(t)
	audittest.Fill(t, s, key, 5, map[string]int{"t1": 12}, 0)
	return key
}

// TestTamperRows changes the rows with SQL, as someone who can write the
// database would, and wants verification to name the first record
// affected.
func TestTamperRows(t *testing.T) {
	tests := []struct {
		name    string
		sql     string
		wantSeq uint64
		reason  string
	}{
		{"update a detail", `UPDATE audit_records SET line = replace(line, 'ls -l 6', 'rm -f 6') WHERE chain = 't1' AND seq = 7`,
			7, "hash does not match"},
		{"delete a middle row", `DELETE FROM audit_records WHERE chain = 't1' AND seq = 6`,
			6, "found record 7"},
		{"swap two numbers", `UPDATE audit_records SET seq = -1 WHERE chain = 't1' AND seq = 8;
			UPDATE audit_records SET seq = 8 WHERE chain = 't1' AND seq = 9;
			UPDATE audit_records SET seq = 9 WHERE chain = 't1' AND seq = -1`,
			8, "found record 9"},
		{"delete the rows behind a checkpoint", `DELETE FROM audit_records WHERE chain = 't1' AND seq > 3`,
			4, "truncated"},
		{"renumber after a deletion", `DELETE FROM audit_records WHERE chain = 't1' AND seq = 2;
			UPDATE audit_records SET seq = -seq WHERE chain = 't1' AND seq > 2;
			UPDATE audit_records SET seq = -seq - 1 WHERE chain = 't1' AND seq < 0`,
			2, "found record 3"},
		{"move a record to another chain", `UPDATE audit_records SET chain = 't2' WHERE chain = 't1' AND seq = 12`,
			12, "truncated"},
		{"change a checkpoint", `UPDATE audit_checkpoints SET line = replace(line, '"size":10', '"size":11') WHERE chain = 't1' AND n = 2`,
			0, "bad signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStorage(t).(storage)
			key := fill(t, s)
			if n := s.exec(t, s.admin, tt.sql); n == 0 {
				t.Fatalf("%s: changed no row", tt.sql)
			}
			r := audittest.VerifyAll(t, s, key)["t1"]
			var p *audit.Problem
			if !errors.As(r.Err, &p) {
				t.Fatalf("%s: verify = %+v, %v; want a *Problem", tt.name, r.Report, r.Err)
			}
			if tt.wantSeq != 0 && p.Seq != tt.wantSeq || !strings.Contains(p.Reason, tt.reason) {
				t.Errorf("%s: problem %v (record %d), want record %d and %q", tt.name, p, p.Seq, tt.wantSeq, tt.reason)
			}
		})
	}
}

// openStore opens chain t1 of a new backend, creating it.
func openStore(t *testing.T, d testDB) (*Backend, *Store) {
	t.Helper()
	b := d.backend(t)
	s, err := b.Open(t.Context(), "t1", true)
	if errors.Is(err, audit.ErrChainExists) {
		s, err = b.Open(t.Context(), "t1", false)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return b, s.(*Store)
}

// TestLockIsExclusive: while one node holds a chain's lock, another's
// Log cannot append to it; it gives up after the lock wait with an error
// that says why, and appends once the lock is free.
func TestLockIsExclusive(t *testing.T) {
	d := freshDB(t)
	_, a := openStore(t, d)
	b, s := openStore(t, d)
	b.lockWait = 300 * time.Millisecond
	l, err := audit.NewLog(t.Context(), s, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := a.Lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	err = l.Append(t.Context(), audit.Record{TenantID: "t1", Action: "x"})
	if err == nil || !errors.Is(err, errLockBusy) {
		t.Fatalf("Append while another node held the lock = %v, want %v", err, errLockBusy)
	}
	if err := a.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(t.Context(), audit.Record{TenantID: "t1", Action: "x"}); err != nil {
		t.Errorf("Append once the lock was released: %v", err)
	}
	if n, _, _ := s.Head(t.Context()); n != 1 {
		t.Errorf("head = %d, want 1", n)
	}
}

// TestLockFreedWhenHolderDies: a node whose connection ends while it
// holds a chain's lock (its process died, or PostgreSQL ended its
// session) does not keep others from appending; the chain stays intact.
func TestLockFreedWhenHolderDies(t *testing.T) {
	for _, how := range []string{"connection closed", "session terminated"} {
		t.Run(how, func(t *testing.T) {
			d := freshDB(t)
			_, dead := openStore(t, d)
			b, live := openStore(t, d)
			b.lockWait = 5 * time.Second
			l, err := audit.NewLog(t.Context(), live, audit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if err := l.Append(t.Context(), audit.Record{TenantID: "t1", Action: "before"}); err != nil {
				t.Fatal(err)
			}
			if err := dead.Lock(t.Context()); err != nil {
				t.Fatal(err)
			}
			switch how {
			case "connection closed":
				dead.mu.Lock()
				dead.conn.Conn().Close(t.Context())
				dead.mu.Unlock()
			case "session terminated":
				var pid uint32
				dead.mu.Lock()
				pid = dead.conn.Conn().PgConn().PID()
				dead.mu.Unlock()
				d.exec(t, d.pool(t), `SELECT pg_terminate_backend($1)`, pid)
			}
			if err := l.Append(t.Context(), audit.Record{TenantID: "t1", Action: "after"}); err != nil {
				t.Fatalf("Append after the lock holder died: %v", err)
			}
			if err := dead.Append(t.Context(), audit.Record{TenantID: "t1", Seq: 2, Action: "forked"}); err == nil {
				t.Error("the dead holder's append succeeded on its lost connection")
			}
			if err := dead.Unlock(); err == nil {
				t.Error("Unlock of a lock lost with its connection reported no error")
			}
			if n, _, _ := live.Head(t.Context()); n != 2 {
				t.Errorf("head = %d, want 2", n)
			}
		})
	}
}

// TestLockFreedWhenHolderStalls: a holder that keeps PostgreSQL waiting
// longer than the stall timeout (a node that vanished without closing its
// connection) loses the lock, and another node appends.
func TestLockFreedWhenHolderStalls(t *testing.T) {
	d := freshDB(t)
	stalled, dead := openStore(t, d)
	stalled.stall = 200 * time.Millisecond
	_, live := openStore(t, d)
	if err := dead.Lock(t.Context()); err != nil {
		t.Fatal(err)
	}
	// dead sends nothing more: PostgreSQL ends its session after 200 ms.
	if err := live.Append(t.Context(), audit.Record{TenantID: "t1", Seq: 1, Action: "x"}); err != nil {
		t.Fatalf("Append while a stalled node held the lock: %v", err)
	}
	if err := dead.Unlock(); err == nil {
		t.Error("the stalled node's Unlock reported no error, though its session was ended")
	}
}

// TestLockLeavesPoolClean: a connection given back after Unlock holds no
// lock and has the pool's settings again.
func TestLockLeavesPoolClean(t *testing.T) {
	d := freshDB(t)
	d.cfg.MaxConns = 1 // Lock and the check below use the same connection
	p := d.pool(t)
	b, err := New(t.Context(), p)
	if err != nil {
		t.Fatal(err)
	}
	s := b.store("t1")
	for range 3 {
		if err := s.Lock(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := s.Unlock(); err != nil {
			t.Fatal(err)
		}
	}
	var locks int
	var timeout string
	conn, err := p.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	err = conn.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
		current_setting('idle_session_timeout')`).Scan(&locks, &timeout)
	if err != nil || locks != 0 || timeout != "0" {
		t.Errorf("after Unlock: %d advisory locks, idle_session_timeout %q, %v; want none and 0", locks, timeout, err)
	}
}

// TestReadOnlyVerifies: a read-only Backend verifies the chains and
// refuses to write.
func TestReadOnlyVerifies(t *testing.T) {
	s := newStorage(t).(storage)
	key := fill(t, s)
	ro := ReadOnly(s.pool(t))
	reps, err := audit.VerifyAll(context.Background(), ro, audit.KeyOf(key, true))
	if err != nil {
		t.Fatal(err)
	}
	if len(reps) != 2 || reps[0].Err != nil || reps[1].Err != nil || reps[1].Report.Records != 12 {
		t.Errorf("VerifyAll read-only = %+v", reps)
	}
	if _, err := ro.Open(t.Context(), "t9", true); !errors.Is(err, audit.ErrNoChain) {
		t.Errorf("read-only Open(create) of a new chain = %v, want ErrNoChain", err)
	}
	st, err := ro.Open(t.Context(), "t1", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Append(t.Context(), audit.Record{Seq: 13}); err == nil {
		t.Error("a read-only store appended")
	}
}

// TestReadUsesTheIndex: Read starts at its first record through the
// primary key, whatever the chain's length.
func TestReadUsesTheIndex(t *testing.T) {
	d := freshDB(t)
	b := d.backend(t)
	p := d.pool(t)
	d.exec(t, p, `INSERT INTO audit_chains (chain) VALUES ('t1'), ('t2')`)
	d.exec(t, p, `INSERT INTO audit_records (chain, seq, line)
		SELECT c, s, '{"seq":' || s || '}' FROM generate_series(1, 20000) s, unnest(ARRAY['t1', 't2']) c`)
	d.exec(t, p, `ANALYZE audit_records`)
	rows, err := p.Query(t.Context(), "EXPLAIN "+readQuery, "t1", 19000, 500)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	plan := strings.Join(lines, "\n")
	if !strings.Contains(plan, "Index") || !strings.Contains(plan, "audit_records_pkey") {
		t.Errorf("Read's plan = %q, want a scan of audit_records_pkey", plan)
	}
	// The lines are not records: each page's first is where Read stops,
	// so that the error names the record it started from.
	s, _ := b.Open(t.Context(), "t1", false)
	for _, from := range []uint64{1, 12345, 20000} {
		var corrupt *audit.CorruptError
		for _, err := range s.Read(t.Context(), from) {
			if !errors.As(err, &corrupt) {
				t.Fatalf("Read(%d) of a line that is no record = %v, want a *CorruptError", from, err)
			}
		}
		if corrupt.Index != int(from) {
			t.Errorf("Read(%d) stopped at %d, want %d", from, corrupt.Index, from)
		}
	}
}
