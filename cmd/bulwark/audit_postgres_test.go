package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/server"
)

// pgAuditEnv is a data folder and a fresh PostgreSQL database for one
// test, with the environment that points the binary at both.
type pgAuditEnv struct {
	data, url, key string
	db             *sql.DB // the database, to read and tamper with its audit tables
}

func newPGAuditEnv(t *testing.T) pgAuditEnv {
	t.Helper()
	testfamily.Postgres.Require(t)
	if openPostgres == nil {
		t.Skip("this build has no PostgreSQL support")
	}
	u := pgtest.NewDatabase(t)
	db, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return pgAuditEnv{data: t.TempDir(), url: u, key: newTestKey(t), db: db}
}

// env is the binary's environment with master key key.
func (e pgAuditEnv) env(key string, more ...string) []string {
	return append([]string{"BULWARK_DATA=" + e.data, "BULWARK_DATABASE_URL=" + e.url, "BULWARK_MASTER_KEY=" + key}, more...)
}

// actions returns the action of every record kept in PostgreSQL.
func (e pgAuditEnv) actions(t *testing.T) map[string]int {
	t.Helper()
	rows, err := e.db.Query(`SELECT line FROM audit_records`)
	if err != nil {
		t.Fatalf("reading audit_records: %v", err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		var r struct{ Action string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("a stored record is not JSON: %q", line)
		}
		got[r.Action]++
	}
	return got
}

// auditKeyVersion is the master key version the stored signing key is
// sealed with.
func (e pgAuditEnv) auditKeyVersion(t *testing.T) int {
	t.Helper()
	var v int
	if err := e.db.QueryRow(`SELECT master_version FROM audit_signing_key WHERE id = 1`).Scan(&v); err != nil {
		t.Fatalf("reading audit_signing_key: %v", err)
	}
	return v
}

func mustRun(t *testing.T, extra []string, stdin string, args ...string) result {
	t.Helper()
	cmd := bulwarkCmd(t, extra, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	// Any warning fails the test, but the one BULWARK_AUDIT=off asks for.
	warned := strings.Contains(strings.ReplaceAll(errb.String(), "WARNING: BULWARK_AUDIT=off", ""), "WARNING")
	if err != nil || warned {
		t.Fatalf("bulwark %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return result{0, out.String(), errb.String()}
}

// With a PostgreSQL store, every command's audit records go to the
// database's chains, none to the data folder, and verify checks them
// there, naming a record changed in its row.
func TestPostgresStoreAuditsToPostgres(t *testing.T) {
	e := newPGAuditEnv(t)
	extra := e.env(e.key)
	mustRun(t, extra, "", "tenants", "create", "acme")
	mustRun(t, extra, "Quartz-Lantern-Oboe-74\n", "users", "create", "--tenant", "acme", "--email", "bob@example.com")
	mustRun(t, extra, "value-of-the-token\n", "secrets", "set", "--tenant", "acme", "--hosts", "api.example.com", "DEPLOY_TOKEN")
	mustRun(t, extra, "", "run", "--model", "replay:"+example(t), "--workspace", t.TempDir(), "task")

	got := e.actions(t)
	for _, a := range []string{"tenant.create", "user.create", "secret.set", "task.start", "tool.call", "task.end"} {
		if got[a] == 0 {
			t.Errorf("no %s record in PostgreSQL's audit_records; have %v", a, got)
		}
	}
	for _, p := range []string{filepath.Join(e.data, "audit"), filepath.Join(e.data, "keys", "audit-signing.key")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s exists: the audit log of a PostgreSQL store must not be kept in the data folder", p)
		}
	}

	r := runBulwark(t, extra, "audit", "verify", "--database-url", e.url)
	if r.code != 0 || !strings.Contains(r.stdout, "audit log intact") || !strings.Contains(r.stdout, "tenant acme (tn_") {
		t.Fatalf("verify of an untouched log: exit %d, want 0 naming tenant acme\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := runBulwark(t, extra, "doctor"); !strings.Contains(r.stdout, "records in") || strings.Contains(r.stdout, "NOT intact") {
		t.Errorf("doctor does not report the PostgreSQL audit log verified:\n%s%s", r.stdout, r.stderr)
	}

	// Change one byte of the secret.set record's row.
	var chain string
	var seq int
	if err := e.db.QueryRow(`SELECT chain, seq FROM audit_records WHERE line LIKE '%"secret.set"%'`).Scan(&chain, &seq); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Exec(`UPDATE audit_records SET line = replace(line, 'DEPLOY_TOKEN', 'DEPLOY_TOKEn') WHERE chain = $1 AND seq = $2`, chain, seq); err != nil {
		t.Fatal(err)
	}
	r = runBulwark(t, extra, "audit", "verify", "--database-url", e.url)
	want := "audit record " + strconv.Itoa(seq)
	if r.code != 1 || !strings.Contains(r.stderr, "tenant acme ("+chain+") is NOT intact") || !strings.Contains(r.stderr, want) {
		t.Errorf("verify of a changed row: exit %d, want 1 naming tenant acme and %q\n%s%s", r.code, want, r.stdout, r.stderr)
	}
	if r := runBulwark(t, extra, "doctor"); !strings.Contains(r.stdout, "NOT intact") {
		t.Errorf("doctor does not report the changed row:\n%s%s", r.stdout, r.stderr)
	}
}

// A server on PostgreSQL appends the records of the requests and tasks it
// serves to the database's chains, reads and verifies a tenant's chain
// there, and `bulwark audit verify` finds them intact once it stops.
func TestServeOnPostgresAuditsToPostgres(t *testing.T) {
	e := newPGAuditEnv(t)
	extra := e.env(e.key, "BULWARK_RATE_LIMIT=off")
	key := strings.TrimSpace(mustRun(t, extra, "", "tenants", "create", "acme").stdout)
	srv := startServe(t, extra, "--model", "replay:"+example(t))
	var task crashTask
	if code := srv.call(t, key, "POST", "/api/v1/tasks", `{"input":"write a greeting"}`, &task); code != 201 {
		t.Fatalf("POST task = %d\n%s", code, srv.log)
	}
	for i := 0; ; i++ {
		st := srv.task(t, key, task.ID)
		if st.Status == "succeeded" {
			break
		}
		if i > 3000 || st.Status == "failed" {
			t.Fatalf("the task did not succeed: %+v\n%s", st, srv.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var list struct {
		Records []struct {
			Action string `json:"action"`
		} `json:"records"`
	}
	if code := srv.call(t, key, "GET", "/api/v1/audit?action=task.create", "", &list); code != 200 || len(list.Records) != 1 {
		t.Errorf("GET /api/v1/audit?action=task.create = %d with %d records, want 200 with 1", code, len(list.Records))
	}
	var v struct {
		Intact  bool   `json:"intact"`
		Records uint64 `json:"records"`
	}
	if code := srv.call(t, key, "GET", "/api/v1/audit/verify?full=true", "", &v); code != 200 || !v.Intact || v.Records == 0 {
		t.Errorf("GET /api/v1/audit/verify = %d %+v, want an intact chain", code, v)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.done:
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	got := e.actions(t)
	for _, a := range []string{"tenant.create", "task.create", "task.start", "tool.call", "task.end"} {
		if got[a] == 0 {
			t.Errorf("no %s record in PostgreSQL; have %v", a, got)
		}
	}
	if _, err := os.Stat(filepath.Join(e.data, "audit")); err == nil {
		t.Error("serve on PostgreSQL wrote an audit folder into the data folder")
	}
	if r := runBulwark(t, extra, "audit", "verify"); r.code != 0 || !strings.Contains(r.stdout, "audit log intact") {
		t.Errorf("verify after serve: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// pgTampers are changes to the audit tables by someone who can write the
// database but has not the master key; verify must find each.
var pgTampers = []struct {
	name, sql, want string
}{
	{"the newest record of a chain deleted",
		`DELETE FROM audit_records WHERE (chain, seq) = (SELECT chain, MAX(seq) FROM audit_records WHERE chain <> '' GROUP BY chain LIMIT 1)`, "NOT intact"},
	{"a tenant's whole chain deleted",
		`DELETE FROM audit_records WHERE chain <> ''; DELETE FROM audit_checkpoints WHERE chain <> ''; DELETE FROM audit_chains WHERE chain <> ''`, "NOT intact"},
	{"two records swapped",
		`UPDATE audit_records a SET line = b.line FROM audit_records b
		 WHERE a.chain = b.chain AND a.chain <> '' AND ((a.seq, b.seq) = (1, 2) OR (a.seq, b.seq) = (2, 1))`, "NOT intact"},
	{"the signing key's public half replaced",
		`UPDATE audit_signing_key SET public = decode(repeat('ab', 32), 'hex')`, "audit signing key"},
	{"the signing key removed",
		`DELETE FROM audit_signing_key`, "signing key is gone"},
	// The whole log, key and all: the tenants the store holds say there
	// was one (red team of the MACs, session 44: "no audit log yet").
	{"every audit row removed, the key's too",
		`DELETE FROM audit_records; DELETE FROM audit_checkpoints; DELETE FROM audit_chains; DELETE FROM audit_signing_key`, "it is gone"},
	{"every audit table dropped",
		`DROP TABLE audit_records, audit_checkpoints, audit_chains, audit_signing_key`, "it is gone"},
}

func TestPostgresAuditTamperingIsFound(t *testing.T) {
	for _, tt := range pgTampers {
		t.Run(tt.name, func(t *testing.T) {
			e := newPGAuditEnv(t)
			extra := e.env(e.key)
			mustRun(t, extra, "", "tenants", "create", "acme")
			mustRun(t, extra, "value-of-the-token\n", "secrets", "set", "--tenant", "acme", "TOKEN")
			mustRun(t, extra, "value-of-the-token\n", "secrets", "set", "--tenant", "acme", "OTHER")
			if r := runBulwark(t, extra, "audit", "verify"); r.code != 0 {
				t.Fatalf("verify before tampering: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			if _, err := e.db.Exec(tt.sql); err != nil {
				t.Fatalf("tampering: %v", err)
			}
			r := runBulwark(t, extra, "audit", "verify")
			if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("verify after %s: exit %d, want a failure saying %q\n%s%s", tt.name, r.code, tt.want, r.stdout, r.stderr)
			}
		})
	}
}

// Verifying needs the master key: the signing key's public half is
// trusted only once the master key opens the sealed key beside it.
func TestPostgresAuditVerifyNeedsTheMasterKey(t *testing.T) {
	e := newPGAuditEnv(t)
	mustRun(t, e.env(e.key), "", "tenants", "create", "acme")
	r := runBulwark(t, []string{"BULWARK_DATA=" + e.data}, "audit", "verify", "--database-url", e.url)
	if r.code == 0 || !strings.Contains(r.stderr, "master key") {
		t.Errorf("verify without a master key: exit %d, want a failure asking for it\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runBulwark(t, e.env(newTestKey(t)), "audit", "verify")
	if r.code == 0 || !strings.Contains(r.stderr, "does not open the audit signing key") {
		t.Errorf("verify with another master key: exit %d, want a failure saying so\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// rotate-master seals the audit signing key with the new version in its
// own transaction (no audit record is written here, so nothing else
// reseals it), retire-master refuses the old version until then, and the
// log stays verifiable with the new key alone.
func TestPostgresAuditFollowsMasterRotation(t *testing.T) {
	e := newPGAuditEnv(t)
	mustRun(t, e.env(e.key), "", "tenants", "create", "acme")
	mustRun(t, e.env(e.key), "value-of-the-token\n", "secrets", "set", "--tenant", "acme", "TOKEN")
	if v := e.auditKeyVersion(t); v != 1 {
		t.Fatalf("audit signing key sealed with version %d, want 1", v)
	}
	k2 := newTestKey(t)
	both := "v1:" + e.key + ",v2:" + k2
	if r := runBulwark(t, e.env(both), "keys", "retire-master", "--version", "1"); r.code == 0 {
		t.Fatalf("retire-master of version 1 before any rotation succeeded:\n%s%s", r.stdout, r.stderr)
	}
	if r := mustRun(t, e.env(both), "", "keys", "status"); !strings.Contains(r.stdout, "audit signing key kept in PostgreSQL is sealed with version 1") {
		t.Errorf("keys status does not say which version seals the audit signing key:\n%s", r.stdout)
	}
	mustRun(t, e.env(both, "BULWARK_AUDIT=off"), "", "keys", "rotate-master")
	if v := e.auditKeyVersion(t); v != 2 {
		t.Fatalf("after rotate-master the audit signing key is sealed with version %d, want 2", v)
	}
	mustRun(t, e.env(both), "", "keys", "retire-master", "--version", "1")

	only2 := e.env("v2:" + k2)
	mustRun(t, only2, "", "tenants", "create", "beta")
	r := runBulwark(t, only2, "audit", "verify")
	if r.code != 0 || !strings.Contains(r.stdout, "audit log intact") || !strings.Contains(r.stdout, "tenant beta (") {
		t.Fatalf("verify with the new key only: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := e.actions(t); got["key.retire_master"] != 1 || got["secret.set"] != 1 {
		t.Errorf("records after rotation: %v", got)
	}
}

// A version that still seals the audit signing key (its data keys were
// re-wrapped by a store without the hook) is not retired; rotate-master
// then seals the key again though no data key needs it.
func TestRetireRefusesTheAuditKeysVersion(t *testing.T) {
	e := newPGAuditEnv(t)
	mustRun(t, e.env(e.key), "", "tenants", "create", "acme")
	k2 := newTestKey(t)
	both := "v1:" + e.key + ",v2:" + k2
	kr, err := secret.ParseKeyring([]byte(both))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bare, err := postgres.Open(ctx, postgres.Config{URL: e.url, Keys: kr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bare.RotateMaster(ctx); err != nil {
		t.Fatal(err)
	}
	bare.Close()

	r := runBulwark(t, e.env(both), "keys", "retire-master", "--version", "1")
	if r.code == 0 || !strings.Contains(r.stderr, "audit signing key is still sealed with master key version 1") {
		t.Fatalf("retire-master of the audit key's version: exit %d, want a refusal naming the audit signing key\n%s%s", r.code, r.stdout, r.stderr)
	}
	if v := e.auditKeyVersion(t); v != 1 {
		t.Fatalf("the refused retire changed the audit key's version to %d", v)
	}
	mustRun(t, e.env(both, "BULWARK_AUDIT=off"), "", "keys", "rotate-master")
	if v := e.auditKeyVersion(t); v != 2 {
		t.Fatalf("rotate-master left the audit signing key sealed with version %d, want 2", v)
	}
	mustRun(t, e.env(both), "", "keys", "retire-master", "--version", "1")
	if r := runBulwark(t, e.env("v2:"+k2), "audit", "verify"); r.code != 0 {
		t.Fatalf("verify with the new key only: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// /readyz of a server on PostgreSQL answers 200 while the database
// answers, and 503 with a reason that names no address nor password once
// it is gone.
func TestReadyzReportsADeadPostgres(t *testing.T) {
	e := newPGAuditEnv(t)
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secret.ParseKeyring([]byte(e.key))
	if err != nil {
		t.Fatal(err)
	}
	db, err := openAt(context.Background(), storeLocation{dir: e.data, url: e.url}, masterKey{keys: kr, source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	srv, err := server.New(server.Config{Store: db})
	if err != nil {
		t.Fatal(err)
	}
	ready := func() (int, string) {
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/readyz", nil))
		return w.Code, w.Body.String()
	}
	if code, body := ready(); code != http.StatusOK {
		t.Fatalf("GET /readyz with PostgreSQL up = %d %s, want 200", code, body)
	}
	e.db.Close()
	dropDatabase(t, strings.TrimPrefix(u.Path, "/"))
	code, body := ready()
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "the store's database is not reachable") {
		t.Fatalf("GET /readyz with the database gone = %d %s, want 503 saying the store's database is not reachable", code, body)
	}
	for _, leak := range []string{u.Host, u.Hostname() + ":", "postgres://", strings.TrimPrefix(u.Path, "/")} {
		if strings.Contains(body, leak) {
			t.Errorf("the readyz answer %s shows %q", body, leak)
		}
	}
}

// dropDatabase drops the database name on BULWARK_TEST_POSTGRES's server,
// ending its connections.
func dropDatabase(t *testing.T, name string) {
	t.Helper()
	admin, err := sql.Open("pgx", testfamily.Postgres.Value())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
		t.Fatalf("DROP DATABASE: %v", err)
	}
}
