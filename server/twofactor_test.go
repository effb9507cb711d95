package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/totp"
)

// enrolled is a user whose second factor the test turned on.
type enrolled struct {
	secret   []byte
	recovery []string
	cookie   string // the session after confirmation
}

// enrol turns on the second factor of the user of cookie, as a browser
// would: begin, then confirm with the current code.
func (e *env) enrol(cookie string) enrolled {
	e.t.Helper()
	w := e.do(req{method: "POST", path: "/api/v1/me/totp", cookie: cookie, body: `{"password":"` + testPassword + `"}`})
	var begin beginTOTPResponse
	if w.Code != http.StatusCreated || json.Unmarshal(w.Body.Bytes(), &begin) != nil {
		e.t.Fatalf("POST /me/totp = %d %s", w.Code, w.Body)
	}
	secret, err := totp.DecodeSecret(begin.Secret)
	if err != nil || !strings.HasPrefix(begin.OTPAuthURL, "otpauth://totp/") || !strings.Contains(begin.OTPAuthURL, "secret="+begin.Secret) {
		e.t.Fatalf("POST /me/totp = %+v, %v", begin, err)
	}
	w = e.do(req{method: "POST", path: "/api/v1/me/totp/confirm", cookie: cookie, body: fmt.Sprintf(`{"code":%q}`, e.code(secret))})
	var conf confirmTOTPResponse
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &conf) != nil || len(conf.RecoveryCodes) != recoveryCodeCount {
		e.t.Fatalf("confirm = %d %s", w.Code, w.Body)
	}
	return enrolled{secret: secret, recovery: conf.RecoveryCodes, cookie: sessionFrom(e.t, w)}
}

// code is secret's code at the test clock's now.
func (e *env) code(secret []byte) string { return totp.Code(secret, totp.Step(e.clock.Now())) }

func loginCode(email, pw, code string) string {
	return fmt.Sprintf(`{"email":%q,"password":%q,"code":%q}`, email, pw, code)
}

