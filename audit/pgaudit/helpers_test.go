package pgaudit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/audit/audittest"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
)

// testDB is a database of its own for one test.
type testDB struct {
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
	name := "pgaudit_test_" + hex.EncodeToString(b)
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
	return testDB{cfg}
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

// backend returns a Backend on a new pool.
func (d testDB) backend(t *testing.T) *Backend {
	t.Helper()
	b, err := New(context.Background(), d.pool(t))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// exec runs SQL on the database through a pool of its own, failing the
// test on error, and returns the rows it changed.
func (d testDB) exec(t *testing.T, p *pgxpool.Pool, sql string, args ...any) int64 {
	t.Helper()
	tag, err := p.Exec(context.Background(), sql, args...)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return tag.RowsAffected()
}

// storage is a database for the backend scenarios of audittest.
type storage struct {
	testDB
	admin *pgxpool.Pool
}

func newStorage(t *testing.T) audittest.Storage {
	d := freshDB(t)
	s := storage{testDB: d, admin: d.pool(t)}
	if _, err := New(context.Background(), s.admin); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s storage) Backend(t *testing.T) audit.Backend { return s.backend(t) }

func table(checkpoints bool) (name, num string) {
	if checkpoints {
		return "audit_checkpoints", "n"
	}
	return "audit_records", "seq"
}

func (s storage) Lines(t *testing.T, chain string, checkpoints bool) [][]byte {
	t.Helper()
	tab, num := table(checkpoints)
	rows, err := s.admin.Query(context.Background(), "SELECT line FROM "+tab+" WHERE chain = $1 ORDER BY "+num, chain)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// SetLines replaces the rows of chain with lines, numbered from 1.
func (s storage) SetLines(t *testing.T, chain string, checkpoints bool, lines [][]byte) {
	t.Helper()
	tab, num := table(checkpoints)
	err := pgx.BeginFunc(context.Background(), s.admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(context.Background(), "DELETE FROM "+tab+" WHERE chain = $1", chain); err != nil {
			return err
		}
		for i, l := range lines {
			if _, err := tx.Exec(context.Background(), "INSERT INTO "+tab+" (chain, "+num+", line) VALUES ($1, $2, $3)", chain, i+1, string(l)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (s storage) Remove(t *testing.T, chain string) {
	t.Helper()
	for _, tab := range []string{"audit_records", "audit_checkpoints", "audit_chains"} {
		s.exec(t, s.admin, "DELETE FROM "+tab+" WHERE chain = $1", chain)
	}
}
