package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
	"golang.org/x/crypto/bcrypt"
)

func TestAPIKeyAuthentication(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	ctx := context.Background()
	good := a.keys[bulwark.RoleOwner]
	expiring, _, err := IssueKey(ctx, e.db, a.id, KeySpec{Name: "short", Role: bulwark.RoleViewer, Expires: e.clock.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	revoked := a.keys[bulwark.RoleMember]
	if w := e.do(req{method: "DELETE", path: "/api/v1/keys/" + a.keyIDs[bulwark.RoleMember], key: good}); w.Code != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", w.Code, w.Body)
	}
	e.clock.Advance(2 * time.Hour)
	flip := good[:len(good)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(good, "A")]
	cases := []struct {
		name, auth string
		want       int
	}{
		{"good", "Bearer " + good, 200},
		{"lower-case scheme", "bearer " + good, 200},
		{"one character changed", "Bearer " + flip, 401},
		{"revoked", "Bearer " + revoked, 401},
		{"expired", "Bearer " + expiring, 401},
		{"malformed", "Bearer bwk_short", 401},
		{"not bwk", "Bearer " + strings.Replace(good, "bwk_", "xyz_", 1), 401},
		{"basic", "Basic dXNlcjpwYXNz", 401},
		{"empty", "Bearer ", 401},
	}
	for _, c := range cases {
		before := e.counter(metrics.AuthFailed)
		w := e.do(req{method: "GET", path: "/api/v1/me", header: map[string]string{"Authorization": c.auth}})
		if w.Code != c.want {
			t.Errorf("%s: GET /api/v1/me = %d %s, want %d", c.name, w.Code, w.Body, c.want)
			continue
		}
		if c.want == 401 {
			if msg := errorOf(t, w).Message; msg != "the API key is not valid" {
				t.Errorf("%s: message %q, want the one message for every bad key", c.name, msg)
			}
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s: no WWW-Authenticate", c.name)
			}
			if e.counter(metrics.AuthFailed) != before+1 {
				t.Errorf("%s: auth_failed not counted", c.name)
			}
		}
	}
	if len(e.audited("auth.failed")) == 0 {
		t.Error("no auth.failed audit record")
	}
}

// TestSidesApart: the API side reads no cookies, the browser side takes
// no bearer keys.
func TestSidesApart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	aSession := e.login(a.users[bulwark.RoleOwner].Email)
	login := `{"email":"owner@a.test","password":"` + testPassword + `"}`
	cases := []struct {
		name string
		rq   req
		want int
	}{
		{"bearer on login", req{method: "POST", path: "/api/v1/login", body: login, key: a.keys[bulwark.RoleOwner]}, 401},
		{"bearer on logout", req{method: "POST", path: "/api/v1/logout", key: a.keys[bulwark.RoleOwner]}, 401},
		{"bearer and cookie on logout", req{method: "POST", path: "/api/v1/logout", key: a.keys[bulwark.RoleOwner], cookie: aSession}, 401},
		{"cookie on an API-only route", req{method: "GET", path: "/api/v1/tenants", cookie: aSession}, 401},
		{"bad bearer does not fall back to the cookie", req{method: "GET", path: "/api/v1/me", key: "bwk_nope", cookie: aSession}, 401},
	}
	for _, c := range cases {
		if w := e.do(c.rq); w.Code != c.want {
			t.Errorf("%s = %d %s, want %d", c.name, w.Code, w.Body, c.want)
		}
	}
	// With B's key and A's cookie, the request is B's: the cookie is not read.
	w := e.do(req{method: "GET", path: "/api/v1/me", key: b.keys[bulwark.RoleViewer], cookie: aSession})
	var me meResponse
	json.Unmarshal(w.Body.Bytes(), &me)
	if w.Code != 200 || me.Tenant != b.id || me.User != nil {
		t.Errorf("GET /me with B's key and A's cookie = %d %s, want B's key", w.Code, w.Body)
	}
	// The session still works on its own.
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: aSession}); w.Code != 200 {
		t.Errorf("GET /me with A's cookie = %d", w.Code)
	}
}

func TestKeyScopesAndRoles(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	ctx := context.Background()
	scoped, _, err := IssueKey(ctx, e.db, a.id, KeySpec{Name: "secrets only", Role: bulwark.RoleAdmin, Scopes: []string{"secrets"}})
	if err != nil {
		t.Fatal(err)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/secrets", key: scoped}); w.Code != 200 {
		t.Errorf("scoped key on its scope = %d", w.Code)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/keys", key: scoped}); w.Code != 403 {
		t.Errorf("scoped key off its scope = %d, want 403", w.Code)
	}
	admin := a.keys[bulwark.RoleAdmin]
	cases := []struct {
		body string
		want int
	}{
		{`{"name":"x","role":"owner"}`, 403},
		{`{"name":"x","role":"admin","scopes":["tasks"]}`, 201},
		{`{"name":"x","scopes":["nope"]}`, 400},
		{`{"name":"","role":"viewer"}`, 400},
		{`{"name":"x","expires_in":"-1h"}`, 400},
		{`{"name":"x","expires_in":"24h"}`, 201},
		{`{"name":"x","extra":1}`, 400},
	}
	for _, c := range cases {
		if w := e.do(req{method: "POST", path: "/api/v1/keys", body: c.body, key: admin}); w.Code != c.want {
			t.Errorf("POST /keys %s as admin = %d %s, want %d", c.body, w.Code, w.Body, c.want)
		}
	}
	// The new key is shown once: listing shows no token.
	w := e.do(req{method: "GET", path: "/api/v1/keys", key: admin})
	if strings.Contains(w.Body.String(), "bwk_") && strings.Contains(w.Body.String(), `"token"`) {
		t.Errorf("GET /keys shows a key: %s", w.Body)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", w.Header().Get("Cache-Control"))
	}
}

