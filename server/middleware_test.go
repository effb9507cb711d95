package server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
)

func TestCSRF(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	login := loginBody(a.users[bulwark.RoleOwner].Email, testPassword)
	cases := []struct {
		name   string
		rq     req
		header map[string]string
		want   int
	}{
		{"cross-site logout", req{method: "POST", path: "/api/v1/logout"}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.test"}, 403},
		{"same-site (another subdomain) logout", req{method: "POST", path: "/api/v1/logout"}, map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"foreign Origin, no Sec-Fetch-Site", req{method: "POST", path: "/api/v1/logout"}, map[string]string{"Origin": "https://evil.test"}, 403},
		{"cross-site login", req{method: "POST", path: "/api/v1/login", body: login}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-site key creation", req{method: "POST", path: "/api/v1/keys", body: `{"name":"x"}`}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-site GET is allowed", req{method: "GET", path: "/api/v1/me"}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
		{"same-origin key creation", req{method: "POST", path: "/api/v1/keys", body: `{"name":"x"}`}, map[string]string{"Sec-Fetch-Site": "same-origin"}, 201},
		{"same Origin, no Sec-Fetch-Site", req{method: "POST", path: "/api/v1/keys", body: `{"name":"y"}`}, map[string]string{"Origin": "https://bulwark.test"}, 201},
		{"same-origin login", req{method: "POST", path: "/api/v1/login", body: login}, map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"neither Origin nor Sec-Fetch-Site: logout", req{method: "POST", path: "/api/v1/logout"}, map[string]string{"Sec-Fetch-Site": "-"}, 403},
		{"neither Origin nor Sec-Fetch-Site: login", req{method: "POST", path: "/api/v1/login", body: login}, map[string]string{"Sec-Fetch-Site": "-"}, 403},
		{"neither Origin nor Sec-Fetch-Site: key creation", req{method: "POST", path: "/api/v1/keys", body: `{"name":"n"}`}, map[string]string{"Sec-Fetch-Site": "-"}, 403},
		{"Origin of another scheme, no Sec-Fetch-Site", req{method: "POST", path: "/api/v1/keys", body: `{"name":"s"}`}, map[string]string{"Origin": "http://bulwark.test"}, 403},
		{"Origin of another scheme, same-origin", req{method: "POST", path: "/api/v1/keys", body: `{"name":"s2"}`}, map[string]string{"Origin": "http://bulwark.test", "Sec-Fetch-Site": "same-origin"}, 403},
		{"Origin null", req{method: "POST", path: "/api/v1/keys", body: `{"name":"s3"}`}, map[string]string{"Origin": "null"}, 403},
		{"neither header: GET is allowed", req{method: "GET", path: "/api/v1/me"}, map[string]string{"Sec-Fetch-Site": "-"}, 200},
	}
	for _, c := range cases {
		rq := c.rq
		rq.cookie = e.login(a.users[bulwark.RoleOwner].Email)
		rq.header = c.header
		before := e.counter(metrics.CSRFRejected)
		w := e.do(rq)
		if w.Code != c.want {
			t.Errorf("%s = %d %s, want %d", c.name, w.Code, w.Body, c.want)
		}
		if c.want == 403 && e.counter(metrics.CSRFRejected) != before+1 {
			t.Errorf("%s: csrf_rejected not counted", c.name)
		}
	}
	// The API side needs no CSRF check: browsers cannot send a bearer key
	// across origins.
	w := e.do(req{method: "POST", path: "/api/v1/keys", body: `{"name":"z"}`, key: a.keys[bulwark.RoleOwner], header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	if w.Code != 201 {
		t.Errorf("API request with Sec-Fetch-Site: cross-site = %d, want 201", w.Code)
	}
	if len(e.audited("csrf.rejected")) == 0 {
		t.Error("no csrf.rejected audit record")
	}
	// A form body is refused on every side.
	w = e.do(req{method: "POST", path: "/api/v1/keys", body: "name=x", key: a.keys[bulwark.RoleOwner], header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}})
	if w.Code != 400 {
		t.Errorf("a form body = %d, want 400", w.Code)
	}
}

var wantHeaders = map[string]string{
	"X-Content-Type-Options":     "nosniff",
	"Referrer-Policy":            "no-referrer",
	"Cross-Origin-Opener-Policy": "same-origin",
	"X-Frame-Options":            "DENY",
}

func checkHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, v := range wantHeaders {
		if h.Get(k) != v {
			t.Errorf("%s: %s = %q, want %q", what, k, h.Get(k), v)
		}
	}
	csp := h.Get("Content-Security-Policy")
	if csp != cspJSON && csp != cspPage || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s: Content-Security-Policy = %q", what, csp)
	}
	if strings.HasPrefix(h.Get("Content-Type"), "application/json") && csp != cspJSON {
		t.Errorf("%s: a JSON response with CSP %q, want %q", what, csp, cspJSON)
	}
	if h.Get("Permissions-Policy") == "" || h.Get("X-Request-Id") == "" {
		t.Errorf("%s: no Permissions-Policy or X-Request-Id", what)
	}
	if h.Get("Strict-Transport-Security") != hsts {
		t.Errorf("%s: HSTS = %q, want %q (the test requests are HTTPS)", what, h.Get("Strict-Transport-Security"), hsts)
	}
}

// TestSecurityHeadersEverywhere: every route of the table, unknown paths,
// wrong methods, refusals and panics carry the security headers.
func TestSecurityHeadersEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	e2 := newEnv(t, rateLimitOff)
	if err := e2.srv.Handle(Route{Method: "GET", Pattern: "/panic", Side: Public, Handler: func(http.ResponseWriter, *http.Request) error { panic("boom") }}); err != nil {
		t.Fatal(err)
	}
	cookie := e.login(a.users[bulwark.RoleOwner].Email)
	for _, rt := range newEnv(t).srv.Routes() {
		c := matrix[rt.String()]
		rq := req{method: rt.Method, path: "/api/v1/x", remote: "127.0.0.1:1"}
		if c.path != nil {
			rq.path = c.path(&fixture{spareKey: "k_1", a: a})
			rq.body = c.body
		}
		if rt.Side == Browser {
			rq.cookie = cookie
		} else {
			rq.key = a.keys[bulwark.RoleOwner]
		}
		w := e.do(rq)
		checkHeaders(t, rt.String(), w.Header())
	}
	for _, rq := range []req{
		{method: "GET", path: "/nope"},
		{method: "GET", path: "/api/v1/keys/k_1"},
		{method: "GET", path: "/api/v1/keys"},
		{method: "POST", path: "/api/v1/keys", body: "{", key: a.keys[bulwark.RoleOwner]},
	} {
		w := e.do(rq)
		checkHeaders(t, rq.method+" "+rq.path, w.Header())
		if ed := errorOf(t, w); ed.RequestID != w.Header().Get("X-Request-Id") {
			t.Errorf("%s %s: request id %q in the body, %q in the header", rq.method, rq.path, ed.RequestID, w.Header().Get("X-Request-Id"))
		}
	}
	if w := e.do(req{method: "GET", path: "/api/v1/keys/k_1"}); w.Code != 405 || w.Header().Get("Allow") == "" {
		t.Errorf("GET on a DELETE route = %d (Allow %q), want 405 with Allow", w.Code, w.Header().Get("Allow"))
	}
	if w := e.do(req{method: "GET", path: "/nope"}); w.Code != 404 || errorOf(t, w).Code != "not_found" {
		t.Errorf("unknown path = %d %s, want a JSON 404", w.Code, w.Body)
	}
	w := e2.do(req{method: "GET", path: "/panic"})
	checkHeaders(t, "panic", w.Header())
	if ed := errorOf(t, w); w.Code != 500 || ed.Code != "internal" || ed.Message != "internal error" || strings.Contains(w.Body.String(), "boom") {
		t.Errorf("a panicking handler = %d %s, want a JSON 500 without the panic", w.Code, w.Body)
	}
}

func TestNoHSTSOverPlainHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r, _ := http.NewRequest("GET", "http://127.0.0.1/healthz", nil)
	r.RemoteAddr = "127.0.0.1:1"
	w := &recorder{h: http.Header{}}
	e.srv.Handler().ServeHTTP(w, r)
	if w.h.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS over plain HTTP")
	}
}

type recorder struct {
	h    http.Header
	code int
}

func (r *recorder) Header() http.Header         { return r.h }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(c int)           { r.code = c }

// failingStore fails the way a broken database does, with internals in
// its errors.
type failingStore struct {
	bulwark.Store
}

const internals = "SELECT value_ct FROM secrets WHERE tenant_id = ?: disk I/O error at /var/lib/bulwark/bulwark.db"

func (failingStore) ListSecrets(context.Context, bulwark.TenantID) ([]bulwark.SecretInfo, error) {
	return nil, errors.New(internals)
}

func (failingStore) ListUsers(context.Context, bulwark.TenantID) ([]bulwark.User, error) {
	return nil, bulwark.E(bulwark.Unavailable, "sqlite.ListUsers", "the database could not list the users", errors.New(internals))
}

func (failingStore) ListAPIKeys(context.Context, bulwark.TenantID) ([]bulwark.APIKey, error) {
	return nil, bulwark.E(bulwark.Internal, "sqlite.ListAPIKeys", "", errors.New(internals))
}

