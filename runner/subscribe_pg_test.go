package runner_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/bulwark-agents/bulwark/notify/pgnotify"
)

// pgPool makes a database of its own on the server of
// BULWARK_TEST_POSTGRES (skipping the test without it), dropped when the
// test ends, and returns a pool on it.
func pgPool(t *testing.T) *pgxpool.Pool {
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
	name := "runner_test_" + hex.EncodeToString(b)
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
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// TestStreamWokenOverPostgres: a runtime whose notifier is a pgnotify
// Listener streams a task that another node runs, woken by the
// notifications that node commits (the events themselves are in the
// SQLite store here; the PostgreSQL store sends the same notification in
// the transaction of each event). The listening connection is killed
// midway: the stream misses nothing.
func TestStreamWokenOverPostgres(t *testing.T) {
	pool := pgPool(t)
	l, err := pgnotify.Listen(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Close)
	e := newElsewhere(t, bulwark.TaskRunning, l)
	e.notify = func() {
		if _, err := pool.Exec(context.Background(), pgnotify.NotifySQL, pgnotify.Payload(e.tenant, e.task.ID, e.seq)); err != nil {
			t.Error(err)
		}
	}
	e.append(bulwark.EventTaskStarted, "elsewhere")
	r := read(must(e.rt.Subscribe(context.Background(), e.tenant, e.task.ID, 0)))
	r.upTo(t, 1)
	for burst := range 3 {
		for i := range 5 {
			e.append(bulwark.EventModelText, fmt.Sprintf("burst %d step %d", burst, i))
		}
		r.upTo(t, e.seq) // within 20 s: woken, not by the 30 s recheck
		if burst == 1 {
			// An event whose notification is lost, then the listening
			// connection dies: the reconnection wakes the stream to re-read.
			e.notify = nil
			e.append(bulwark.EventModelText, "while the listener was away")
			var killed int
			if err := pool.QueryRow(context.Background(), "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN "+pgnotify.Channel+"'").Scan(&killed); err != nil || killed != 1 {
				t.Fatalf("killing the listening connection: %d killed, %v", killed, err)
			}
			r.upTo(t, e.seq)
			e.notify = func() {
				if _, err := pool.Exec(context.Background(), pgnotify.NotifySQL, pgnotify.Payload(e.tenant, e.task.ID, e.seq)); err != nil {
					t.Error(err)
				}
			}
		}
	}
	last := e.append(bulwark.EventTaskFinished, "done")
	checkExactly(t, r.end(t), 0, last)
}
