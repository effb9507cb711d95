package postgres

import (
	"context"
	"github.com/jackc/pgx/v5"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/secret"
)

// mustOpen opens the database at url with keys; it fails the test on
// error and closes the store at cleanup.
func mustOpen(t *testing.T, url string, keys *secret.Keyring) *DB {
	t.Helper()
	db, err := Open(context.Background(), Config{URL: url, Keys: keys})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestConcurrentOpens: nodes starting at once on a new database apply
// each migration once (under the advisory lock) and all come up.
func TestConcurrentOpens(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	keys := secret.NewKeyring()
	const nodes = 5
	dbs := make([]*DB, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() { dbs[i], errs[i] = Open(context.Background(), Config{URL: url, Keys: keys, MaxConns: 2}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d of %d at once: %v", i+1, nodes, err)
		}
		t.Cleanup(func() { dbs[i].Close() })
	}
	ctx := context.Background()
	var applied, distinct int
	if err := dbs[0].db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	// Migration numbers may have gaps (numbers taken by work not merged
	// yet): one record per migration file.
	files, _ := fs.Glob(migrations, "migrations/*.sql")
	if applied != len(files) || distinct != applied {
		t.Errorf("schema_migrations holds %d records (%d versions), want %d, each once", applied, distinct, len(files))
	}
	for i, db := range dbs {
		if v, err := db.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() {
			t.Errorf("node %d: SchemaVersion = %d, %v; want %d", i, v, err, LatestSchemaVersion())
		}
	}
	// Every node sees what another wrote.
	tn, err := dbs[0].CreateTenant(ctx, "shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := dbs[1].SetSecret(ctx, tn.ID, "K", "value-123"); err != nil {
		t.Fatal(err)
	}
	if vals, err := dbs[nodes-1].SecretValues(ctx, tn.ID); err != nil || vals["K"] != "value-123" {
		t.Errorf("another node reads SecretValues = %v, %v", vals, err)
	}
}

// TestConcurrentOpensDifferentKeys: nodes starting at once on a new
// database with different master keys: one key wins, the nodes with
// another are refused, never both accepted.
func TestConcurrentOpensDifferentKeys(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	keys := []*secret.Keyring{secret.NewKeyring(), secret.NewKeyring()}
	const nodes = 6
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			db, err := Open(context.Background(), Config{URL: url, Keys: keys[i%2], MaxConns: 2})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	won := map[int]bool{}
	for i, err := range errs {
		switch {
		case err == nil:
			won[i%2] = true
		case bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(bulwark.ErrorMessage(err), "master key does not open"):
			t.Errorf("Open %d: %v, want nil or Invalid about the master key", i, err)
		}
	}
	if len(won) != 1 {
		t.Errorf("nodes with %d different master keys were accepted, want 1", len(won))
	}
}

// TestNewerDatabaseRefused: a database migrated by a newer bulwark is
// refused, not used.
func TestNewerDatabaseRefused(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	keys := secret.NewKeyring()
	db := mustOpen(t, url, keys)
	if _, err := db.db.Exec(`INSERT INTO schema_migrations (version, name, applied) VALUES (9999, 'future', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err := Open(context.Background(), Config{URL: url, Keys: keys})
	if bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(bulwark.ErrorMessage(err), "newer version") {
		t.Errorf("Open of a newer database = %v, want Invalid about a newer version", err)
	}
}

// TestAnotherProgramsDatabaseRefused: a database bulwark did not make,
// holding a table of a name bulwark uses, is refused before anything is
// written to it.
func TestAnotherProgramsDatabaseRefused(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE tenants (id int PRIMARY KEY, note text)`); err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, Config{URL: url, Keys: secret.NewKeyring()})
	if bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(bulwark.ErrorMessage(err), "not made by bulwark") || !strings.Contains(bulwark.ErrorMessage(err), "tenants") {
		t.Errorf("Open of another program's database = %v, want Invalid saying it was not made by bulwark, naming tenants", err)
	}
	var left bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&left); err != nil || left {
		t.Errorf("the refused Open left a schema_migrations table (%v)", err)
	}
}