func TestErrorsShowNoInternals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff, func(c *Config) { c.Store = failingStore{c.Store} })
	a := e.tenant("a")
	cases := []struct {
		path       string
		code, kind string
		status     int
	}{
		{"/api/v1/secrets", "internal", "internal error", 500},
		{"/api/v1/users", "unavailable", "the database could not list the users", 503},
		{"/api/v1/keys", "internal", "internal error", 500},
	}
	for _, c := range cases {
		w := e.do(req{method: "GET", path: c.path, key: a.keys[bulwark.RoleOwner]})
		ed := errorOf(t, w)
		if w.Code != c.status || ed.Code != c.code || ed.Message != c.kind {
			t.Errorf("GET %s with a failing store = %d %+v, want %d %s %q", c.path, w.Code, ed, c.status, c.code, c.kind)
		}
		for _, bad := range []string{"SELECT", "/var/lib", "disk I/O", "sqlite", "goroutine", ".go:"} {
			if strings.Contains(w.Body.String(), bad) {
				t.Errorf("GET %s shows %q: %s", c.path, bad, w.Body)
			}
		}
	}
}

func TestErrorMessagesMasked(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	const token = "ghp_0123456789abcdefghijABCDEFGHIJ012345"
	w := e.do(req{method: "PUT", path: "/api/v1/settings", key: a.keys[bulwark.RoleOwner], body: `{"allowed_domains":["` + token + `"]}`})
	if w.Code != 400 || strings.Contains(w.Body.String(), token) {
		t.Errorf("an error quoting a secret-looking value = %d %s, want 400 with it masked", w.Code, w.Body)
	}
}

