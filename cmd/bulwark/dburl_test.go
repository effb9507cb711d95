package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// maskCases are URLs with the passwords (in any spelling) that must not
// survive maskURL, and what must.
var maskCases = []struct {
	in       string
	hidden   []string
	want     string // the whole masked form; "" to check only hidden and keep
	keepPart string
}{
	{"postgres://bob:s3cret-pw@db.internal:5432/app", []string{"s3cret-pw"}, "postgres://bob:xxxxx@db.internal:5432/app", ""},
	{"postgresql://bob:p%40ss%2Fw0rd@db/app?sslmode=require", []string{"p@ss/w0rd", "p%40ss", "w0rd"}, "", "sslmode=require"},
	{"postgres://db/app?sslmode=require&password=s3cret-pw", []string{"s3cret-pw"}, "", "sslmode=require"},
	{"postgres://bob@db/app?sslpassword=key-pass-99&PASSWORD=upper-pass-9", []string{"key-pass-99", "upper-pass-9"}, "", "bob@db/app"},
	{"postgres://bob:@db/app", nil, "", "bob"},
	{"postgresql://bob@db/app", nil, "postgresql://bob@db/app", ""},
	{"postgres://bob:s3cret-pw@db:port/app", []string{"s3cret-pw"}, "", "not shown"}, // does not parse (port)
	{"postgres://bob:s3cret%zz@db/app", []string{"s3cret"}, "", "not shown"},         // bad escape
}

func TestMaskURL(t *testing.T) {
	for _, c := range maskCases {
		got := maskURL(c.in)
		for _, h := range c.hidden {
			if strings.Contains(got, h) {
				t.Errorf("maskURL(%q) = %q, which shows %q", c.in, got, h)
			}
		}
		if c.want != "" && got != c.want {
			t.Errorf("maskURL(%q) = %q, want %q", c.in, got, c.want)
		}
		if c.keepPart != "" && !strings.Contains(got, c.keepPart) {
			t.Errorf("maskURL(%q) = %q, want it to keep %q", c.in, got, c.keepPart)
		}
	}
}

// TestScrubURL: a driver's message that quotes the URL, or the password
// alone (raw or escaped), shows neither.
func TestScrubURL(t *testing.T) {
	raw := "postgres://bob:p%40ss-w0rd-1@db/app?password=other-pw-22"
	msg := "failed to connect to " + raw + ": password p@ss-w0rd-1 (p%40ss-w0rd-1) or other-pw-22 refused"
	got := scrubURL(msg, raw)
	for _, h := range []string{"p@ss-w0rd-1", "p%40ss-w0rd-1", "other-pw-22"} {
		if strings.Contains(got, h) {
			t.Errorf("scrubURL shows %q: %s", h, got)
		}
	}
	if !strings.Contains(got, "postgres://bob:xxxxx@db/app") {
		t.Errorf("scrubURL(%q) = %q, want the masked URL in it", msg, got)
	}
}

// schemeCases: what --database-url and BULWARK_DATABASE_URL accept.
var schemeCases = []struct {
	in       string
	postgres bool
	wantErr  string // "" for none
}{
	{"", false, ""},
	{"postgres://bob@db/app", true, ""},
	{"postgresql://bob@db/app", true, ""},
	{"PostgreSQL://bob@db/app", true, ""},
	{"mysql://bob:s3cret-pw@db/app", false, `the scheme "mysql" is not supported`},
	{"sqlite:///var/lib/bulwark/bulwark.db", false, `the scheme "sqlite" is not supported`},
	{"file:///var/lib/bulwark", false, `"file" is not supported`},
	{"host=db user=bob password=s3cret-pw", false, "must be a postgres:// or postgresql:// URL"},
	{"postgres:bob@db", false, "must be a postgres:// or postgresql:// URL"},
	{"/var/lib/bulwark", false, "must be a postgres:// or postgresql:// URL"},
}

