package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/internal/storetest"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// TestSameTables: both backends list the same tables, and each table has
// the same columns in the same order, so a table-by-table copy works.
func TestSameTables(t *testing.T) {
	t.Parallel()
	if !slices.Equal(Tables, sqlite.Tables) {
		t.Fatalf("postgres.Tables = %v, sqlite.Tables = %v", Tables, sqlite.Tables)
	}
	keys := secret.NewKeyring()
	pg := mustOpen(t, pgtest.NewDatabase(t), keys)
	lite, path := openSQLite(t, keys)
	lite.Close()
	raw := rawSQLite(t, path)
	for _, table := range Tables {
		if got, want := pgColumns(t, pg, table), liteColumns(t, raw, table); !slices.Equal(got, want) {
			t.Errorf("table %s: postgres columns %v, sqlite columns %v", table, got, want)
		}
	}
	// And no table is left out of the lists.
	var all []string
	rows, err := pg.db.Query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN ('schema_migrations', 'auth_version') ORDER BY tablename`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		all = append(all, n)
	}
	rows.Close()
	if listed := slices.Sorted(slices.Values(Tables)); !slices.Equal(all, listed) {
		t.Errorf("the database has tables %v, Tables lists %v", all, listed)
	}
}

// TestCopyBetweenBackends: rows copied verbatim, table by table, from a
// SQLite store to a PostgreSQL one and back open there with the same
// master key: sealed data stays sealed and reads the same.
func TestCopyBetweenBackends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	keys := secret.NewKeyring()

	// SQLite to PostgreSQL.
	lite, path := openSQLite(t, keys)
	populate(t, lite)
	want := snapshot(t, lite)
	for _, v := range []string{"ghp-secret-value", "sealed input", "sealed answer", "thinking", "sealed file", "sealed workspace file", "work/notes.txt", "openai:gpt", "bwk_copy1234", "ann@example.com"} {
		if !strings.Contains(want, v) {
			t.Fatalf("the snapshot lacks %q: it does not read every kind of record", v)
		}
	}
	lite.Close()
	url := pgtest.NewDatabase(t)
	mustOpen(t, url, keys).Close() // the schema
	dst, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	copyTables(t, rawSQLite(t, path), dst, "$")
	pg := mustOpen(t, url, keys)
	if got := snapshot(t, pg); got != want {
		t.Errorf("read from PostgreSQL after the copy:\n%s\nwant, as read from SQLite:\n%s", got, want)
	}
	// With another master key, the copied data keys do not open.
	if _, err := Open(ctx, Config{URL: url, Keys: secret.NewKeyring()}); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("Open of the copy with another master key = %v, want Invalid", err)
	}

	// PostgreSQL to SQLite: what this store wrote, and the copy.
	if _, err := pg.CreateTenant(ctx, "made-in-postgres"); err != nil {
		t.Fatal(err)
	}
	populateMore(t, pg)
	want = snapshot(t, pg)
	back, backPath := openSQLite(t, keys)
	back.Close()
	copyTables(t, pg.db, rawSQLite(t, backPath), "?")
	back2, err := sqlite.Open(ctx, sqlite.Config{Path: backPath, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	defer back2.Close()
	if got := snapshot(t, back2); got != want {
		t.Errorf("read from SQLite after the copy back:\n%s\nwant, as read from PostgreSQL:\n%s", got, want)
	}
}

func openSQLite(t *testing.T, keys *secret.Keyring) (*sqlite.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bulwark.db")
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func rawSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func liteColumns(t *testing.T, db *sql.DB, table string) []string {
	t.Helper()
	return columns(t, db, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
}

func pgColumns(t *testing.T, db *DB, table string) []string {
	t.Helper()
	return columns(t, db.db, `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position`, table)
}

func columns(t *testing.T, db *sql.DB, query, table string) []string {
	t.Helper()
	rows, err := db.Query(query, table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	return cols
}

// copyTables copies every row of Tables from src to dst, in order, by
// column name, as `bulwark db copy` does; rows dst already has (the key
// checks written at open) are kept. mark is dst's placeholder style.
func copyTables(t *testing.T, src, dst *sql.DB, mark string) {
	t.Helper()
	for _, table := range Tables {
		rows, err := src.Query(`SELECT * FROM ` + table)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		var marks []string
		for i := range cols {
			if mark == "$" {
				marks = append(marks, "$"+strconv.Itoa(i+1))
			} else {
				marks = append(marks, "?")
			}
		}
		insert := `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES (` + strings.Join(marks, ", ") + `) ON CONFLICT DO NOTHING`
		var all [][]any
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			all = append(all, vals)
		}
		rows.Close()
		for _, vals := range all {
			if _, err := dst.Exec(insert, vals...); err != nil {
				t.Fatalf("copy a row of %s: %v", table, err)
			}
		}
	}
}

var copyDay = time.Date(2030, 5, 6, 12, 0, 0, 0, time.UTC)

// populate writes one of every kind of record.
func populate(t *testing.T, s storetest.Store) {
	t.Helper()
	ctx := context.Background()
	tn, err := s.CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.SetSecret(ctx, tn.ID, "GITHUB", "ghp-secret-value", "api.github.com"))
	must(s.SetSecret(ctx, tn.ID, "PLAIN", "plain-secret-value"))
	task, err := s.CreateTask(ctx, tn.ID, bulwark.Task{Input: "sealed input", Model: "replay:x", Limits: bulwark.Limits{MaxSteps: 4}})
	must(err)
	for i, e := range []bulwark.Event{
		{Type: bulwark.EventTaskStarted, Text: "sealed input"},
		{Type: bulwark.EventModelText, Text: "thinking", Usage: &bulwark.Usage{InputTokens: 10, OutputTokens: 2, Cost: 0.125}},
		{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "sealed answer"},
	} {
		e.TaskID, e.Seq, e.Time = task.ID, int64(i+1), copyDay.Add(time.Duration(i)*time.Second)
		must(s.AppendEvent(ctx, tn.ID, e))
	}
	_, err = s.PutArtifact(ctx, tn.ID, bulwark.Artifact{TaskID: task.ID, Path: "out/report.txt", Uploaded: true}, []byte("sealed file"))
	must(err)
	blob := []byte("sealed workspace file")
	must(s.PutBlobs(ctx, tn.ID, task.ID, [][]byte{blob}))
	must(s.PutCheckpoint(ctx, tn.ID, bulwark.Checkpoint{TaskID: task.ID, Seq: 2, Step: 1,
		Files: []bulwark.CheckpointFile{{Path: "work/notes.txt", Mode: 0o644, Size: int64(len(blob)), SHA256: bulwark.BlobID(blob)}}}))
	_, err = s.PutSettings(ctx, tn.ID, bulwark.Settings{Model: "openai:gpt", MaxConcurrent: 2})
	must(err)
	u, err := s.CreateUser(ctx, tn.ID, bulwark.User{Email: "ann@example.com", Role: bulwark.RoleAdmin}, "$argon2id$hash")
	must(err)
	h := sha256.Sum256([]byte("key"))
	_, err = s.CreateAPIKey(ctx, tn.ID, bulwark.APIKey{Name: "ci", Prefix: "bwk_copy1234", Role: bulwark.RoleMember, CreatedBy: "test", CreatorUser: u.ID}, h[:])
	must(err)
	_, err = s.CreateSession(ctx, tn.ID, bulwark.Session{UserID: u.ID, Created: copyDay}, []byte("session-hash"))
	must(err)
	must(s.AddSharedKeyUsage(ctx, tn.ID, copyDay, bulwark.Usage{InputTokens: 5, OutputTokens: 1, Cost: 0.5}))
}

// populateMore adds records to every tenant made after populate.
func populateMore(t *testing.T, s storetest.Store) {
	t.Helper()
	ctx := context.Background()
	tn, err := s.TenantByName(ctx, "made-in-postgres")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSecret(ctx, tn.ID, "PG", "written-by-postgres"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTask(ctx, tn.ID, bulwark.Task{Input: "pg input", Created: copyDay}); err != nil {
		t.Fatal(err)
	}
}

// snapshot reads everything back through the store, as JSON.
func snapshot(t *testing.T, s storetest.Store) string {
	t.Helper()
	ctx := context.Background()
	type tenantData struct {
		Tenant   bulwark.Tenant
		Secrets  []bulwark.Secret
		Tasks    []bulwark.Task
		Events   map[string][]bulwark.Event
		Files    map[string]string
		Checks   map[string]bulwark.Checkpoint
		Blobs    map[string]string
		Settings bulwark.Settings
		Users    []bulwark.User
		Keys     []bulwark.APIKey
		Usage    bulwark.Usage
	}
	var out []tenantData
	tenants, err := s.ListTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range tenants {
		d := tenantData{Tenant: tn, Events: map[string][]bulwark.Event{}, Files: map[string]string{},
			Checks: map[string]bulwark.Checkpoint{}, Blobs: map[string]string{}}
		check := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("read tenant %s: %v", tn.Name, err)
			}
		}
		d.Secrets, err = s.Secrets(ctx, tn.ID)
		check(err)
		d.Tasks, err = s.ListTasks(ctx, tn.ID, bulwark.ListTasksOptions{})
		check(err)
		for _, task := range d.Tasks {
			d.Events[task.ID], err = s.Events(ctx, tn.ID, task.ID, 0, 0)
			check(err)
			files, err := s.Artifacts(ctx, tn.ID, task.ID)
			check(err)
			for _, f := range files {
				_, data, err := s.ArtifactContent(ctx, tn.ID, task.ID, f.Path)
				check(err)
				d.Files[task.ID+"/"+f.Path] = f.SHA256 + " " + string(data)
			}
			c, err := s.LatestCheckpoint(ctx, tn.ID, task.ID)
			if bulwark.ErrorKind(err) == bulwark.NotFound {
				continue
			}
			check(err)
			d.Checks[task.ID] = c
			for _, f := range c.Files {
				data, err := s.Blob(ctx, tn.ID, task.ID, f.SHA256)
				check(err)
				d.Blobs[task.ID+"/"+f.Path] = string(data)
			}
		}
		d.Settings, err = s.Settings(ctx, tn.ID)
		check(err)
		d.Users, err = s.ListUsers(ctx, tn.ID)
		check(err)
		d.Keys, err = s.ListAPIKeys(ctx, tn.ID)
		check(err)
		d.Usage, err = s.SharedKeyUsage(ctx, tn.ID, copyDay)
		check(err)
		out = append(out, d)
	}
	b, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