func TestStatusFor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want int
	}{
		{bulwark.Errorf(bulwark.Invalid, "", "x"), 400},
		{bulwark.Errorf(bulwark.Unauthenticated, "", "x"), 401},
		{bulwark.Errorf(bulwark.PermissionDenied, "", "x"), 403},
		{bulwark.Errorf(bulwark.NotFound, "", "x"), 404},
		{bulwark.Errorf(bulwark.Conflict, "", "x"), 409},
		{rateLimited("", "x", time.Second), 429},
		{bulwark.Errorf(bulwark.QuotaExceeded, "", "x"), 429},
		{bulwark.E(bulwark.QuotaExceeded, "", "x", &http.MaxBytesError{Limit: 1}), 413},
		{bulwark.Errorf(bulwark.Unavailable, "", "x"), 503},
		{bulwark.Errorf(bulwark.Internal, "", "x"), 500},
		{errors.New("plain"), 500},
		{context.Canceled, 503},
	}
	for _, c := range cases {
		if got := statusFor(c.err); got != c.want {
			t.Errorf("statusFor(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestRateLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.RateLimits = bulwark.RateLimitSettings{PerKey: 1, PerTenant: 100, Burst: 3} })
	a := e.tenant("a")
	key := a.keys[bulwark.RoleOwner]
	for i := range 3 {
		if w := e.do(req{method: "GET", path: "/api/v1/me", key: key}); w.Code != 200 {
			t.Fatalf("request %d within the burst = %d", i+1, w.Code)
		}
	}
	w := e.do(req{method: "GET", path: "/api/v1/me", key: key})
	if w.Code != 429 || errorOf(t, w).Code != "rate_limited" {
		t.Fatalf("past the burst = %d %s, want 429", w.Code, w.Body)
	}
	if n, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || n < 1 {
		t.Errorf("Retry-After = %q, want whole seconds", w.Header().Get("Retry-After"))
	}
	if e.counter(metrics.RateLimited) != 1 || len(e.audited("ratelimit.refused")) != 1 {
		t.Errorf("rate_limited counted %v, audited %d; want 1 and 1", e.counter(metrics.RateLimited), len(e.audited("ratelimit.refused")))
	}
	e.do(req{method: "GET", path: "/api/v1/me", key: key})
	if n := len(e.audited("ratelimit.refused")); n != 1 {
		t.Errorf("a second refusal within a minute audited again (%d records): audit is sampled", n)
	}
	// Another key of the tenant has its own bucket.
	if w := e.do(req{method: "GET", path: "/api/v1/me", key: a.keys[bulwark.RoleViewer]}); w.Code != 200 {
		t.Errorf("another key = %d, want 200", w.Code)
	}
	e.clock.Advance(time.Second)
	if w := e.do(req{method: "GET", path: "/api/v1/me", key: key}); w.Code != 200 {
		t.Errorf("a second later = %d, want 200", w.Code)
	}
	// The tenant's settings change its limits at once.
	e.clock.Advance(time.Minute)
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: a.keys[bulwark.RoleAdmin], body: `{"rate_limit":{"per_key_rps":1,"burst":1}}`}); w.Code != 200 {
		t.Fatalf("PUT settings = %d %s", w.Code, w.Body)
	}
	viewer := a.keys[bulwark.RoleViewer]
	e.do(req{method: "GET", path: "/api/v1/me", key: viewer})
	if w := e.do(req{method: "GET", path: "/api/v1/me", key: viewer}); w.Code != 429 {
		t.Errorf("past the tenant's burst of 1 = %d, want 429", w.Code)
	}
}

// TestRateLimitRotatingKeys: each key has its own bucket, but a tenant's
// keys (an admin makes them at will) share the tenant's: a client that
// uses a fresh key for each request is still limited.
func TestRateLimitRotatingKeys(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.RateLimits = bulwark.RateLimitSettings{PerKey: 100, PerTenant: 3, Burst: 3} })
	a := e.tenant("a")
	for i, role := range []bulwark.Role{bulwark.RoleOwner, bulwark.RoleAdmin, bulwark.RoleMember} {
		if w := e.do(req{method: "GET", path: "/api/v1/me", key: a.keys[role]}); w.Code != 200 {
			t.Fatalf("request %d, a fresh key within the tenant's burst = %d %s", i+1, w.Code, w.Body)
		}
	}
	w := e.do(req{method: "GET", path: "/api/v1/me", key: a.keys[bulwark.RoleViewer]})
	if w.Code != 429 || !strings.Contains(errorOf(t, w).Message, "tenant") {
		t.Errorf("a fourth fresh key past the tenant's burst = %d %s, want 429 for the tenant", w.Code, w.Body)
	}
}

func TestRateLimitByAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.tenant("a")
	refused := 0
	for range addressBurst + 5 {
		if w := e.do(req{method: "GET", path: "/api/v1/me", key: "bwk_bad"}); w.Code == 429 {
			refused++
		}
	}
	if refused == 0 {
		t.Error("an address sending bad keys is never rate limited")
	}
	if w := e.do(req{method: "GET", path: "/healthz"}); w.Code != 429 {
		t.Errorf("the same address on a public route = %d, want 429", w.Code)
	}
	if w := e.do(req{method: "GET", path: "/healthz", remote: "198.51.100.1:1"}); w.Code != 200 {
		t.Errorf("another address = %d, want 200", w.Code)
	}
	off := newEnv(t, rateLimitOff)
	for range addressBurst + 5 {
		if w := off.do(req{method: "GET", path: "/healthz"}); w.Code != 200 {
			t.Fatalf("with rate limits off = %d", w.Code)
		}
	}
}

func TestMetricsAccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff, func(c *Config) { c.MetricsToken = "metrics-token-0123456789" })
	cases := []struct {
		name   string
		remote string
		header map[string]string
		want   int
	}{
		{"loopback", "127.0.0.1:1", map[string]string{"Host": "127.0.0.1:8080"}, 200},
		{"loopback v6", "[::1]:1", map[string]string{"Host": "[::1]:8080"}, 200},
		{"loopback, Host localhost", "127.0.0.1:1", map[string]string{"Host": "localhost:8080"}, 200},
		{"loopback, Host without a port", "127.0.0.1:1", map[string]string{"Host": "localhost"}, 200},
		{"remote", "192.0.2.9:1", nil, 403},
		{"remote with the token", "192.0.2.9:1", map[string]string{"Authorization": "Bearer metrics-token-0123456789"}, 200},
		{"remote with a wrong token", "192.0.2.9:1", map[string]string{"Authorization": "Bearer metrics-token-0123456788"}, 403},
		{"a proxy on loopback", "127.0.0.1:1", map[string]string{"Host": "localhost:8080", "X-Forwarded-For": "192.0.2.9"}, 403},
		// A page of another site whose name was rebound to 127.0.0.1
		// (DNS rebinding) reaches the server from loopback, naming its
		// own host.
		{"loopback, Host of another site", "127.0.0.1:1", map[string]string{"Host": "evil.example:8080"}, 403},
		{"loopback, Host of another site, no port", "[::1]:1", map[string]string{"Host": "evil.example"}, 403},
		{"loopback, Host of another site, with the token", "127.0.0.1:1", map[string]string{"Host": "evil.example:8080", "Authorization": "Bearer metrics-token-0123456789"}, 200},
	}
	for _, c := range cases {
		w := e.do(req{method: "GET", path: "/metrics", remote: c.remote, header: c.header})
		if w.Code != c.want {
			t.Errorf("%s: GET /metrics = %d, want %d", c.name, w.Code, c.want)
		}
		if c.want == 200 && !strings.Contains(w.Body.String(), "bulwark_security_events_total") {
			t.Errorf("%s: the body holds no bulwark metrics", c.name)
		}
	}
	noToken := newEnv(t, rateLimitOff)
	if w := noToken.do(req{method: "GET", path: "/metrics", header: map[string]string{"Authorization": "Bearer "}}); w.Code != 403 {
		t.Errorf("remote, with no token configured and an empty one sent = %d, want 403", w.Code)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	for _, p := range []string{"/healthz", "/readyz"} {
		if w := e.do(req{method: "GET", path: p}); w.Code != 200 {
			t.Errorf("GET %s = %d", p, w.Code)
		}
	}
	e.db.Close()
	if w := e.do(req{method: "GET", path: "/readyz"}); w.Code != 503 {
		t.Errorf("GET /readyz with the store closed = %d, want 503", w.Code)
	}
}

// TestReadyChecks: a failing extra check (the cluster's queue) makes the
// node not ready, naming what is not, and nothing of the cause.
func TestReadyChecks(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	e := newEnv(t, rateLimitOff, func(c *Config) {
		c.Ready = []ReadyCheck{{Name: "the task queue", Check: func(context.Context) error {
			if down.Load() {
				return errors.New("dial tcp 10.0.0.7:5432: secret-host-detail")
			}
			return nil
		}}}
	})
	if w := e.do(req{method: "GET", path: "/readyz"}); w.Code != 200 {
		t.Errorf("GET /readyz with the queue up = %d, want 200", w.Code)
	}
	down.Store(true)
	w := e.do(req{method: "GET", path: "/readyz"})
	if w.Code != 503 || !strings.Contains(w.Body.String(), "the task queue is not ready") || strings.Contains(w.Body.String(), "secret-host-detail") {
		t.Errorf("GET /readyz with the queue down = %d %s; want 503 naming the queue, without the cause", w.Code, w.Body)
	}
}