// TestTwoFactorLogin: once the second factor is on, the password alone
// does not log in; a current code does, once; a recovery code does, once;
// a code works once on every node.
func TestTwoFactorLogin(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	email := a.users[bulwark.RoleMember].Email
	f := e.enrol(e.login(email))
	if len(e.audited("totp.enable")) != 1 || len(e.audited("totp.enrol_start")) != 1 {
		t.Error("enrolment not audited")
	}
	w := e.do(req{method: "GET", path: "/api/v1/me", cookie: f.cookie})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"two_factor":true`) {
		t.Errorf("GET /me after enrolment = %d %s, want two_factor true", w.Code, w.Body)
	}
	// No code: refused, with the code that asks for one.
	w = e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(email, testPassword)})
	if w.Code != 401 || errorOf(t, w).Code != codeSecondFactorRequired || sessionFrom(t, w) != "" {
		t.Fatalf("login without a code = %d %s, want 401 %s", w.Code, w.Body, codeSecondFactorRequired)
	}
	// A current code logs in, once. (The code that confirmed the factor
	// was this step's: the next step's is the first new one.)
	e.clock.Advance(totp.Period)
	code := e.code(f.secret)
	w = e.do(req{method: "POST", path: "/api/v1/login", body: loginCode(email, testPassword, code)})
	if w.Code != 200 || sessionFrom(t, w) == "" {
		t.Fatalf("login with a code = %d %s", w.Code, w.Body)
	}
	if recs := e.audited("auth.login"); len(recs) == 0 || recs[len(recs)-1].Details["second_factor"] != "totp" {
		t.Errorf("auth.login records %+v, want the last with second_factor totp", recs)
	}
	w = e.do(req{method: "POST", path: "/api/v1/login", body: loginCode(email, testPassword, code)})
	if w.Code != 401 || errorOf(t, w).Message != msgBadLoginCode {
		t.Errorf("the same code again = %d %s, want 401", w.Code, w.Body)
	}
	// ... on another node too, and with a code of the step before.
	e.clock.Advance(totp.Period)
	next := e.code(f.secret)
	other := e.otherNode(rateLimitOff)
	if w := other.do(req{method: "POST", path: "/api/v1/login", body: loginCode(email, testPassword, next)}); w.Code != 200 {
		t.Fatalf("login with the next code on node 2 = %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginCode(email, testPassword, next)}); w.Code != 401 {
		t.Errorf("node 2's code replayed on node 1 = %d %s, want 401", w.Code, w.Body)
	}
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginCode(email, testPassword, code)}); w.Code != 401 {
		t.Errorf("the previous step's code after a later one was used = %d, want 401", w.Code)
	}
	// A code two steps away is refused.
	e.clock.Advance(totp.Period)
	stale := totp.Code(f.secret, totp.Step(e.clock.Now())-2)
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginCode(email, testPassword, stale)}); w.Code != 401 {
		t.Errorf("a code of two steps ago = %d, want 401", w.Code)
	}
	// Recovery codes: each once, typed in any case and grouping.
	typed := strings.ToUpper(strings.ReplaceAll(f.recovery[0], "-", " "))
	for i, want := range []int{200, 401} {
		e.clock.Advance(accountPolicy.MaxDelay) // serve the slow-down the failures above earned
		w := e.do(req{method: "POST", path: "/api/v1/login", body: loginCode(email, testPassword, typed)})
		if w.Code != want {
			t.Errorf("recovery code, use %d = %d %s, want %d", i+1, w.Code, w.Body, want)
		}
	}
	e.clock.Advance(accountPolicy.MaxDelay)
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginCode(email, testPassword, f.recovery[1])}); w.Code != 200 {
		t.Errorf("another recovery code = %d, want 200", w.Code)
	}
	if recs := e.audited("auth.login"); recs[len(recs)-1].Details["second_factor"] != "recovery_code" {
		t.Errorf("a login by recovery code is audited as %+v", recs[len(recs)-1].Details)
	}
	// A wrong password with a right code is refused.
	e.clock.Advance(totp.Period)
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginCode(email, "wrong password!", e.code(f.secret))}); w.Code != 401 {
		t.Errorf("wrong password, right code = %d, want 401", w.Code)
	}
}

// TestTwoFactorMissingCodeSaysNothing: without a code, a user with a
// second factor gets the same answer with the right password as with a
// wrong one; and so do a user without one (wrong password) and an
// unknown email: whether the account exists, has a second factor, or the
// password was right is not told.
func TestTwoFactorMissingCodeSaysNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	email := a.users[bulwark.RoleMember].Email
	e.enrol(e.login(email))
	answers := map[string]*httpAnswer{}
	for name, body := range map[string]string{
		"2FA user, right password": loginBody(email, testPassword),
		"2FA user, wrong password": loginBody(email, "wrong password!"),
		"plain user, wrong":        loginBody(a.users[bulwark.RoleViewer].Email, "wrong password!"),
		"unknown email":            loginBody("nobody@a.test", "wrong password!"),
	} {
		w := e.do(req{method: "POST", path: "/api/v1/login", body: body})
		d := errorOf(t, w)
		d.RequestID = ""
		h := w.Header().Clone()
		h.Del("X-Request-Id")
		answers[name] = &httpAnswer{w.Code, d, fmt.Sprint(h)}
	}
	want := answers["2FA user, right password"]
	if want.code != 401 || want.err.Code != codeSecondFactorRequired {
		t.Fatalf("2FA user without a code = %+v", want)
	}
	for name, got := range answers {
		if *got != *want {
			t.Errorf("%s = %+v, want the same as the right password: %+v", name, got, want)
		}
	}
}

type httpAnswer struct {
	code   int
	err    errorDetail
	header string
}

// TestTwoFactorFailuresSlowDown: wrong codes with the right password are
// failed logins: after the free ones, even a right code must wait.
func TestTwoFactorFailuresSlowDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	email := a.users[bulwark.RoleMember].Email
	f := e.enrol(e.login(email))
	e.clock.Advance(totp.Period)
	for i := 0; i < accountPolicy.Free+1; i++ {
		if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginCode(email, testPassword, "000000")}); w.Code != 401 {
			t.Fatalf("wrong code %d = %d %s", i+1, w.Code, w.Body)
		}
	}
	w := e.do(req{method: "POST", path: "/api/v1/login", body: loginCode(email, testPassword, e.code(f.secret))})
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Fatalf("right code after %d wrong ones = %d %s, want 429", accountPolicy.Free+1, w.Code, w.Body)
	}
	var fails int
	for _, r := range e.audited("auth.login_failed") {
		if r.Details["reason"] == "bad_second_factor" {
			fails++
		}
	}
	if fails == 0 || e.counter(metrics.AuthFailed) != float64(accountPolicy.Free+2) {
		t.Errorf("%d auth.login_failed records with reason bad_second_factor, %v failures counted; want some, and %d", fails, e.counter(metrics.AuthFailed), accountPolicy.Free+2)
	}
	// Never locked: the wait served, the right code logs in.
	n, _ := time.ParseDuration(w.Header().Get("Retry-After") + "s")
	e.clock.Advance(n)
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginCode(email, testPassword, e.code(f.secret))}); w.Code != 200 {
		t.Errorf("after the wait = %d %s, want 200", w.Code, w.Body)
	}
}

// TestTwoFactorTurnOff: turning one's own second factor off needs a code
// (a stolen session alone cannot), and wrong codes slow down; then the
// password alone logs in again.
func TestTwoFactorTurnOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	email := a.users[bulwark.RoleMember].Email
	f := e.enrol(e.login(email))
	if w := e.do(req{method: "DELETE", path: "/api/v1/me/totp", cookie: f.cookie}); w.Code != 400 {
		t.Errorf("DELETE /me/totp without a code = %d %s, want 400", w.Code, w.Body)
	}
	w := e.do(req{method: "DELETE", path: "/api/v1/me/totp", cookie: f.cookie, body: `{"code":"000000"}`})
	if w.Code != 403 || errorOf(t, w).Code != "bad_second_factor" {
		t.Errorf("DELETE /me/totp with a wrong code = %d %s, want 403 bad_second_factor", w.Code, w.Body)
	}
	for range accountPolicy.Free {
		e.do(req{method: "DELETE", path: "/api/v1/me/totp", cookie: f.cookie, body: `{"code":"000001"}`})
	}
	if w := e.do(req{method: "DELETE", path: "/api/v1/me/totp", cookie: f.cookie, body: fmt.Sprintf(`{"code":%q}`, e.code(f.secret))}); w.Code != 429 {
		t.Errorf("DELETE /me/totp after wrong codes = %d, want 429", w.Code)
	}
	e.clock.Advance(accountPolicy.MaxDelay) // a new step too: the confirming code is used
	if w := e.do(req{method: "DELETE", path: "/api/v1/me/totp", cookie: f.cookie, body: fmt.Sprintf(`{"code":%q}`, e.code(f.secret))}); w.Code != 204 {
		t.Fatalf("DELETE /me/totp with the code = %d %s", w.Code, w.Body)
	}
	if len(e.audited("totp.disable")) != 1 {
		t.Error("turning the second factor off is not audited")
	}
	e.clock.Advance(accountPolicy.MaxDelay)
	e.login(email) // fails the test unless the password alone works
}

// TestTwoFactorEnrolment: the secret is shown by begin only, drawn as a
// QR code while pending; a wrong code does not confirm; a factor that is
// on cannot be begun again, and its QR code is gone.
func TestTwoFactorEnrolment(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	cookie := e.login(a.users[bulwark.RoleViewer].Email)
	if w := e.do(req{method: "POST", path: "/api/v1/me/totp/confirm", cookie: cookie, body: `{"code":"123456"}`}); w.Code != 409 {
		t.Errorf("confirm before begin = %d, want 409", w.Code)
	}
	for _, body := range []string{`{}`, `{"password":"not the password"}`} {
		if w := e.do(req{method: "POST", path: "/api/v1/me/totp", cookie: cookie, body: body}); w.Code != 400 && w.Code != 403 {
			t.Errorf("begin with %s = %d %s, want 400 or 403", body, w.Code, w.Body)
		}
	}
	if n := len(e.audited("totp.password_refused")); n != 1 {
		t.Errorf("%d totp.password_refused records, want 1", n)
	}
	w := e.do(req{method: "POST", path: "/api/v1/me/totp", cookie: cookie, body: `{"password":"` + testPassword + `"}`})
	var begin beginTOTPResponse
	json.Unmarshal(w.Body.Bytes(), &begin)
	secret, _ := totp.DecodeSecret(begin.Secret)
	w = e.do(req{method: "GET", path: "/api/v1/me/totp/qr", cookie: cookie})
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(w.Body.String(), "<svg ") ||
		strings.Contains(w.Body.String(), "<script") || !strings.Contains(w.Header().Get("Content-Security-Policy"), "default-src 'none'") {
		t.Errorf("GET /me/totp/qr = %d %s %q", w.Code, w.Header(), w.Body.String()[:min(80, w.Body.Len())])
	}
	wrong := totp.Code(secret, totp.Step(e.clock.Now())+5)
	if w := e.do(req{method: "POST", path: "/api/v1/me/totp/confirm", cookie: cookie, body: fmt.Sprintf(`{"code":%q}`, wrong)}); w.Code != 400 {
		t.Errorf("confirm with a wrong code = %d, want 400", w.Code)
	}
	// Pending: the password alone still logs in.
	e.login(a.users[bulwark.RoleViewer].Email)
	w = e.do(req{method: "POST", path: "/api/v1/me/totp/confirm", cookie: cookie, body: fmt.Sprintf(`{"code":%q}`, e.code(secret))})
	if w.Code != 200 {
		t.Fatalf("confirm = %d %s", w.Code, w.Body)
	}
	// The other sessions ended; the confirming one was renewed.
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: cookie}); w.Code != 401 {
		t.Errorf("the session from before the confirmation = %d, want 401 (renewed)", w.Code)
	}
	cookie = sessionFrom(t, w)
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: cookie}); w.Code != 200 {
		t.Errorf("the renewed session = %d, want 200", w.Code)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me/totp/qr", cookie: cookie}); w.Code != 404 {
		t.Errorf("QR code once on = %d, want 404", w.Code)
	}
	if w := e.do(req{method: "POST", path: "/api/v1/me/totp", cookie: cookie, body: `{"password":"` + testPassword + `"}`}); w.Code != 409 {
		t.Errorf("begin while on = %d, want 409", w.Code)
	}
	// The second factor routes are a browser's: an API key is refused.
	if w := e.do(req{method: "POST", path: "/api/v1/me/totp", key: a.keys[bulwark.RoleOwner], body: `{"password":"` + testPassword + `"}`}); w.Code != 401 {
		t.Errorf("POST /me/totp with a key = %d, want 401", w.Code)
	}
}

// TestTwoFactorAdminReset: an admin resets a user's second factor (the
// user's sessions end, audited), not an owner's, not their own, and not
// one of another tenant.
func TestTwoFactorAdminReset(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	member, owner, admin := a.users[bulwark.RoleMember], a.users[bulwark.RoleOwner], a.users[bulwark.RoleAdmin]
	fm := e.enrol(e.login(member.Email))
	e.enrol(e.login(owner.Email))
	adminSession := e.enrol(e.login(admin.Email)).cookie
	path := func(u bulwark.User) string { return "/api/v1/users/" + u.ID + "/totp" }
	// Another tenant's admin or owner: NotFound, by key or session.
	bOwner := e.login(b.users[bulwark.RoleOwner].Email)
	for _, r := range []req{{key: b.keys[bulwark.RoleOwner]}, {cookie: bOwner}} {
		r.method, r.path = "DELETE", path(member)
		if w := e.do(r); w.Code != 404 {
			t.Errorf("B's owner resetting A's member = %d %s, want 404", w.Code, w.Body)
		}
	}
	if w := e.do(req{method: "DELETE", path: path(owner), cookie: adminSession}); w.Code != 403 {
		t.Errorf("admin resetting the owner = %d, want 403", w.Code)
	}
	if w := e.do(req{method: "DELETE", path: path(admin), cookie: adminSession}); w.Code != 403 {
		t.Errorf("admin resetting their own = %d, want 403", w.Code)
	}
	if w := e.do(req{method: "DELETE", path: path(member), key: a.keys[bulwark.RoleMember]}); w.Code != 403 {
		t.Errorf("a member's key resetting = %d, want 403", w.Code)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: fm.cookie}); w.Code != 200 {
		t.Fatalf("the member's session = %d", w.Code)
	}
	if w := e.do(req{method: "DELETE", path: path(member), cookie: adminSession}); w.Code != 204 {
		t.Fatalf("admin resetting the member = %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: fm.cookie}); w.Code != 401 {
		t.Errorf("the member's session after the reset = %d, want 401", w.Code)
	}
	recs := e.audited("totp.reset")
	if len(recs) != 1 || recs[0].Target != member.ID || recs[0].Actor != "user:"+admin.ID || recs[0].TenantID != string(a.id) {
		t.Errorf("totp.reset records = %+v", recs)
	}
	e.login(member.Email) // the password alone logs in again
	if w := e.do(req{method: "DELETE", path: path(member), cookie: adminSession}); w.Code != 404 {
		t.Errorf("resetting a user with no second factor = %d, want 404", w.Code)
	}
	// The users list says who has one.
	w := e.do(req{method: "GET", path: "/api/v1/users", key: a.keys[bulwark.RoleAdmin]})
	var list usersResponse
	json.Unmarshal(w.Body.Bytes(), &list)
	for _, u := range list.Users {
		if want := u.ID == owner.ID || u.ID == admin.ID; u.TwoFactor != want {
			t.Errorf("GET /users: %s two_factor = %v, want %v", u.Email, u.TwoFactor, want)
		}
	}
}

// TestTwoFactorRequired: once the tenant requires a second factor, a user
// without one logs in to a session that may only enrol (and an existing
// session is held to it at once); enrolled, everything is open again.
// Saving settings without the field keeps the requirement.
func TestTwoFactorRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	member := a.users[bulwark.RoleMember]
	before := e.login(member.Email)
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: a.keys[bulwark.RoleAdmin], body: `{"require_two_factor":true}`}); w.Code != 200 {
		t.Fatalf("PUT settings = %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: a.keys[bulwark.RoleAdmin], body: `{"model":""}`}); w.Code != 200 ||
		!strings.Contains(w.Body.String(), `"require_two_factor":true`) {
		t.Errorf("PUT settings without the field = %d %s, want it kept", w.Code, w.Body)
	}
	if recs := e.audited("settings.update"); recs[0].Details["require_two_factor"] != "false -> true" {
		t.Errorf("settings.update details = %+v", recs[0].Details)
	}
	w := e.do(req{method: "GET", path: "/api/v1/skills", cookie: before})
	if w.Code != 403 || errorOf(t, w).Code != codeEnrolSecondFactor {
		t.Errorf("a session from before the requirement = %d %s, want 403 %s", w.Code, w.Body, codeEnrolSecondFactor)
	}
	w = e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(member.Email, testPassword)})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"enrol_second_factor":true`) {
		t.Fatalf("login of a user without a second factor = %d %s", w.Code, w.Body)
	}
	cookie := sessionFrom(t, w)
	if w := e.do(req{method: "GET", path: "/api/v1/me", cookie: cookie}); w.Code != 200 || !strings.Contains(w.Body.String(), `"enrol_second_factor":true`) {
		t.Errorf("GET /me while enrolment is due = %d %s", w.Code, w.Body)
	}
	for _, r := range []req{{method: "GET", path: "/api/v1/skills"}, {method: "POST", path: "/api/v1/tasks", body: `{"input":"x"}`}, {method: "GET", path: "/api/v1/settings"}} {
		r.cookie = cookie
		if w := e.do(r); w.Code != 403 {
			t.Errorf("%s %s while enrolment is due = %d, want 403", r.method, r.path, w.Code)
		}
	}
	// API keys are not sessions: not held to it.
	if w := e.do(req{method: "GET", path: "/api/v1/skills", key: a.keys[bulwark.RoleMember]}); w.Code != 200 {
		t.Errorf("a key of the tenant = %d, want 200", w.Code)
	}
	// Another tenant is not affected.
	if w := e.do(req{method: "GET", path: "/api/v1/skills", cookie: e.login(b.users[bulwark.RoleMember].Email)}); w.Code != 200 {
		t.Errorf("tenant B's session = %d, want 200", w.Code)
	}
	f := e.enrol(cookie)
	if w := e.do(req{method: "GET", path: "/api/v1/skills", cookie: f.cookie}); w.Code != 200 {
		t.Errorf("after enrolment = %d %s, want 200", w.Code, w.Body)
	}
}

// TestTwoFactorCodeOnceOnPostgres: on a PostgreSQL store shared by two
// nodes, a code accepted by one is refused by the other, and of two
// logins racing with the same code on the two nodes, one succeeds.
func TestTwoFactorCodeOnceOnPostgres(t *testing.T) {
	t.Parallel()
	e := newEnvOn(t, openPostgres(t), rateLimitOff)
	other := e.otherNode(rateLimitOff)
	a := e.tenant("a")
	email := a.users[bulwark.RoleMember].Email
	f := e.enrol(e.login(email))
	e.clock.Advance(totp.Period)
	body := loginCode(email, testPassword, e.code(f.secret))
	codes := make(chan int, 2)
	for _, node := range []*env{e, other} {
		go func() { codes <- node.do(req{method: "POST", path: "/api/v1/login", body: body}).Code }()
	}
	got := []int{<-codes, <-codes}
	if !(got[0] == 200 && got[1] == 401 || got[0] == 401 && got[1] == 200) {
		t.Errorf("one code on two nodes at once = %v, want one 200 and one 401", got)
	}
	if w := other.do(req{method: "POST", path: "/api/v1/login", body: body}); w.Code != 401 {
		t.Errorf("the code again = %d, want 401", w.Code)
	}
}
