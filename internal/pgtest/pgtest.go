// Package pgtest gives tests a fresh PostgreSQL database of their own on
// the server that BULWARK_TEST_POSTGRES names (the family
// testfamily.Postgres), dropped when the test ends. Without the variable
// the test is skipped with the family's one-line reason.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NewDatabase creates a database with a random name on the server of
// BULWARK_TEST_POSTGRES and returns its URL (the variable's URL with the
// database replaced). The database is dropped at cleanup, after the
// test's own cleanups (which should close its pools) have run, and
// forcibly: connections still open are ended.
func NewDatabase(t testing.TB) string {
	t.Helper()
	testfamily.Postgres.Require(t)
	base := testfamily.Postgres.Value()
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("BULWARK_TEST_POSTGRES must be a postgres:// URL")
	}
	var b [6]byte
	rand.Read(b[:])
	name := "bulwark_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to BULWARK_TEST_POSTGRES: %v", err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create a scratch database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop scratch database %s: %v", name, err)
			return
		}
		defer admin.Close(context.Background())
		if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop scratch database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// Pool opens a pool on the database at dbURL (from NewDatabase), closed
// when the test ends: call it once per node the test plays.
func Pool(t testing.TB, dbURL string) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("open a pool: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}
