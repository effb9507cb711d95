package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
)

func loginBody(email, pw string) string {
	return fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw)
}

// TestLoginUnknownUserLooksLikeWrongPassword: same status, body (but the
// request id) and headers.
func TestLoginUnknownUserLooksLikeWrongPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	wrong := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(a.users[bulwark.RoleOwner].Email, "not the password")})
	unknown := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("nobody@a.test", "not the password")})
	if wrong.Code != 401 || unknown.Code != wrong.Code {
		t.Fatalf("wrong password = %d, unknown user = %d; want 401 for both", wrong.Code, unknown.Code)
	}
	we, ue := errorOf(t, wrong), errorOf(t, unknown)
	we.RequestID, ue.RequestID = "", ""
	if we != ue {
		t.Errorf("wrong password = %+v, unknown user = %+v; want the same", we, ue)
	}
	for k := range wrong.Header() {
		if k != "X-Request-Id" && wrong.Header().Get(k) != unknown.Header().Get(k) {
			t.Errorf("header %s: %q vs %q", k, wrong.Header().Get(k), unknown.Header().Get(k))
		}
	}
	if len(e.audited("auth.login_failed")) != 2 || e.counter(metrics.AuthFailed) != 2 {
		t.Errorf("%d auth.login_failed records, %v counted; want 2 and 2", len(e.audited("auth.login_failed")), e.counter(metrics.AuthFailed))
	}
}

// TestLoginSlowsDownNeverLocks drives the throttle with the test clock:
// after the free failures each attempt must wait longer (429 with
// Retry-After, even with the right password), up to a cap; the account is
// never locked: once the wait is served, the right password logs in. An
// unknown email is treated the same.
func TestLoginSlowsDownNeverLocks(t *testing.T) {
	t.Parallel()
	for _, email := range []string{"owner@a.test", "nobody@a.test"} {
		e := newEnv(t, rateLimitOff)
		e.tenant("a")
		attempt := func(pw string) *httpResult {
			w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(email, pw)})
			return &httpResult{w.Code, w.Header().Get("Retry-After")}
		}
		var waits []int
		for i := 1; i <= 12; i++ {
			if r := attempt("wrong password!"); r.code != 401 {
				t.Fatalf("%s: failure %d = %d, want 401", email, i, r.code)
			}
			if i <= accountPolicy.Free {
				continue // free failures: the next attempt may come at once
			}
			r := attempt(testPassword)
			if r.code != 429 || r.retry == "" {
				t.Fatalf("%s: after %d failures, an attempt at once = %d (Retry-After %q), want 429", email, i, r.code, r.retry)
			}
			n, _ := strconv.Atoi(r.retry)
			waits = append(waits, n)
			e.clock.Advance(time.Duration(n) * time.Second)
		}
		want := []int{1, 2, 4, 8, 16, 30, 30, 30, 30, 30}
		if fmt.Sprint(waits) != fmt.Sprint(want) {
			t.Errorf("%s: waits %v, want %v (exponential, capped at %v)", email, waits, want, accountPolicy.MaxDelay)
		}
		// Never locked: once the wait is served, the right password works.
		code := 200
		if email == "nobody@a.test" {
			code = 401
		}
		if r := attempt(testPassword); r.code != code {
			t.Errorf("%s: after serving the wait = %d, want %d", email, r.code, code)
		}
		if e.counter(metrics.AuthFailed) < 12 {
			t.Errorf("%s: auth_failed = %v, want at least 12", email, e.counter(metrics.AuthFailed))
		}
	}
}

type httpResult struct {
	code  int
	retry string
}

// TestLoginThrottlesAddress: one address trying many accounts slows down.
func TestLoginThrottlesAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	e.tenant("a")
	for i := 0; i < addressPolicy.Free; i++ {
		if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(fmt.Sprintf("u%d@a.test", i), "wrong password!")}); w.Code != 401 {
			t.Fatalf("failure %d = %d", i, w.Code)
		}
	}
	e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("one-more@a.test", "wrong password!")})
	w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("owner@a.test", testPassword)})
	if w.Code != 429 || w.Header().Get("Retry-After") == "" {
		t.Errorf("after %d failures from one address, a login = %d, want 429", addressPolicy.Free+1, w.Code)
	}
	// A success of its own does not forget the address's failures.
	e.clock.Advance(failureWindow - time.Second)
	for i := 0; i < addressPolicy.Free+1; i++ {
		e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(fmt.Sprintf("v%d@a.test", i), "wrong password!"), remote: "203.0.113.9:1"})
		if i == addressPolicy.Free-1 {
			if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("viewer@a.test", testPassword), remote: "203.0.113.9:1"}); w.Code != 200 {
				t.Fatalf("a good login among failures = %d, want 200", w.Code)
			}
		}
	}
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("member@a.test", testPassword), remote: "203.0.113.9:1"}); w.Code != 429 {
		t.Errorf("after %d failures and one success from one address, a login = %d, want 429", addressPolicy.Free+1, w.Code)
	}
	// Another address is not slowed.
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("owner@a.test", testPassword), remote: "198.51.100.7:1"}); w.Code != 200 {
		t.Errorf("from another address = %d, want 200", w.Code)
	}
}

func TestSessionRotationAtLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	email := a.users[bulwark.RoleMember].Email
	first := e.login(email)
	w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(email, testPassword), cookie: first})
	second := sessionFrom(t, w)
	if w.Code != 200 || second == "" || second == first {
		t.Fatalf("second login = %d, cookie %q; want a new session", w.Code, second)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: first}); w.Code != 401 {
		t.Errorf("the session sent to login = %d after it, want 401", w.Code)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: second}); w.Code != 200 {
		t.Errorf("the new session = %d, want 200", w.Code)
	}
	c := w.Result().Cookies()
	for _, ck := range c {
		if ck.Name == sessionCookie && (!ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "") {
			t.Errorf("session cookie %+v: want Secure, HttpOnly, SameSite=Lax, Path=/, no Domain", ck)
		}
	}
}

func TestSessionRotationAtRoleChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	member := e.login(a.users[bulwark.RoleMember].Email)
	owner := e.login(a.users[bulwark.RoleOwner].Email)
	// Another user's role changes: that user's sessions end.
	if w := e.do(req{method: "PATCH", path: "/api/v1/users/" + a.users[bulwark.RoleMember].ID, body: `{"role":"owner"}`, cookie: owner}); w.Code != 200 {
		t.Fatalf("PATCH role = %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: member}); w.Code != 401 {
		t.Errorf("the promoted user's old session = %d, want 401", w.Code)
	}
	// Users changing their own role get a new session with the answer.
	w := e.do(req{method: "PATCH", path: "/api/v1/users/" + a.users[bulwark.RoleOwner].ID, body: `{"role":"admin"}`, cookie: owner})
	fresh := sessionFrom(t, w)
	if w.Code != 200 || fresh == "" || fresh == owner {
		t.Fatalf("own role change = %d, cookie %q; want a new session", w.Code, fresh)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: owner}); w.Code != 401 {
		t.Errorf("the old session after an own role change = %d, want 401", w.Code)
	}
	w = e.do(req{method: "GET", path: "/api/v1/me", cookie: fresh})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"role":"admin"`) {
		t.Errorf("the new session = %d %s, want the admin role", w.Code, w.Body)
	}
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	me := func(c string) int { return e.do(req{method: "GET", path: "/api/v1/me", cookie: c}).Code }

	idle := e.login(a.users[bulwark.RoleViewer].Email)
	e.clock.Advance(SessionIdle - time.Minute)
	if got := me(idle); got != 200 {
		t.Fatalf("before the idle expiry = %d", got)
	}
	e.clock.Advance(SessionIdle)
	if got := me(idle); got != 401 {
		t.Errorf("after %v idle = %d, want 401", SessionIdle, got)
	}

	busy := e.login(a.users[bulwark.RoleViewer].Email)
	step, elapsed := SessionIdle/2, time.Duration(0)
	for elapsed+step < SessionMax {
		e.clock.Advance(step)
		elapsed += step
		if got := me(busy); got != 200 {
			t.Fatalf("a busy session after %v = %d, want 200", elapsed, got)
		}
	}
	e.clock.Advance(SessionMax - elapsed)
	if got := me(busy); got != 401 {
		t.Errorf("a busy session past %v = %d, want 401", SessionMax, got)
	}
}

func TestLogoutAndLogoutEverywhere(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	email := a.users[bulwark.RoleMember].Email
	s1, s2, s3 := e.login(email), e.login(email), e.login(email)
	other := e.login(a.users[bulwark.RoleOwner].Email)
	if w := e.do(req{method: "POST", path: "/api/v1/logout", cookie: s1}); w.Code != 204 {
		t.Fatalf("logout = %d %s", w.Code, w.Body)
	}
	codes := func() [4]int {
		var c [4]int
		for i, s := range []string{s1, s2, s3, other} {
			c[i] = e.do(req{method: "GET", path: "/api/v1/me", cookie: s}).Code
		}
		return c
	}
	if got := codes(); got != [4]int{401, 200, 200, 200} {
		t.Errorf("after logout: %v, want only the first session ended", got)
	}
	if w := e.do(req{method: "POST", path: "/api/v1/logout-all", cookie: s2}); w.Code != 204 {
		t.Fatalf("logout-all = %d", w.Code)
	}
	if got := codes(); got != [4]int{401, 401, 401, 200} {
		t.Errorf("after logout-all: %v, want every session of the user ended, others kept", got)
	}
	if len(e.audited("auth.logout")) != 1 || len(e.audited("auth.logout_all")) != 1 || len(e.audited("auth.login")) != 4 {
		t.Error("logins and logouts are not all audited")
	}
}
