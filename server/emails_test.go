package server

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestEmailIsolation: a tenant admin adding an address that another
// tenant has gets the same answer as for a fresh address; both users then
// log in to their own tenants by naming them; without a tenant, an
// address in two tenants gets the same answer as a wrong password.
func TestEmailIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	e.user(b.id, "shared@example.com", bulwark.RoleMember) // B's user, with testPassword
	const pwA = "an entirely different passphrase"
	create := func(email string) (int, string) {
		w := e.do(req{method: "POST", path: "/api/v1/users", key: a.keys[bulwark.RoleAdmin],
			body: `{"email":"` + email + `","password":"` + pwA + `","role":"member"}`})
		// The answer, with what must differ (ids, times, the email) blanked.
		shape := regexp.MustCompile(`"(id|created|updated|email)":"[^"]*"`).ReplaceAllString(w.Body.String(), `"$1":""`)
		return w.Code, shape
	}
	codeTaken, taken := create("shared@example.com")
	codeFresh, fresh := create("fresh@example.com")
	if codeTaken != http.StatusCreated || codeTaken != codeFresh || taken != fresh {
		t.Errorf("creating an address tenant b has = %d %s; a fresh one = %d %s; want the same 201", codeTaken, taken, codeFresh, fresh)
	}
	for _, c := range []struct{ tenant, pw, wantTenant string }{{"a", pwA, string(a.id)}, {"b", testPassword, string(b.id)}} {
		w := e.do(req{method: "POST", path: "/api/v1/login", body: `{"email":"shared@example.com","password":"` + c.pw + `","tenant":"` + c.tenant + `"}`})
		if w.Code != 200 {
			t.Errorf("login to tenant %s = %d %s, want 200", c.tenant, w.Code, w.Body)
			continue
		}
		if me := decode[meResponse](t, w); string(me.Tenant) != c.wantTenant {
			t.Errorf("login to tenant %s landed in %s", c.tenant, me.Tenant)
		}
		// The other tenant's password does not open this tenant.
		other := testPassword
		if c.pw == testPassword {
			other = pwA
		}
		if w := e.do(req{method: "POST", path: "/api/v1/login", body: `{"email":"shared@example.com","password":"` + other + `","tenant":"` + c.tenant + `"}`}); w.Code != 401 {
			t.Errorf("tenant %s with the other tenant's password = %d, want 401", c.tenant, w.Code)
		}
	}
	// Without a tenant, each password opens its own tenant's account: a
	// tenant's admin who adds an address and logs in with it without
	// naming the tenant cannot tell whether another tenant has it. (Such a
	// login also tries the other tenant's user, and counts as a guess at
	// the address: the failures above are left behind first.)
	e.clock.Advance(failureWindow)
	for _, c := range []struct{ pw, wantTenant string }{{pwA, string(a.id)}, {testPassword, string(b.id)}} {
		w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("shared@example.com", c.pw), remote: "198.51.100.2:1"})
		if w.Code != 200 {
			t.Errorf("no tenant, address in two tenants, password of %s = %d %s, want 200", c.wantTenant, w.Code, w.Body)
			continue
		}
		if me := decode[meResponse](t, w); string(me.Tenant) != c.wantTenant {
			t.Errorf("no tenant, password of %s landed in %s", c.wantTenant, me.Tenant)
		}
	}
	wrong := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("fresh@example.com", "wrong password!"), remote: "198.51.100.1:1"})
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("shared@example.com", "wrong password!"), remote: "198.51.100.5:1"}); w.Code != wrong.Code || errorOf(t, w).Message != errorOf(t, wrong).Message {
		t.Errorf("no tenant, address in two tenants, wrong password = %d %q; in one tenant = %d %q; want the same", w.Code, errorOf(t, w).Message, wrong.Code, errorOf(t, wrong).Message)
	}
	// The same password in both tenants: the tenant must be named.
	e.user(a.id, "twice@example.com", bulwark.RoleMember)
	e.user(b.id, "twice@example.com", bulwark.RoleMember)
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("twice@example.com", testPassword), remote: "198.51.100.6:1"}); w.Code != wrong.Code || errorOf(t, w).Message != errorOf(t, wrong).Message {
		t.Errorf("no tenant, one password for two tenants = %d %q, want %d %q", w.Code, errorOf(t, w).Message, wrong.Code, errorOf(t, wrong).Message)
	}
	// An address only one tenant has needs no tenant.
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("fresh@example.com", pwA), remote: "198.51.100.3:1"}); w.Code != 200 {
		t.Errorf("login without a tenant, address in one tenant = %d, want 200", w.Code)
	}
	// An unknown tenant is a wrong login, not a hint.
	w := e.do(req{method: "POST", path: "/api/v1/login", body: `{"email":"fresh@example.com","password":"` + pwA + `","tenant":"nope"}`, remote: "198.51.100.4:1"})
	if w.Code != 401 || errorOf(t, w).Message != errorOf(t, wrong).Message {
		t.Errorf("an unknown tenant = %d %q, want 401 %q", w.Code, errorOf(t, w).Message, errorOf(t, wrong).Message)
	}
}

// TestEmailNoCrossTenantLoginOracle: a tenant's admin adds an address with
// a password of its choosing and logs in with it without naming the
// tenant. The answer must not depend on whether another tenant has the
// address (it once failed when one did, and so told the admin).
func TestEmailNoCrossTenantLoginOracle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	e.user(b.id, "victim@example.com", bulwark.RoleOwner)
	const pw = "my own chosen passphrase here"
	probe := func(email, remote string) int {
		w := e.do(req{method: "POST", path: "/api/v1/users", key: a.keys[bulwark.RoleAdmin],
			body: `{"email":"` + email + `","password":"` + pw + `"}`})
		if w.Code != http.StatusCreated {
			t.Fatalf("create %s = %d %s", email, w.Code, w.Body)
		}
		return e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(email, pw), remote: remote}).Code
	}
	taken, fresh := probe("victim@example.com", "198.51.100.7:1"), probe("nobody-else@example.com", "198.51.100.8:1")
	if taken != fresh {
		t.Errorf("login without a tenant: an address tenant b has = %d, a fresh one = %d; want the same", taken, fresh)
	}
}