func TestKeyLastUseAtMostOnceAMinute(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	key := a.keys[bulwark.RoleViewer]
	lastUsed := func() time.Time {
		ks, err := e.db.ListAPIKeys(context.Background(), a.id)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range ks {
			if k.ID == a.keyIDs[bulwark.RoleViewer] {
				return k.LastUsed
			}
		}
		t.Fatal("the key is gone")
		return time.Time{}
	}
	e.do(req{method: "GET", path: "/api/v1/me", key: key})
	first := lastUsed()
	if !first.Equal(e.clock.Now()) {
		t.Fatalf("last use %v, want %v", first, e.clock.Now())
	}
	e.clock.Advance(30 * time.Second)
	e.do(req{method: "GET", path: "/api/v1/me", key: key})
	if got := lastUsed(); !got.Equal(first) {
		t.Errorf("last use written again within a minute: %v", got)
	}
	e.clock.Advance(31 * time.Second)
	e.do(req{method: "GET", path: "/api/v1/me", key: key})
	if got := lastUsed(); !got.Equal(e.clock.Now()) {
		t.Errorf("last use after a minute = %v, want %v", got, e.clock.Now())
	}
}

func TestUserRoleGrants(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	admin, owner := a.keys[bulwark.RoleAdmin], a.keys[bulwark.RoleOwner]
	pw := `"password":"` + testPassword + `"`
	cases := []struct {
		name, key, method, path, body string
		want                          int
	}{
		{"admin makes an owner", admin, "POST", "/api/v1/users", `{"email":"o2@a.test","role":"owner",` + pw + `}`, 403},
		{"admin makes a member", admin, "POST", "/api/v1/users", `{"email":"m2@a.test",` + pw + `}`, 201},
		{"short password", admin, "POST", "/api/v1/users", `{"email":"m3@a.test","password":"short"}`, 400},
		{"bad email", admin, "POST", "/api/v1/users", `{"email":"nope",` + pw + `}`, 400},
		{"email taken", admin, "POST", "/api/v1/users", `{"email":"OWNER@a.test",` + pw + `}`, 409},
		{"admin demotes the owner", admin, "PATCH", "/api/v1/users/" + a.users[bulwark.RoleOwner].ID, `{"role":"viewer"}`, 403},
		{"admin promotes to owner", admin, "PATCH", "/api/v1/users/" + a.users[bulwark.RoleMember].ID, `{"role":"owner"}`, 403},
		{"unknown role", owner, "PATCH", "/api/v1/users/" + a.users[bulwark.RoleMember].ID, `{"role":"root"}`, 400},
		{"the last owner", owner, "PATCH", "/api/v1/users/" + a.users[bulwark.RoleOwner].ID, `{"role":"admin"}`, 409},
		{"no such user", owner, "PATCH", "/api/v1/users/u_0000", `{"role":"admin"}`, 404},
		{"owner promotes", owner, "PATCH", "/api/v1/users/" + a.users[bulwark.RoleMember].ID, `{"role":"owner"}`, 200},
		{"now not the last owner", owner, "PATCH", "/api/v1/users/" + a.users[bulwark.RoleOwner].ID, `{"role":"admin"}`, 200},
	}
	for _, c := range cases {
		if w := e.do(req{method: c.method, path: c.path, body: c.body, key: c.key}); w.Code != c.want {
			t.Errorf("%s: %s %s = %d %s, want %d", c.name, c.method, c.path, w.Code, w.Body, c.want)
		}
	}
	if len(e.audited("user.role_change")) != 2 || len(e.audited("user.create")) != 1 {
		t.Errorf("audited %d role changes and %d creations, want 2 and 1", len(e.audited("user.role_change")), len(e.audited("user.create")))
	}
}

func TestPasswordHashes(t *testing.T) {
	t.Parallel()
	h, err := HashPassword(testPassword, DefaultPasswordParams)
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("HashPassword = %q, %v; want argon2id with OWASP's costs", h, err)
	}
	h2, _ := HashPassword(testPassword, DefaultPasswordParams)
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	if ok, rehash, err := VerifyPassword(h, testPassword, DefaultPasswordParams); !ok || rehash || err != nil {
		t.Errorf("VerifyPassword(right) = %v, %v, %v", ok, rehash, err)
	}
	if ok, _, _ := VerifyPassword(h, testPassword+"x", DefaultPasswordParams); ok {
		t.Error("VerifyPassword(wrong) = true")
	}
	weak, _ := HashPassword(testPassword, fastParams)
	if ok, rehash, _ := VerifyPassword(weak, testPassword, DefaultPasswordParams); !ok || !rehash {
		t.Errorf("a weaker argon2id hash: ok %v rehash %v, want both", ok, rehash)
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if ok, _, err := VerifyPassword(bad, "x", DefaultPasswordParams); ok || err == nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

// TestBcryptImportRehashed: an imported bcrypt hash logs in, and is
// replaced by argon2id at once.
func TestBcryptImportRehashed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	tn, _ := e.db.CreateTenant(context.Background(), "a")
	bh, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		email := strings.Trim(prefix, "$") + "@a.test"
		hash := prefix + string(bh[4:])
		if _, err := e.db.CreateUser(context.Background(), tn.ID, bulwark.User{Email: email, Role: bulwark.RoleMember}, hash); err != nil {
			t.Fatal(err)
		}
		e.login(email)
		_, stored, _ := e.db.UserByEmail(context.Background(), email)
		if !strings.HasPrefix(stored, "$argon2id$") {
			t.Errorf("%s hash after login = %q, want argon2id", prefix, stored)
		}
		e.login(email)
	}
}
