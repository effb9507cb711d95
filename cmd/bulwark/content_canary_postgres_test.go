package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestTaskContentNeverAtRestPostgres runs TestTaskContentNeverAtRest's
// workload with the store in PostgreSQL, then dumps every row of every
// table of the database (the store's, the audit chains, the job queue's,
// the rate limits') with pg_dump, and finds no canary in the dump or in
// the data folder: what SQLite seals, PostgreSQL keeps sealed, and the
// parts new to a cluster (job arguments, control requests, limit keys)
// hold no task content either.
func TestTaskContentNeverAtRestPostgres(t *testing.T) {
	e := newPGAuditEnv(t)
	pgDump, err := exec.LookPath("pg_dump")
	if err != nil {
		t.Skip("pg_dump is not installed")
	}
	contentWorkload(t, e.env(e.key, "BULWARK_RATE_LIMIT=off"))
	dumps := t.TempDir()
	out, err := exec.Command(pgDump, "--data-only", "--no-owner", "--dbname", e.url).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	if len(out) < 1000 {
		t.Fatalf("the dump is %d bytes: the test proves nothing", len(out))
	}
	if err := os.WriteFile(filepath.Join(dumps, "dump.sql"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	assertNoCanaries(t, dumps)
	assertNoCanaries(t, e.data)
}