func TestDatabaseURLSchemes(t *testing.T) {
	for _, c := range schemeCases {
		pg, err := postgresURL("--database-url", c.in)
		var ue usageError
		switch {
		case c.wantErr == "" && (err != nil || pg != c.postgres):
			t.Errorf("postgresURL(%q) = %v, %v; want %v, nil", c.in, pg, err, c.postgres)
		case c.wantErr != "" && (err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("postgresURL(%q) = %v, %v; want a usage error saying %q", c.in, pg, err, c.wantErr)
		case err != nil && strings.Contains(err.Error(), "s3cret-pw"):
			t.Errorf("postgresURL(%q): the error shows the password: %v", c.in, err)
		}
	}
}

// fakePostgres replaces openPostgres for a test: it records the calls
// and opens a SQLite store in their place (or fails with err).
type fakePostgres struct {
	calls []fakeCall
	path  string
	err   error
}

type fakeCall struct {
	url       string
	keys      *secret.Keyring
	keySource string
	pool      poolOptions
}

func useFakePostgres(t *testing.T, err error) *fakePostgres {
	t.Helper()
	f := &fakePostgres{path: filepath.Join(t.TempDir(), "pg.db"), err: err}
	old := openPostgres
	openPostgres = func(ctx context.Context, url string, keys *secret.Keyring, keySource string, pool poolOptions) (store, error) {
		f.calls = append(f.calls, fakeCall{url, keys, keySource, pool})
		if f.err != nil {
			return nil, f.err
		}
		return sqlite.Open(ctx, sqlite.Config{Path: f.path, Keys: keys, KeySource: keySource})
	}
	t.Cleanup(func() { openPostgres = old })
	return f
}

// clearStoreEnv unsets the variables that choose the store and its key.
func clearStoreEnv(t *testing.T) {
	for _, v := range []string{"BULWARK_DATABASE_URL", "BULWARK_MASTER_KEY", "BULWARK_MASTER_KEY_FILE", "CREDENTIALS_DIRECTORY", "BULWARK_DATA", "BULWARK_DB_MAX_CONNS", "BULWARK_DB_STATEMENT_TIMEOUT", "BULWARK_AUDIT"} {
		t.Setenv(v, "")
	}
	t.Setenv("BULWARK_AUDIT", "off")
}

const testPGURL = "postgres://bob:s3cret-pw@127.0.0.1:1/bulwark"

// TestPostgresNeedsAKeyFromTheEnvironment: with a PostgreSQL URL and no
// BULWARK_MASTER_KEY(_FILE), every store command fails naming both
// variables, before any connection is tried, and neither reads nor
// writes a master.key in the data folder.
func TestPostgresNeedsAKeyFromTheEnvironment(t *testing.T) {
	clearStoreEnv(t)
	fake := useFakePostgres(t, nil)
	data := t.TempDir()
	for _, args := range [][]string{
		{"tenants", "list", "--data", data, "--database-url", testPGURL},
		{"secrets", "list", "--data", data, "--database-url", testPGURL},
		{"keys", "status", "--data", data, "--database-url", testPGURL},
		{"db", "migrate", "--database-url", testPGURL},
		{"tasks", "list", "--data", data, "--database-url", testPGURL},
	} {
		code, _, stderr := runDispatch(args...)
		if code != exitFailed || !strings.Contains(stderr, "BULWARK_MASTER_KEY ") || !strings.Contains(stderr, "BULWARK_MASTER_KEY_FILE") {
			t.Errorf("bulwark %s: exit %d, stderr %q; want exit 1 naming BULWARK_MASTER_KEY and BULWARK_MASTER_KEY_FILE", strings.Join(args, " "), code, stderr)
		}
		if strings.Contains(stderr, "s3cret-pw") {
			t.Errorf("bulwark %s: stderr shows the password: %q", strings.Join(args, " "), stderr)
		}
	}
	if len(fake.calls) > 0 {
		t.Errorf("openPostgres was called %d times without a master key", len(fake.calls))
	}
	if _, err := os.Stat(filepath.Join(data, masterKeyFileName)); err == nil {
		t.Errorf("a master key was generated into the data folder for a PostgreSQL store")
	}

	// A master.key in the data folder (left by SQLite) is not used either.
	if _, err := secret.CreateKeyFile(filepath.Join(data, masterKeyFileName)); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BULWARK_DATABASE_URL", testPGURL)
	if code, _, stderr := runDispatch("tenants", "list", "--data", data); code != exitFailed || !strings.Contains(stderr, "BULWARK_MASTER_KEY_FILE") || len(fake.calls) > 0 {
		t.Errorf("tenants list with BULWARK_DATABASE_URL and master.key in the data folder: exit %d, stderr %q, %d connections; want the key refused", code, stderr, len(fake.calls))
	}
}

// TestPostgresStoreIsChosenAndConfigured: a postgres URL (flag over
// variable) opens the PostgreSQL store with the key from the environment
// and the pool settings; the data folder keeps no database.
func TestPostgresStoreIsChosenAndConfigured(t *testing.T) {
	clearStoreEnv(t)
	fake := useFakePostgres(t, nil)
	data := t.TempDir()
	key := newTestKey(t)
	t.Setenv("BULWARK_MASTER_KEY", key)
	t.Setenv("BULWARK_DATABASE_URL", "mysql://not-this-one")
	code, stdout, stderr := runDispatch("tenants", "create", "acme", "--data", data, "--database-url", testPGURL)
	if code != exitOK || !strings.HasPrefix(stdout, "bwk_") {
		t.Fatalf("tenants create with --database-url: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if len(fake.calls) != 1 {
		t.Fatalf("openPostgres called %d times, want 1", len(fake.calls))
	}
	if !strings.Contains(stderr, "--database-url holds a password") || strings.Contains(stderr, "s3cret-pw") {
		t.Errorf("a password on the command line: stderr %q; want a warning that does not show it", stderr)
	}
	c := fake.calls[0]
	if c.url != testPGURL || c.keySource != "BULWARK_MASTER_KEY" || c.pool != (poolOptions{10, 30 * time.Second}) {
		t.Errorf("openPostgres(%q, source %q, %+v); want the flag's URL, BULWARK_MASTER_KEY, 10 connections and 30s", maskURL(c.url), c.keySource, c.pool)
	}
	want, _ := secret.ParseKeyring([]byte(key))
	if c.keys == nil || c.keys.Current() != want.Current() {
		t.Errorf("openPostgres got keys %v, want those of BULWARK_MASTER_KEY", c.keys)
	}
	for _, name := range []string{dbFileName, masterKeyFileName} {
		if _, err := os.Stat(filepath.Join(data, name)); err == nil {
			t.Errorf("the data folder has %s with a PostgreSQL store", name)
		}
	}

	// The variable alone, and the pool settings.
	t.Setenv("BULWARK_DATABASE_URL", testPGURL)
	t.Setenv("BULWARK_DB_MAX_CONNS", "3")
	t.Setenv("BULWARK_DB_STATEMENT_TIMEOUT", "5s")
	if code, stdout, stderr := runDispatch("tenants", "list", "--data", data); code != exitOK || !strings.Contains(stdout, "acme") || strings.Contains(stderr, "WARNING") {
		t.Fatalf("tenants list with BULWARK_DATABASE_URL: exit %d, stdout %q, stderr %q; want the tenant and no warning", code, stdout, stderr)
	}
	if got := fake.calls[len(fake.calls)-1].pool; got != (poolOptions{3, 5 * time.Second}) {
		t.Errorf("pool = %+v, want 3 connections and 5s", got)
	}
	for _, bad := range []struct{ name, value, want string }{
		{"BULWARK_DB_MAX_CONNS", "0", "from 1 to 1000"},
		{"BULWARK_DB_MAX_CONNS", "lots", "whole number"},
		{"BULWARK_DB_STATEMENT_TIMEOUT", "30", "30s"},
	} {
		t.Run(bad.name+"="+bad.value, func(t *testing.T) {
			t.Setenv(bad.name, bad.value)
			n := len(fake.calls)
			code, _, stderr := runDispatch("tenants", "list", "--data", data)
			if code != exitUsage || !strings.Contains(stderr, bad.want) || len(fake.calls) != n {
				t.Errorf("exit %d, stderr %q, connected %v; want exit 2 saying %q, no connection", code, stderr, len(fake.calls) != n, bad.want)
			}
		})
	}
}

// TestDatabaseURLErrors: a bad scheme is a usage error naming where it came
// from; a build without PostgreSQL says so; a driver's error is shown
// without the password.
func TestDatabaseURLErrors(t *testing.T) {
	clearStoreEnv(t)
	data := t.TempDir()
	t.Setenv("BULWARK_MASTER_KEY", newTestKey(t))
	code, _, stderr := runDispatch("tenants", "list", "--data", data, "--database-url", "mysql://bob:s3cret-pw@db/app")
	if code != exitUsage || !strings.Contains(stderr, "--database-url") || !strings.Contains(stderr, `"mysql"`) || strings.Contains(stderr, "s3cret-pw") {
		t.Errorf("--database-url mysql://...: exit %d, stderr %q; want exit 2 naming the flag and the scheme, not the password", code, stderr)
	}
	t.Setenv("BULWARK_DATABASE_URL", "mysql://bob:s3cret-pw@db/app")
	code, _, stderr = runDispatch("secrets", "list", "--data", data)
	if code != exitUsage || !strings.Contains(stderr, "BULWARK_DATABASE_URL") || strings.Contains(stderr, "s3cret-pw") {
		t.Errorf("BULWARK_DATABASE_URL=mysql://...: exit %d, stderr %q; want exit 2 naming the variable", code, stderr)
	}
	t.Setenv("BULWARK_DATABASE_URL", "")

	old := openPostgres
	openPostgres = nil
	code, _, stderr = runDispatch("tenants", "list", "--data", data, "--database-url", testPGURL)
	openPostgres = old
	if code != exitFailed || !strings.Contains(stderr, "this build has no PostgreSQL support") {
		t.Errorf("without PostgreSQL support: exit %d, stderr %q", code, stderr)
	}

	useFakePostgres(t, errors.New("failed to connect to "+testPGURL+": server said password s3cret-pw is wrong"))
	code, _, stderr = runDispatch("tenants", "list", "--data", data, "--database-url", testPGURL)
	if code != exitFailed || strings.Contains(stderr, "s3cret-pw") || !strings.Contains(stderr, "127.0.0.1:1") {
		t.Errorf("a driver error: exit %d, stderr %q; want exit 1 naming the host, without the password", code, stderr)
	}
}

// TestDoctorPostgres: doctor with an unreachable database fails its
// database check without showing the password, and a PostgreSQL URL
// without a key from the environment fails the master key check.
func TestDoctorPostgres(t *testing.T) {
	clearStoreEnv(t)
	data := t.TempDir()
	os.Chmod(data, 0o700)
	checks := doctor(context.Background(), storeFlags{data: data, url: testPGURL})
	levels := map[string]check{}
	for _, c := range checks {
		levels[c.name] = c
		if strings.Contains(c.detail, "s3cret-pw") {
			t.Errorf("doctor's %s check shows the password: %s", c.name, c.detail)
		}
	}
	if c := levels["master key"]; c.level != "FAIL" || !strings.Contains(c.detail, "BULWARK_MASTER_KEY_FILE") {
		t.Errorf("master key check = %+v; want FAIL naming the variables", c)
	}
	if c := levels["database"]; c.level != "FAIL" || !strings.Contains(c.detail, "postgres://bob:xxxxx@127.0.0.1:1/bulwark") {
		t.Errorf("database check = %+v; want FAIL naming the masked URL", c)
	}

	// A key file, even in the data folder, is a key from the environment.
	keyFile := filepath.Join(data, "pg.key")
	if _, err := secret.CreateKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BULWARK_MASTER_KEY_FILE", keyFile)
	levels = map[string]check{}
	for _, c := range doctor(context.Background(), storeFlags{data: data, url: testPGURL}) {
		levels[c.name] = c
	}
	if c := levels["master key"]; c.level != "warn" || !strings.Contains(c.detail, "kept in the data folder") {
		t.Errorf("master key check with BULWARK_MASTER_KEY_FILE in the data folder = %+v; want a warning", c)
	}

	// A URL of another kind fails the store check; the others still run.
	levels = map[string]check{}
	for _, c := range doctor(context.Background(), storeFlags{data: data, url: "mysql://bob:s3cret-pw@db/x"}) {
		levels[c.name] = c
	}
	if c := levels["store"]; c.level != "FAIL" || !strings.Contains(c.detail, `"mysql"`) || strings.Contains(c.detail, "s3cret-pw") {
		t.Errorf("store check with a mysql URL = %+v; want FAIL naming the scheme", c)
	}
	if _, ok := levels["audit log"]; !ok {
		t.Errorf("doctor stopped at the bad URL: %v", levels)
	}
}

// schemaChecks: doctor's verdict on a database's schema version against
// this bulwark's.
func TestSchemaCheck(t *testing.T) {
	for _, c := range []struct {
		db, latest  int
		level, want string
	}{
		{9, 9, "ok", "version 9"},
		{10, 9, "FAIL", "older one"},
		{8, 9, "warn", "bulwark db migrate"},
	} {
		got := schemaCheck(c.db, c.latest)
		if got.level != c.level || !strings.Contains(got.detail, c.want) {
			t.Errorf("schemaCheck(%d, %d) = %+v; want %s saying %q", c.db, c.latest, got, c.level, c.want)
		}
	}
}

// TestEveryStoreCommandTakesADatabaseURL: the help of every command that
// opens the store shows --database-url.
func TestEveryStoreCommandTakesADatabaseURL(t *testing.T) {
	for _, args := range [][]string{
		{"serve"}, {"run"}, {"doctor"}, {"db", "migrate"}, {"audit", "verify"},
		{"tenants", "create"}, {"tenants", "list"}, {"tenants", "operator-key"},
		{"users", "create"}, {"users", "list"}, {"keys", "status"}, {"keys", "rotate-master"}, {"keys", "retire-master"},
		{"secrets", "set"}, {"secrets", "list"}, {"secrets", "delete"},
		{"tasks", "list"}, {"tasks", "show"}, {"tasks", "logs"}, {"tasks", "cancel"}, {"tasks", "files"},
	} {
		_, stdout, _ := runDispatch(append(args, "--help")...)
		if !strings.Contains(stdout, "--database-url URL") || !strings.Contains(stdout, "BULWARK_DATABASE_URL") {
			t.Errorf("bulwark %s --help does not show --database-url:\n%s", strings.Join(args, " "), stdout)
		}
	}
}

// TestPasswordsReachTheRedactor: every password of every URL accepted is
// masked in what the process logs, not only the last one.
func TestPasswordsReachTheRedactor(t *testing.T) {
	hidePasswords("postgres://bob:first-pw-111@db/app?password=second-pw-222")
	hidePasswords("postgres://eve:third-pw-333@db/app")
	got := redactor.String("log: first-pw-111 second-pw-222 third-pw-333")
	for _, p := range []string{"first-pw-111", "second-pw-222", "third-pw-333"} {
		if strings.Contains(got, p) {
			t.Errorf("the redactor lets %q through: %s", p, got)
		}
	}
}
