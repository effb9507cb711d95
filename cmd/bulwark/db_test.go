package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// newTestKey is a new master key as BULWARK_MASTER_KEY takes it.
func newTestKey(t *testing.T) string {
	t.Helper()
	return base64.StdEncoding.EncodeToString(randomBytes(t, 32))
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// A copyBackend makes empty stores of one kind for the copy tests: a data
// folder for SQLite, a new database for PostgreSQL (only where
// BULWARK_TEST_POSTGRES gives a server, as postgres://USER@HOST:PORT/, and
// this build has PostgreSQL support).
type copyBackend struct {
	name string
	// fresh returns a new empty location: a data folder path or a URL.
	fresh func(t *testing.T) string
}

var copyBackends = []copyBackend{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "data") }},
	{"postgres", freshPostgresDatabase},
}

// freshPostgresDatabase creates a database on BULWARK_TEST_POSTGRES's
// server for one test, dropped when it ends, and returns its URL.
func freshPostgresDatabase(t *testing.T) string {
	t.Helper()
	if openPostgres == nil {
		t.Skip("this build has no PostgreSQL support")
	}
	return emptyPostgresDatabase(t)
}

// emptyPostgresDatabase creates an empty database on BULWARK_TEST_POSTGRES's
// server, dropped when the test ends, and returns its URL.
func emptyPostgresDatabase(t *testing.T) string {
	t.Helper()
	base := os.Getenv("BULWARK_TEST_POSTGRES")
	if base == "" {
		t.Skip("set BULWARK_TEST_POSTGRES=postgres://USER@HOST:PORT/ to run the tests that need a PostgreSQL server")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	name := "bulwark_copy_" + hex.EncodeToString(randomBytes(t, 6))
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("CREATE DATABASE: %v", err)
	}
	t.Cleanup(func() { admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)") })
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// openTestLocation opens the store at a copy test's location with key.
func openTestLocation(t *testing.T, where, key string) store {
	t.Helper()
	loc, err := copyEnd("--to", where)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := parseTestKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if !loc.postgres() {
		os.MkdirAll(loc.dir, 0o700)
	}
	db, err := openAt(context.Background(), loc, kr)
	if err != nil {
		t.Fatalf("opening %s: %v", loc, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func parseTestKey(key string) (masterKey, error) {
	old := env
	env = func(name string) string {
		if name == "BULWARK_MASTER_KEY" {
			return key
		}
		return ""
	}
	defer func() { env = old }()
	mk, _, err := envMasterKey()
	return mk, err
}

// installation is what fillStore put in a store, to be found again.
type installation struct {
	tenant      bulwark.TenantID
	secrets     map[string]string
	taskID      string
	events      []bulwark.Event
	artifact    []byte
	blob        []byte // the content of the task's checkpointed file
	keyPrefix   string
	keyHash     []byte
	childKey    string // made by the key of keyPrefix
	sessionHash []byte
	settings    bulwark.Settings
	schedule    string // a schedule of the tenant, which started taskID
	memoryID    string
	userID      string // a user whose second factor is on
	totpSecret  []byte
}

// fillStore writes a row into every table of db: tenants, their data keys,
// secrets, users with a session and a second factor, API keys (one made
// by another, and an operator key), settings, a task with events, a file
// and a checkpoint, shared-key usage.
func fillStore(t *testing.T, db store) installation {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var in installation
	if _, err := db.LocalTenant(ctx); err != nil {
		t.Fatal(err)
	}
	acme, err := db.CreateTenant(ctx, "acme")
	must(err)
	in.tenant = acme.ID
	in.secrets = map[string]string{"GITHUB_TOKEN": "ghp-" + hex.EncodeToString(randomBytes(t, 8)), "PLAIN": "plain-value-123"}
	must(db.SetSecret(ctx, acme.ID, "GITHUB_TOKEN", in.secrets["GITHUB_TOKEN"], "api.github.com"))
	must(db.SetSecret(ctx, acme.ID, "PLAIN", in.secrets["PLAIN"]))
	in.settings, err = db.PutSettings(ctx, acme.ID, bulwark.Settings{Model: "openai:gpt-4o-mini", MaxConcurrent: 2, AllowedDomains: []string{"example.com"}})
	must(err)
	_, err = db.PutSkill(ctx, acme.ID, bulwark.StoredSkill{Name: "house-style", Description: "Our style.",
		Files: map[string]string{"SKILL.md": "---\nname: house-style\ndescription: Our style.\n---\nWrite plainly.", "ref/words.md": "words"}})
	must(err)
	u, err := db.CreateUser(ctx, acme.ID, bulwark.User{Email: "bob@example.com", Role: bulwark.RoleAdmin}, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo")
	must(err)
	sh := sha256.Sum256([]byte("session-token"))
	in.sessionHash = sh[:]
	now := time.Now().UTC().Truncate(time.Millisecond)
	_, err = db.CreateSession(ctx, acme.ID, bulwark.Session{UserID: u.ID, Created: now, LastSeen: now}, in.sessionHash)
	must(err)
	kh := sha256.Sum256([]byte("bwk_parentkey_secret"))
	in.keyPrefix, in.keyHash = "bwk_parentk", kh[:]
	parent, err := db.CreateAPIKey(ctx, acme.ID, bulwark.APIKey{Name: "ci", Prefix: in.keyPrefix, Role: bulwark.RoleAdmin, CreatedBy: "user:" + u.ID, CreatorUser: u.ID}, in.keyHash)
	must(err)
	ch := sha256.Sum256([]byte("bwk_childkey_secret"))
	child, err := db.CreateAPIKey(ctx, acme.ID, bulwark.APIKey{Name: "deploy", Prefix: "bwk_childke", Role: bulwark.RoleMember, CreatedBy: "key:" + parent.ID, CreatorUser: u.ID, CreatorKey: parent.ID}, ch[:])
	must(err)
	in.childKey = child.ID
	oh := sha256.Sum256([]byte("bwk_operator_secret"))
	_, err = db.CreateOperatorKey(ctx, bulwark.APIKey{Name: "ops", Prefix: "bwk_operat", CreatedBy: "cli"}, oh[:])
	must(err)

	sc, err := db.CreateSchedule(ctx, acme.ID, bulwark.Schedule{Cron: "0 9 * * 1-5", Timezone: "Europe/Paris", Input: "summarise the report",
		OwnerUser: u.ID, NextRun: now.Add(time.Hour)})
	must(err)
	in.schedule = sc.ID
	task, err := db.CreateTask(ctx, acme.ID, bulwark.Task{Input: "summarise the report", Model: "replay:x", Status: bulwark.TaskRunning, ScheduleID: sc.ID})
	must(err)
	in.taskID = task.ID
	for i, e := range []bulwark.Event{
		{Type: bulwark.EventTaskStarted, Text: "summarise the report"},
		{Type: bulwark.EventModelText, Step: 1, Text: "reading it", Usage: &bulwark.Usage{InputTokens: 100, OutputTokens: 20, Cost: 0.5}},
		{Type: bulwark.EventToolCall, Step: 1, Tool: "read_file", CallID: "c1", Args: json.RawMessage(`{"path":"report.txt"}`)},
		{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "It says hello."},
	} {
		e.Seq, e.TaskID, e.Time = int64(i+1), task.ID, now.Add(time.Duration(i)*time.Second)
		must(db.AppendEvent(ctx, acme.ID, e))
	}
	in.events, err = db.Events(ctx, acme.ID, task.ID, 0, 0)
	must(err)
	in.artifact = []byte("the report: hello\n")
	_, err = db.PutArtifact(ctx, acme.ID, bulwark.Artifact{TaskID: task.ID, Path: "out/report.txt"}, in.artifact)
	must(err)
	in.blob = []byte("the workspace: notes\n")
	must(db.PutBlobs(ctx, acme.ID, task.ID, [][]byte{in.blob}))
	must(db.PutCheckpoint(ctx, acme.ID, bulwark.Checkpoint{TaskID: task.ID, Seq: 3, Step: 1,
		Files: []bulwark.CheckpointFile{{Path: "notes.txt", Mode: 0o644, Size: int64(len(in.blob)), SHA256: bulwark.BlobID(in.blob)}}}))
	must(db.AddSharedKeyUsage(ctx, acme.ID, now, bulwark.Usage{InputTokens: 10, OutputTokens: 5, Cost: 0.25}))
	_, err = db.SendControl(ctx, acme.ID, bulwark.ControlRequest{TaskID: task.ID, Turn: 1, Kind: bulwark.ControlMessage, Actor: "cli", Text: "a message for the task"})
	must(err)
	m, err := db.AddMemory(ctx, acme.ID, bulwark.Memory{Text: "the report lives in out/report.txt", Tags: []string{"reports"}, User: "u_x", Tainted: true, TaskID: task.ID})
	must(err)
	in.memoryID = m.ID
	in.userID, in.totpSecret = u.ID, randomBytes(t, 20)
	must(db.PutPendingTOTP(ctx, acme.ID, u.ID, in.totpSecret))
	rh := sha256.Sum256([]byte("a recovery code"))
	must(db.EnableTOTP(ctx, acme.ID, u.ID, 1234, [][]byte{rh[:]}))
	return in
}

// makeChildFirst makes the parent API key refer to a key stored after it,
// so that a copy in stored order would insert a row before its parent.
func makeChildFirst(t *testing.T, where string, in installation) {
	t.Helper()
	loc, err := copyEnd("--from", where)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := openRaw(context.Background(), loc, false)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	ctx := context.Background()
	h := sha256.Sum256([]byte("bwk_late_secret"))
	var tenantID any = string(in.tenant)
	if _, err := raw.ExecContext(ctx, `INSERT INTO api_keys (id, tenant_id, prefix, hash, name, role, created_by, created) VALUES (`+
		raw.arg(1)+`, `+raw.arg(2)+`, 'bwk_latekey', `+raw.arg(3)+`, 'late', 'member', 'cli', 1)`, "k_zzzlate", tenantID, h[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.ExecContext(ctx, `UPDATE api_keys SET creator_key = 'k_zzzlate' WHERE id = `+raw.arg(1), in.childKey); err != nil {
		t.Fatal(err)
	}
}

// copyCountRE reads one table's line of the copy report.
var copyCountRE = regexp.MustCompile(`(?m)^  (\w+) +(\d+) rows$`)

// TestDBCopy copies a filled installation between every pair of backends
// and finds all of it in the target, opened with the same key: secret
// values, task events, files, keys, sessions, settings, usage; then a
// second copy into the now full target is refused, and --force replaces
// it.
func TestDBCopy(t *testing.T) {
	for _, from := range copyBackends {
		for _, to := range copyBackends {
			t.Run(from.name+"->"+to.name, func(t *testing.T) {
				clearStoreEnv(t)
				key := newTestKey(t)
				t.Setenv("BULWARK_MASTER_KEY", key)
				src, dst := from.fresh(t), to.fresh(t)
				in := fillStore(t, openTestLocation(t, src, key))
				makeChildFirst(t, src, in)

				code, stdout, stderr := runDispatch("db", "copy", "--from", src, "--to", dst)
				if code != exitOK {
					t.Fatalf("db copy: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
				}
				counts := map[string]int{}
				for _, m := range copyCountRE.FindAllStringSubmatch(stdout, -1) {
					counts[m[1]], _ = strconv.Atoi(m[2])
				}
				for _, table := range copyTables {
					if counts[table] == 0 {
						t.Errorf("the report shows %d rows for %s; every table has rows:\n%s", counts[table], table, stdout)
					}
				}
				if strings.Contains(stdout+stderr, "s3cret") {
					t.Errorf("the report shows a password:\n%s", stdout)
				}
				checkInstallation(t, openTestLocation(t, dst, key), in)

				code, _, stderr = runDispatch("db", "copy", "--from", src, "--to", dst)
				if code != exitFailed || !strings.Contains(stderr, "already holds data") || !strings.Contains(stderr, "--force") {
					t.Errorf("a copy into a full target: exit %d, stderr %q; want it refused, suggesting --force", code, stderr)
				}
				code, stdout, stderr = runDispatch("db", "copy", "--from", src, "--to", dst, "--force")
				if code != exitOK || !strings.Contains(stdout, "--force: the target held") {
					t.Fatalf("db copy --force: exit %d, stdout %q, stderr %q", code, stdout, stderr)
				}
				checkInstallation(t, openTestLocation(t, dst, key), in)
			})
		}
	}
}

// checkInstallation finds in db, read through the store (so unsealed with
// its master key), what fillStore wrote.
func checkInstallation(t *testing.T, db store, in installation) {
	t.Helper()
	ctx := context.Background()
	vals, err := db.SecretValues(ctx, in.tenant)
	if err != nil || len(vals) != len(in.secrets) || vals["GITHUB_TOKEN"] != in.secrets["GITHUB_TOKEN"] || vals["PLAIN"] != in.secrets["PLAIN"] {
		t.Errorf("secret values in the copy = %v, %v; want %v", vals, err, in.secrets)
	}
	secrets, err := db.Secrets(ctx, in.tenant)
	if err != nil || len(secrets) != 2 || !slices.Equal(secrets[0].Hosts, []string{"api.github.com"}) {
		t.Errorf("secrets in the copy = %+v, %v; want GITHUB_TOKEN bound to api.github.com", secrets, err)
	}
	evs, err := db.Events(ctx, in.tenant, in.taskID, 0, 0)
	if err != nil {
		t.Fatalf("events of the copied task: %v", err)
	}
	if got, want := eventsJSON(evs), eventsJSON(in.events); got != want {
		t.Errorf("events in the copy:\n%s\nwant:\n%s", got, want)
	}
	task, err := db.Task(ctx, in.tenant, in.taskID)
	if err != nil || task.Input != "summarise the report" || task.Answer != "It says hello." || task.Status != bulwark.TaskSucceeded || task.ScheduleID != in.schedule {
		t.Errorf("the copied task = %+v, %v", task, err)
	}
	if sc, err := db.Schedule(ctx, in.tenant, in.schedule); err != nil || sc.Input != "summarise the report" || sc.Timezone != "Europe/Paris" {
		t.Errorf("the copied schedule = %+v, %v", sc, err)
	}
	_, content, err := db.ArtifactContent(ctx, in.tenant, in.taskID, "out/report.txt")
	if err != nil || !bytes.Equal(content, in.artifact) {
		t.Errorf("the copied file = %q, %v; want %q", content, err, in.artifact)
	}
	if sk, err := db.Skill(ctx, in.tenant, "house-style"); err != nil || sk.Files["ref/words.md"] != "words" || sk.Description != "Our style." {
		t.Errorf("the copied skill = %+v, %v", sk, err)
	}
	cp, err := db.LatestCheckpoint(ctx, in.tenant, in.taskID)
	if err != nil || cp.Seq != 3 || len(cp.Files) != 1 || cp.Files[0].Path != "notes.txt" {
		t.Errorf("the copied checkpoint = %+v, %v; want the one at seq 3 of notes.txt", cp, err)
	} else if blob, err := db.Blob(ctx, in.tenant, in.taskID, cp.Files[0].SHA256); err != nil || !bytes.Equal(blob, in.blob) {
		t.Errorf("the copied checkpoint's blob = %q, %v; want %q", blob, err, in.blob)
	}
	// The copied request reads back, and a new one gets a number of its
	// own (a PostgreSQL target's identity sequence moved past the copied).
	if _, err := db.SendControl(ctx, in.tenant, bulwark.ControlRequest{TaskID: in.taskID, Turn: 1, Kind: bulwark.ControlCancel, Actor: "cli"}); err != nil {
		t.Errorf("SendControl on the copy: %v", err)
	} else if rs, err := db.TakeControls(ctx, []bulwark.TaskRef{{Tenant: in.tenant, ID: in.taskID}}); err != nil || len(rs) != 2 ||
		rs[0].Text != "a message for the task" || rs[1].Kind != bulwark.ControlCancel {
		t.Errorf("the copy's control requests = %+v, %v; want the copied message, then the new cancel", rs, err)
	}
	// The copied memory opens, and its search index came with it (rebuilt
	// by a SQLite target's triggers; the same keyed tokens either way).
	if ms, err := db.FindMemories(ctx, in.tenant, bulwark.MemoryQuery{Text: "where is the report", User: "u_x"}); err != nil || len(ms) != 1 ||
		ms[0].ID != in.memoryID || !ms[0].Tainted || ms[0].Text != "the report lives in out/report.txt" {
		t.Errorf("the copy's memories for a search = %+v, %v; want the copied one", ms, err)
	}
	// The second factor opens, with its last step and recovery code.
	if f, err := db.TOTP(ctx, in.tenant, in.userID); err != nil || !bytes.Equal(f.Secret, in.totpSecret) || !f.Enabled || f.LastStep != 1234 || f.RecoveryLeft != 1 {
		t.Errorf("the copy's second factor = %+v, %v", f, err)
	}
	k, hash, err := db.APIKeyByPrefix(ctx, in.keyPrefix)
	if err != nil || !bytes.Equal(hash, in.keyHash) || k.TenantID != in.tenant {
		t.Errorf("APIKeyByPrefix in the copy = %+v, %x, %v", k, hash, err)
	}
	keys, err := db.ListAPIKeys(ctx, in.tenant)
	if err != nil || len(keys) != 3 {
		t.Errorf("the copy lists %d keys of the tenant, %v; want 3", len(keys), err)
	}
	if _, err := db.SessionByTokenHash(ctx, in.sessionHash); err != nil {
		t.Errorf("the session is not in the copy: %v", err)
	}
	st, err := db.Settings(ctx, in.tenant)
	if err != nil || st.Model != in.settings.Model || st.MaxConcurrent != 2 || !slices.Equal(st.AllowedDomains, []string{"example.com"}) {
		t.Errorf("settings in the copy = %+v, %v", st, err)
	}
	use, err := db.SharedKeyUsage(ctx, in.tenant, in.events[0].Time)
	if err != nil || use.InputTokens != 10 || use.Cost != 0.25 {
		t.Errorf("shared key usage in the copy = %+v, %v", use, err)
	}
	users, err := db.ListUsers(ctx, in.tenant)
	if err != nil || len(users) != 1 || users[0].Email != "bob@example.com" {
		t.Errorf("users in the copy = %+v, %v", users, err)
	}
}

func eventsJSON(evs []bulwark.Event) string {
	var b strings.Builder
	for _, e := range evs {
		e.Time = e.Time.UTC()
		j, _ := json.Marshal(e)
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestDBCopyRefusesAWrongKey: a key other than the source's stops the copy
// before the target is touched.
func TestDBCopyRefusesAWrongKey(t *testing.T) {
	for _, from := range copyBackends {
		t.Run(from.name, func(t *testing.T) {
			clearStoreEnv(t)
			key := newTestKey(t)
			src, dst := from.fresh(t), copyBackends[0].fresh(t)
			fillStore(t, openTestLocation(t, src, key))
			t.Setenv("BULWARK_MASTER_KEY", newTestKey(t))
			code, stdout, stderr := runDispatch("db", "copy", "--from", src, "--to", dst)
			if code != exitFailed || !strings.Contains(stderr, "master key") || !strings.Contains(stderr, "the source") {
				t.Errorf("db copy with another key: exit %d, stdout %q, stderr %q; want it refused for the source's key", code, stdout, stderr)
			}
			if _, err := os.Stat(filepath.Join(dst, dbFileName)); err == nil {
				t.Errorf("the refused copy created %s in the target", dbFileName)
			}
		})
	}
}

// TestDBCopyUsesTheSourceKeyFile: between two data folders without a key
// in the environment, the source's master.key opens the source and goes
// into the target, which opens with it; a target with a key of its own is
// refused.
func TestDBCopyUsesTheSourceKeyFile(t *testing.T) {
	clearStoreEnv(t)
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "new")
	var errb bytes.Buffer
	db, tenant, _, err := openLocalStore(context.Background(), storeFlags{data: src}, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetSecret(context.Background(), tenant.ID, "TOKEN", "token-value-1"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	code, stdout, stderr := runDispatch("db", "copy", "--from", src, "--to", dst)
	if code != exitOK || !strings.Contains(stdout, "master key was copied to "+filepath.Join(dst, masterKeyFileName)) {
		t.Fatalf("db copy: exit %d, stdout %q, stderr %q; want it to say the key was copied", code, stdout, stderr)
	}
	a, _ := os.ReadFile(filepath.Join(src, masterKeyFileName))
	b, err := os.ReadFile(filepath.Join(dst, masterKeyFileName))
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("the target's master.key differs from the source's (%v)", err)
	}
	if fi, err := os.Stat(filepath.Join(dst, masterKeyFileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the target's master.key: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	code, stdout, _ = runDispatch("secrets", "list", "--data", dst)
	if code != exitOK || !strings.Contains(stdout, "TOKEN") {
		t.Errorf("secrets list in the copy: exit %d, stdout %q", code, stdout)
	}

	other := t.TempDir()
	os.WriteFile(filepath.Join(other, masterKeyFileName), []byte("v1:"+newTestKey(t)+"\n"), 0o600)
	code, _, stderr = runDispatch("db", "copy", "--from", src, "--to", other)
	if code != exitFailed || !strings.Contains(stderr, "master.key of its own") {
		t.Errorf("a target with its own key: exit %d, stderr %q", code, stderr)
	}
}

// TestDBCopyUsage: the ends must be given, be different, and be data
// folders or postgres URLs; the source must hold a store.
func TestDBCopyUsage(t *testing.T) {
	clearStoreEnv(t)
	t.Setenv("BULWARK_MASTER_KEY", newTestKey(t))
	dir := t.TempDir()
	openTestLocation(t, dir, env("BULWARK_MASTER_KEY")).Close()
	linked := t.TempDir() // its bulwark.db is dir's, under another name
	if err := os.Symlink(filepath.Join(dir, dbFileName), filepath.Join(linked, dbFileName)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--to", dir}, exitUsage, "give --from"},
		{[]string{"--from", dir}, exitUsage, "give --to"},
		{[]string{"--from", dir, "--to", dir}, exitUsage, "the same database"},
		{[]string{"--from", dir, "--to", linked}, exitUsage, "the same database"},
		{[]string{"--from", "mysql://bob:s3cret-pw@db/x", "--to", dir}, exitUsage, `"mysql"`},
		{[]string{"--from", filepath.Join(dir, "none"), "--to", t.TempDir()}, exitFailed, "holds no store"},
		{[]string{"--from", dir, "--to", "postgres://bob:s3cret-pw@127.0.0.1:1/x", "extra"}, exitUsage, `unexpected argument "extra"`},
	} {
		code, _, stderr := runDispatch(append([]string{"db", "copy"}, c.args...)...)
		if code != c.code || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "s3cret-pw") {
			t.Errorf("db copy %s: exit %d, stderr %q; want exit %d saying %q", strings.Join(c.args, " "), code, stderr, c.code, c.want)
		}
	}
	// Without PostgreSQL support, a postgres end is refused before the
	// source is opened; without a key from the environment, before that.
	old := openPostgres
	openPostgres = nil
	defer func() { openPostgres = old }()
	code, _, stderr := runDispatch("db", "copy", "--from", dir, "--to", "postgres://bob@127.0.0.1:1/x")
	if code != exitFailed || !strings.Contains(stderr, "no PostgreSQL support") {
		t.Errorf("db copy to postgres without support: exit %d, stderr %q", code, stderr)
	}
	fake := useFakePostgres(t, nil)
	t.Setenv("BULWARK_MASTER_KEY", "")
	code, _, stderr = runDispatch("db", "copy", "--from", dir, "--to", "postgres://bob@127.0.0.1:1/x")
	if code != exitFailed || !strings.Contains(stderr, "BULWARK_MASTER_KEY_FILE") || len(fake.calls) > 0 {
		t.Errorf("db copy to postgres without a key in the environment: exit %d, stderr %q, %d connections", code, stderr, len(fake.calls))
	}
}

// TestDBMigrate: migrate brings a new data folder to this bulwark's schema
// and says so; a second run finds it current.
func TestDBMigrate(t *testing.T) {
	clearStoreEnv(t)
	t.Setenv("BULWARK_MASTER_KEY", newTestKey(t))
	data := filepath.Join(t.TempDir(), "data")
	code, stdout, stderr := runDispatch("db", "migrate", "--data", data)
	want := "schema version " + strconv.Itoa(latestSchema(storeLocation{dir: data}))
	if code != exitOK || !strings.Contains(stdout, want+" (migrated from 0)") {
		t.Errorf("db migrate: exit %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}
	code, stdout, _ = runDispatch("db", "migrate", "--data", data)
	if code != exitOK || !strings.Contains(stdout, want+" (already current)") {
		t.Errorf("db migrate again: exit %d, stdout %q", code, stdout)
	}
	if code, _, stderr := runDispatch("db", "vacuum"); code != exitUsage || !strings.Contains(stderr, "migrate or copy") {
		t.Errorf("db vacuum: exit %d, stderr %q", code, stderr)
	}

	// PostgreSQL (the fake, a SQLite file behind openPostgres).
	useFakePostgres(t, nil)
	code, stdout, stderr = runDispatch("db", "migrate", "--database-url", testPGURL)
	if code != exitOK || !strings.Contains(stdout, "postgres://bob:xxxxx@127.0.0.1:1/bulwark") || strings.Contains(stdout+stderr, "s3cret-pw") {
		t.Errorf("db migrate --database-url: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestSelfRefsMatchTheSchema: selfRefs names every foreign key of a table
// to itself, so that the copy orders those rows.
func TestSelfRefsMatchTheSchema(t *testing.T) {
	clearStoreEnv(t)
	key := newTestKey(t)
	where := filepath.Join(t.TempDir(), "data")
	openTestLocation(t, where, key).Close()
	raw, err := openRaw(context.Background(), storeLocation{dir: where}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	found := map[string][2]string{}
	for _, table := range copyTables {
		rows, err := raw.Query(`SELECT "table", "from", "to" FROM pragma_foreign_key_list(?)`, table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var parent, from, to string
			if err := rows.Scan(&parent, &from, &to); err != nil {
				t.Fatal(err)
			}
			if parent == table {
				found[table] = [2]string{to, from}
			}
		}
		rows.Close()
	}
	if len(found) != len(selfRefs.Get()) {
		t.Errorf("self-references in the schema: %v; selfRefs: %v", found, selfRefs.Get())
	}
	for table, r := range selfRefs.Get() {
		if found[table] != [2]string{r.key, r.parent} {
			t.Errorf("selfRefs.Get()[%s] = %v, the schema has %v", table, r, found[table])
		}
	}
}

func TestParentsFirst(t *testing.T) {
	row := func(id, parent any) []any { return []any{id, "x", parent} }
	rows := [][]any{row("c", "b"), row("a", nil), row("b", "a"), row("d", "gone"), row("e", []byte("c"))}
	got, err := parentsFirst(rows, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[any]int{}
	for i, r := range got {
		pos[r[0]] = i
	}
	if len(got) != len(rows) || pos["a"] > pos["b"] || pos["b"] > pos["c"] || pos["c"] > pos["e"] {
		t.Errorf("parentsFirst = %v; want every parent before its children", got)
	}
	if _, err := parentsFirst([][]any{row("a", "b"), row("b", "a")}, 0, 2); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("parentsFirst of a cycle: %v, want an error", err)
	}
}

// TestDoctorSchemaVersionPostgres: doctor reads a PostgreSQL database's
// schema version without migrating it, fails a node whose bulwark is older
// than the database, warns (and opens nothing) when it is newer, and opens
// the store only at the same version. The store is the fake; the database
// a real server's (BULWARK_TEST_POSTGRES).
func TestDoctorSchemaVersionPostgres(t *testing.T) {
	u := emptyPostgresDatabase(t)
	clearStoreEnv(t)
	t.Setenv("BULWARK_MASTER_KEY", newTestKey(t))
	fake := useFakePostgres(t, nil)
	raw, err := sql.Open("pgx", u)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL); INSERT INTO schema_migrations VALUES (1, 'a', 0), (7, 'b', 0)`); err != nil {
		t.Fatal(err)
	}
	old := postgresLatestSchema
	t.Cleanup(func() { postgresLatestSchema = old })
	for _, c := range []struct {
		latest      int
		level, want string
		opened      bool
	}{
		{6, "FAIL", "older one (version 6)", false},
		{8, "warn", "migrates it to 8", false},
		{7, "ok", "version 7", true},
	} {
		postgresLatestSchema = func() int { return c.latest }
		calls := len(fake.calls)
		data := t.TempDir()
		checks := map[string]check{}
		for _, ch := range doctor(context.Background(), storeFlags{data: data, url: u}) {
			checks[ch.name] = ch
		}
		if ch := checks["schema"]; ch.level != c.level || !strings.Contains(ch.detail, c.want) {
			t.Errorf("this bulwark at %d, the database at 7: schema check %+v; want %s saying %q", c.latest, ch, c.level, c.want)
		}
		if opened := len(fake.calls) > calls; opened != c.opened {
			t.Errorf("this bulwark at %d, the database at 7: store opened = %v, want %v", c.latest, opened, c.opened)
		}
		if c.opened && checks["store"].level != "ok" {
			t.Errorf("store check = %+v, want ok", checks["store"])
		}
	}
}
