package server

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// testPassword is the password of every test user; fastParams keep
// argon2id cheap in tests (the default costs are tested on their own).
const testPassword = "correct horse battery"

var fastParams = PasswordParams{Memory: 64, Time: 1, Threads: 1}

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is a server over a real SQLite store in a temporary folder, with an
// audit log in memory, its own security counters and a test clock.
type env struct {
	t      testing.TB
	dir    string // the data folder: the store and its master key
	db     testStore
	srv    *Server
	h      http.Handler
	clock  *clock
	audits *audit.MemoryDir
	sec    *metrics.SecurityCounters // the server's, in a registry of its own
	open   storeOpener               // how each node opens the store
}

func newEnv(t testing.TB, opts ...func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	kr, err := secret.CreateKeyFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return newNode(t, dir, kr, newClock(), openSQLite, opts...)
}

// newEnvOn is newEnv over the store open opens: SQLite's, or
// PostgreSQL's (openPostgres).
func newEnvOn(t testing.TB, open storeOpener, opts ...func(*Config)) *env {
	t.Helper()
	dir := t.TempDir()
	kr, err := secret.CreateKeyFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	return newNode(t, dir, kr, newClock(), open, opts...)
}

// storeOpener opens the store of the data folder dir with the master
// keys kr, closed when the test ends.
type storeOpener func(t testing.TB, dir string, kr *secret.Keyring) testStore

