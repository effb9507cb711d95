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
// victim's user checks it only while its own failures allow, and the
// attacker's own successes do not wipe them.
func TestDeviceCookieOfAnotherTenantsUser(t *testing.T) {
	t.Parallel()
	e, email := sharedEmailEnv(t)
	victim := countChecks(e, "a", email)
	code, dev := loginAs(e, email, otherPassword, "b", 0, "")
	if code != http.StatusOK || dev == "" {
		t.Fatalf("the attacker's own login = %d, device %q", code, dev)
	}
	for i := range 5 {
		for j := range 2 {
			loginAs(e, email, fmt.Sprintf("guess number %d-%d!", i, j), "", 10*i+j+1, dev)
		}
		_, dev = loginAs(e, email, otherPassword, "", 10*i+9, dev)
	}
	if n := victim.Load(); n > int32(accountPolicy.Free+1) {
		t.Errorf("%d guesses at the victim's user were checked with the attacker's device cookie, want at most %d", n, accountPolicy.Free+1)
	}
}

// TestLoginSuccessInAnotherTenantKeepsFailures: a success of the
// attacker's own user with the victim's email (naming its own tenant)
// does not forget the failures of the guesses at the victim: the right
// password is not even checked until the victim's wait is served.
func TestLoginSuccessInAnotherTenantKeepsFailures(t *testing.T) {
	t.Parallel()
	e, email := sharedEmailEnv(t)
	for i := range accountPolicy.Free + 1 {
		loginAs(e, email, "wrong guess at a!", "a", i, "")
	}
	if code, _ := loginAs(e, email, otherPassword, "b", 50, ""); code != http.StatusTooManyRequests {
		t.Fatalf("the attacker's own login right after guesses at the email = %d, want 429 (the email's wait)", code)
	}
	e.clock.Advance(accountPolicy.Base)
	if code, _ := loginAs(e, email, otherPassword, "b", 51, ""); code != http.StatusOK {
		t.Fatalf("the attacker's own login = %d", code)
	}
	victim := countChecks(e, "a", email)
	loginAs(e, email, "wrong guess at a!", "a", 60, "")
	if code, _ := loginAs(e, email, testPassword, "a", 61, ""); code == http.StatusOK || victim.Load() != 1 {
		t.Errorf("guesses at a's user right after the attacker's success in b: %d checked, the right one = %d; want 1 checked (the wait served) and no login: the success wiped the failures", victim.Load(), code)
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
	var padded []int
	e.srv.loginPad = func(_ context.Context, units int, per time.Duration) {
		if per <= 0 {
			t.Errorf("padding of %d units at %v each", units, per)
		}
		padded = append(padded, units)
	}
	for _, c := range []struct {
		name, email, pw string
		holders         int
		charged         int // user keys whose failures are counted
	}{
		{"an unknown email", "nobody@x.test", "wrong password!", 0, 1}, // a key of the email typed
		{"an email of one tenant", "one@x.test", "wrong password!", 1, 1},
		{"an email of two tenants, wrong password", email, "wrong password!", 2, 2},
		{"an email of two tenants, logging in", email, otherPassword, 2, 1},
	} {
		padded = nil
		loginAs(e, c.email, c.pw, "", c.holders+7, "")
		// The hashes, then the failures counted at users' keys.
		want := []int{maxLoginTenants - max(c.holders, 1), maxLoginTenants - c.charged}
		if !reflect.DeepEqual(padded, want) {
			t.Errorf("%s: waited out %v units, want %v (of %d in all, each)", c.name, padded, want, maxLoginTenants)
		}
	}
}

// TestTenantlessSuccessCountsAsGuess: with the victim's email in its own
// tenant, an attacker's login without a tenant tries each guess against
// the victim's user too; a wrong guess logs the attacker in to its own
// user, and still counts as a guess at the victim's: after the free ones,
// the victim's user is not checked (so not even its right password logs
// in), while the attacker's logins go on as if it did not exist.
func TestTenantlessSuccessCountsAsGuess(t *testing.T) {
	t.Parallel()
	e, email := sharedEmailEnv(t)
	victim := countChecks(e, "a", email)
	for i := range 10 {
		if code, _ := loginAs(e, email, otherPassword, "", i+1, ""); code != http.StatusOK {
			t.Fatalf("the attacker's own login %d without a tenant = %d, want 200: its answers must not tell that the victim exists", i, code)
		}
	}
	if n := victim.Load(); n != int32(accountPolicy.Free+1) {
		t.Errorf("%d of the attacker's logins without a tenant were checked against the victim's user, want %d", n, accountPolicy.Free+1)
	}
	if code, _ := loginAs(e, email, testPassword, "", 20, ""); code == http.StatusOK {
		t.Errorf("the victim's right password after the guesses = %d, want it held back", code)
	}
	// Naming its tenant, a person in several tenants is not slowed by it.
	for i := range 5 {
		if code, _ := loginAs(e, email, otherPassword, "b", 100+i, ""); code != http.StatusOK {
			t.Fatalf("login %d naming the tenant = %d, want 200", i, code)
		}
	}
	// The victim's wait served, its right password logs in.
	e.clock.Advance(time.Hour)
	if code, _ := loginAs(e, email, testPassword, "", 30, ""); code != http.StatusOK {
		t.Errorf("the victim's right password after its wait = %d, want 200", code)
	}
}
