package server

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

const otherPassword = "another-tenant's-Pass 93"

// sharedEmailEnv is tenants a (the victim) and b (the attacker's own),
// each with a user of the same email, with different passwords.
func sharedEmailEnv(t *testing.T) (*env, string) {
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	const email = "shared@victim.test"
	e.user(a.id, email, bulwark.RoleOwner)
	h, err := HashPassword(otherPassword, fastParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateUser(context.Background(), b.id, bulwark.User{Email: email, Role: bulwark.RoleOwner}, h); err != nil {
		t.Fatal(err)
	}
	return e, email
}

func loginAs(e *env, email, pw, tenant string, n int, device string) (int, string) {
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, email, pw)
	if tenant != "" {
		body = fmt.Sprintf(`{"email":%q,"password":%q,"tenant":%q}`, email, pw, tenant)
	}
	rq := req{method: "POST", path: "/api/v1/login", body: body, remote: fmt.Sprintf("198.51.100.%d:1", n%250+1)}
	if device != "" {
		rq.header = map[string]string{"Cookie": deviceCookie + "=" + device, "Sec-Fetch-Site": "same-origin"}
	}
	w := e.do(rq)
	if c := deviceFrom(e.t.(*testing.T), w); c != nil {
		device = c.Value
	}
	return w.Code, device
}

// TestDeviceCookieOfAnotherTenantsUser: the device cookie of the
// attacker's own user (in its own tenant, with the victim's email) buys
// no guesses at the victim: a login without a tenant that may reach the
// victim's user is slowed by the account's failures, and the attacker's
// own successes do not wipe them.
func TestDeviceCookieOfAnotherTenantsUser(t *testing.T) {
	t.Parallel()
	e, email := sharedEmailEnv(t)
	code, dev := loginAs(e, email, otherPassword, "b", 0, "")
	if code != http.StatusOK || dev == "" {
		t.Fatalf("the attacker's own login = %d, device %q", code, dev)
	}
	tried := 0
	for i := range 5 {
		for j := range 2 {
			code, _ := loginAs(e, email, fmt.Sprintf("guess number %d-%d!", i, j), "", 10*i+j+1, dev)
			if code == http.StatusUnauthorized {
				tried++
			}
		}
		_, dev = loginAs(e, email, otherPassword, "", 10*i+9, dev)
	}
	if tried > accountPolicy.Free+1 {
		t.Errorf("%d guesses at the victim's email were tried with the attacker's device cookie, want at most %d", tried, accountPolicy.Free+1)
	}
}

// TestLoginSuccessInAnotherTenantKeepsFailures: a success of the
// attacker's own user with the victim's email (naming its own tenant)
// does not forget the failures of the guesses at the victim.
func TestLoginSuccessInAnotherTenantKeepsFailures(t *testing.T) {
	t.Parallel()
	e, email := sharedEmailEnv(t)
	for i := range accountPolicy.Free + 1 {
		loginAs(e, email, "wrong guess at a!", "a", i, "")
	}
	e.clock.Advance(time.Minute)
	if code, _ := loginAs(e, email, otherPassword, "b", 50, ""); code != http.StatusOK {
		t.Fatalf("the attacker's own login = %d", code)
	}
	loginAs(e, email, "wrong guess at a!", "a", 60, "")
	if code, _ := loginAs(e, email, "wrong guess at a!", "a", 61, ""); code != http.StatusTooManyRequests {
		t.Errorf("a guess at a's user right after the attacker's success in b = %d, want 429: the success wiped the failures", code)
	}
}

