package queuetest

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bulwark-agents/bulwark/internal/testfamily"
)

// PostgresDB skips the test unless BULWARK_TEST_POSTGRES holds a URL;
// else it makes a fresh database for the test, dropped at its end, and
// returns a function that opens a new pool on it (closed at the end, before
// the database is dropped).
func PostgresDB(t *testing.T) func() *pgxpool.Pool {
	t.Helper()
	url := testfamily.Postgres.Require(t)
	ctx := context.Background()
	name := "bulwark_queue_test_" + strings.ToLower(rand.Text()[:12])
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to %s: %v", url, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("connect to drop the test database: %v", err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop the test database: %v", err)
		}
	})
	return func() *pgxpool.Pool {
		cfg, err := pgxpool.ParseConfig(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg.ConnConfig.Database = name
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(pool.Close)
		return pool
	}
}