// openSQLite opens the SQLite store in dir.
func openSQLite(t testing.TB, dir string, kr *secret.Keyring) testStore {
	t.Helper()
	db, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(dir, "bulwark.db"), Keys: kr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openPostgres returns an opener of a fresh PostgreSQL database of the
// test (the family testfamily.Postgres; skipped without it), one pool
// per node.
func openPostgres(t testing.TB) storeOpener {
	t.Helper()
	url := pgtest.NewDatabase(t)
	return func(t testing.TB, _ string, kr *secret.Keyring) testStore {
		t.Helper()
		db, err := postgres.Open(context.Background(), postgres.Config{URL: url, Keys: kr, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
}

// otherNode returns another server over e's store, as another node
// behind the same load balancer: its own connections to the same SQLite
// file, its own memory, the same clock.
func (e *env) otherNode(opts ...func(*Config)) *env {
	e.t.Helper()
	kr, err := secret.ReadKeyFile(filepath.Join(e.dir, "master.key"))
	if err != nil {
		e.t.Fatal(err)
	}
	return newNode(e.t, e.dir, kr, e.clock, e.open, opts...)
}

// newNode returns a server over the store in dir.
func newNode(t testing.TB, dir string, kr *secret.Keyring, clk *clock, open storeOpener, opts ...func(*Config)) *env {
	t.Helper()
	db := open(t, dir, kr)
	e := &env{t: t, dir: dir, db: db, clock: clk, audits: audit.NewMemoryDir(), sec: metrics.NewSecurityCounters(metrics.NewRegistry()), open: open}
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.OpenChains(context.Background(), e.audits, audit.Options{Now: e.clock.Now, SigningKey: priv, CheckpointEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cfg := Config{
		Store: db, Audit: l, Password: fastParams, Now: e.clock.Now,
		Security: e.sec, DefaultModel: "openai:default-model",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.srv, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// rateLimitOff turns rate limits off, for tests of other things.
func rateLimitOff(c *Config) { c.RateLimitOff = true }

// req is one request to the test server.
type req struct {
	method, path, body string
	key                string            // Authorization: Bearer key
	cookie             string            // the session cookie's value
	remote             string            // the client address; default 192.0.2.1:1234
	header             map[string]string // more headers; "-" removes one (a browser request has Sec-Fetch-Site: same-origin unless it sets Origin or Sec-Fetch-Site)
}

func (e *env) do(rq req) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r := httptest.NewRequest(rq.method, "https://bulwark.test"+rq.path, body)
	r.RemoteAddr = "192.0.2.1:1234"
	if rq.remote != "" {
		r.RemoteAddr = rq.remote
	}
	if rq.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if rq.key != "" {
		r.Header.Set("Authorization", "Bearer "+rq.key)
	}
	if rq.cookie != "" {
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: rq.cookie})
	}
	if rq.key == "" && rq.header["Origin"] == "" && rq.header["Sec-Fetch-Site"] == "" {
		r.Header.Set("Sec-Fetch-Site", "same-origin") // as a browser on this site sends
	}
	for k, v := range rq.header {
		switch {
		case v == "-": // a header the test wants absent
			r.Header.Del(k)
		case k == "Host": // net/http keeps it in r.Host
			r.Host = v
		default:
			r.Header.Set(k, v)
		}
	}
	w := httptest.NewRecorder()
	if e.h == nil { // built at the first request, so tests may Handle routes first
		e.h = e.srv.Handler()
	}
	e.h.ServeHTTP(w, r)
	return w
}

// tenant is a tenant of the fixture with a key and a user of each role.
type tenant struct {
	id     bulwark.TenantID
	keys   map[bulwark.Role]string // role -> API key
	keyIDs map[bulwark.Role]string
	users  map[bulwark.Role]bulwark.User
}

func (e *env) tenant(name string) *tenant {
	e.t.Helper()
	ctx := context.Background()
	tn, err := e.db.CreateTenant(ctx, name)
	if err != nil {
		e.t.Fatal(err)
	}
	t := &tenant{id: tn.ID, keys: map[bulwark.Role]string{}, keyIDs: map[bulwark.Role]string{}, users: map[bulwark.Role]bulwark.User{}}
	for _, role := range bulwark.TenantRoles {
		tok, k, err := IssueKey(ctx, e.db, tn.ID, KeySpec{Name: string(role) + " key", Role: role, CreatedBy: "test"})
		if err != nil {
			e.t.Fatal(err)
		}
		t.keys[role], t.keyIDs[role] = tok, k.ID
		t.users[role] = e.user(tn.ID, string(role)+"@"+name+".test", role)
	}
	return t
}

func (e *env) user(t bulwark.TenantID, email string, role bulwark.Role) bulwark.User {
	e.t.Helper()
	h, err := HashPassword(testPassword, fastParams)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := e.db.CreateUser(context.Background(), t, bulwark.User{Email: email, Role: role}, h)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// login logs in and returns the session cookie's value.
func (e *env) login(email string) string {
	e.t.Helper()
	w := e.do(req{method: "POST", path: "/api/v1/login", body: `{"email":"` + email + `","password":"` + testPassword + `"}`})
	if w.Code != http.StatusOK {
		e.t.Fatalf("login %s: %d %s", email, w.Code, w.Body)
	}
	return sessionFrom(e.t, w)
}

// sessionFrom returns the session cookie a response sets ("" if none).
func sessionFrom(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == sessionCookie && c.MaxAge > 0 {
			return c.Value
		}
	}
	return ""
}

// errorOf decodes an error body.
func errorOf(t testing.TB, w *httptest.ResponseRecorder) errorDetail {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("the body %q is not a JSON error: %v", w.Body, err)
	}
	return b.Error
}

// counter returns the value of bulwark_security_events_total{kind}.
func (e *env) counter(kind metrics.SecurityEvent) float64 {
	return float64(e.sec.Counter(kind).Value())
}

// audited returns the audit records with action, of every chain, once
// the counted refusals have been written.
func (e *env) audited(action string) []audit.Record {
	e.t.Helper()
	ctx := context.Background()
	if e.srv.unauth != nil {
		e.srv.unauth.Flush(ctx, true)
	}
	chains, _ := e.audits.List(ctx)
	var out []audit.Record
	for _, c := range chains {
		for r, err := range e.audits.Store(c).Read(ctx, 1) {
			if err != nil {
				e.t.Fatal(err)
			}
			if r.Action == action {
				out = append(out, r)
			}
		}
	}
	return out
}

// testStore is what the tests use of the store: SQLite's or PostgreSQL's.
type testStore interface {
	bulwark.Store
	bulwark.ArtifactStore
	runner.Store
	bulwark.ScheduleStore
	bulwark.MemoryStore
}