// TestLoginFailuresLookAlike: every failed login answers the same status,
// headers and body (but the request id): an unknown email, a wrong
// password, an email in two tenants (wrong, or right in both and so
// ambiguous), an unknown tenant named, a tenant named without the email.
func TestLoginFailuresLookAlike(t *testing.T) {
	t.Parallel()
	e, email := sharedEmailEnv(t)
	e.user(e.tenantID(t, "b"), "both@x.test", bulwark.RoleViewer)
	e.user(e.tenantID(t, "a"), "both@x.test", bulwark.RoleViewer) // testPassword in both
	bodies := map[string]string{
		"unknown email":           loginBody("nobody@victim.test", "wrong password!"),
		"wrong password":          loginBody(email, "wrong password!"),
		"same password in both":   loginBody("both@x.test", testPassword),
		"unknown tenant":          `{"email":"` + email + `","password":"wrong password!","tenant":"zz"}`,
		"tenant without the user": `{"email":"nobody@victim.test","password":"wrong password!","tenant":"a"}`,
		"right tenant, wrong pw":  `{"email":"` + email + `","password":"wrong password!","tenant":"a"}`,
	}
	var first *httptestRecorderView
	for name, body := range bodies {
		w := e.do(req{method: "POST", path: "/api/v1/login", body: body, remote: "203.0.113." + strconv.Itoa(len(name)) + ":1"})
		d := errorOf(t, w)
		d.RequestID = ""
		h := w.Header().Clone()
		h.Del("X-Request-Id")
		v := &httptestRecorderView{name, w.Code, d, h}
		if first == nil {
			first = v
			continue
		}
		if v.code != first.code || v.err != first.err || !reflect.DeepEqual(v.header, first.header) {
			t.Errorf("%s = %d %+v %v; %s = %d %+v %v: want the same", name, v.code, v.err, v.header, first.name, first.code, first.err, first.header)
		}
	}
	if first.code != http.StatusUnauthorized {
		t.Errorf("a failed login = %d, want 401", first.code)
	}
}

type httptestRecorderView struct {
	name   string
	code   int
	err    errorDetail
	header http.Header
}

func (e *env) tenantID(t *testing.T, name string) bulwark.TenantID {
	tn, err := e.db.TenantByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return tn.ID
}

// TestTenantlessLoginTakesConstantWork: a login without a tenant does, or
// waits out, the work of maxLoginTenants hashes whether the email has a
// user in no tenant, one or two, so that its time does not tell how many
// tenants have the address (a tenant's admin who adds the address to its
// own tenant could otherwise time its own logins).
func TestTenantlessLoginTakesConstantWork(t *testing.T) {
	t.Parallel()
	e, email := sharedEmailEnv(t) // email: in tenants a and b
	e.user(e.tenantID(t, "a"), "one@x.test", bulwark.RoleViewer)
	var padded int
	e.srv.loginPad = func(_ context.Context, units int, per time.Duration) {
		if per <= 0 {
			t.Errorf("padding of %d hashes at %v each", units, per)
		}
		padded += units
	}
	for _, c := range []struct {
		name, email, pw string
		holders         int
	}{
		{"an unknown email", "nobody@x.test", "wrong password!", 0},
		{"an email of one tenant", "one@x.test", "wrong password!", 1},
		{"an email of two tenants, wrong password", email, "wrong password!", 2},
		{"an email of two tenants, logging in", email, otherPassword, 2},
	} {
		padded = 0
		loginAs(e, c.email, c.pw, "", c.holders+7, "")
		if hashed := max(c.holders, 1); hashed+padded != maxLoginTenants {
			t.Errorf("%s: %d hashes and %d waited out, want %d in all", c.name, hashed, padded, maxLoginTenants)
		}
	}
}

// TestTenantlessSuccessCountsAsGuess: with the victim's email in its own
// tenant, an attacker's login without a tenant tries each guess against
// the victim's user too; a wrong guess logs the attacker in to its own
// user, and still counts as a guess at the account: such logins are slowed
// like failures.
func TestTenantlessSuccessCountsAsGuess(t *testing.T) {
	t.Parallel()
	e, email := sharedEmailEnv(t)
	ok := 0
	for i := range 10 {
		if code, _ := loginAs(e, email, otherPassword, "", i+1, ""); code == http.StatusOK {
			ok++
		}
	}
	if ok > accountPolicy.Free+1 {
		t.Errorf("%d logins without a tenant that also tried the victim's user went through at once, want at most %d", ok, accountPolicy.Free+1)
	}
	// Naming its tenant, a person in several tenants is not slowed by it.
	e.clock.Advance(time.Hour)
	for i := range 5 {
		if code, _ := loginAs(e, email, otherPassword, "b", 100+i, ""); code != http.StatusOK {
			t.Fatalf("login %d naming the tenant = %d, want 200", i, code)
		}
	}
}