// TestConfig: the pool size and statement timeout are applied, with
// their defaults.
func TestConfig(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	keys := secret.NewKeyring()
	def := mustOpen(t, url, keys)
	var timeout string
	if err := def.Pool().QueryRow(ctx, `SHOW statement_timeout`).Scan(&timeout); err != nil || timeout != "30s" {
		t.Errorf("default statement_timeout = %q, %v; want 30s", timeout, err)
	}
	if n := def.Pool().Config().MaxConns; n != DefaultMaxConns {
		t.Errorf("default MaxConns = %d, want %d", n, DefaultMaxConns)
	}
	db, err := Open(ctx, Config{URL: url, Keys: keys, MaxConns: 3, StatementTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := db.Pool().Config().MaxConns; n != 3 {
		t.Errorf("MaxConns = %d, want 3", n)
	}
	if _, err := db.Pool().Exec(ctx, `SELECT pg_sleep(5)`); err == nil || !strings.Contains(err.Error(), "statement timeout") {
		t.Errorf("a 5 s statement with a 200 ms timeout = %v, want canceled by the statement timeout", err)
	}
}

// TestOpenErrors: no master key, a bad URL and an unreachable server are
// refused with messages that do not repeat the URL's password.
func TestOpenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := Open(ctx, Config{URL: "postgres://127.0.0.1/x"}); bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(bulwark.ErrorMessage(err), "master key") {
		t.Errorf("Open without a master key = %v, want Invalid about the master key", err)
	}
	for _, c := range []struct {
		url  string
		kind bulwark.Kind
	}{
		{"postgres://u:hunter2@127.0.0.1:5432/x?sslmode=nonsense", bulwark.Invalid},
		{"postgres://u:hunter2@127.0.0.1:1/x?sslmode=disable&connect_timeout=2", bulwark.Unavailable},
	} {
		_, err := Open(ctx, Config{URL: c.url, Keys: secret.NewKeyring()})
		if bulwark.ErrorKind(err) != c.kind || strings.Contains(bulwark.ErrorMessage(err), "hunter2") {
			t.Errorf("Open(%q) = %v (message %q), want %v without the password", c.url, err, bulwark.ErrorMessage(err), c.kind)
		}
	}
}

// TestNodesRace: two nodes appending the same event, or creating a tenant
// of the same name, at once: exactly one wins, the others get Conflict.
func TestNodesRace(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	keys := secret.NewKeyring()
	nodes := []*DB{mustOpen(t, url, keys), mustOpen(t, url, keys)}
	tn, err := nodes[0].CreateTenant(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	task, err := nodes[0].CreateTask(ctx, tn.ID, bulwark.Task{Input: "x"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	race := func(what string, f func(i int) error) {
		t.Helper()
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = f(i) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case bulwark.ErrorKind(err) != bulwark.Conflict:
				t.Errorf("%s: %v, want nil or Conflict", what, err)
			}
		}
		if ok != 1 {
			t.Errorf("%s on two nodes at once: %d succeeded, want 1", what, ok)
		}
	}
	race("AppendEvent(seq 1)", func(i int) error {
		return nodes[i%2].AppendEvent(ctx, tn.ID, bulwark.Event{TaskID: task.ID, Seq: 1, Type: bulwark.EventNotice})
	})
	race("CreateTenant(b)", func(i int) error { _, err := nodes[i%2].CreateTenant(ctx, "b"); return err })
	race("CreateTask(same id)", func(i int) error {
		_, err := nodes[i%2].CreateTask(ctx, tn.ID, bulwark.Task{ID: "t_same", Input: "x"})
		return err
	})
	race("CreateUser(same email)", func(i int) error {
		_, err := nodes[i%2].CreateUser(ctx, tn.ID, bulwark.User{Email: "u@a.test", Role: bulwark.RoleMember}, "h")
		return err
	})
	if err := nodes[0].AppendEvent(ctx, tn.ID, bulwark.Event{TaskID: task.ID, Seq: 2, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone}); err != nil {
		t.Fatal(err)
	}
	race("ContinueTask", func(i int) error { _, err := nodes[i%2].ContinueTask(ctx, tn.ID, task.ID, nil); return err })
	if got, err := nodes[1].Task(ctx, tn.ID, task.ID); err != nil || got.Turns != 2 || got.Status != bulwark.TaskQueued {
		t.Errorf("after the race, the task = %+v, %v; want queued in turn 2", got, err)
	}
}
