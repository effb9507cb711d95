package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/totp"
)

// A stolen session may ask for its user's password (POST /me/totp) or a
// second-factor code (DELETE /me/totp). Those guesses are counted on the
// user, as a login's are: one good login by an attacker's own user with
// the victim's email, in another tenant, must not wipe them, and
// guesses sent all at once get no more checks than one after the other.

// guessRounds makes rounds of guesses through the victim's session, each
// followed by the attacker's good login as its own user of the same
// email (tenant b), and returns how many guesses were checked (403)
// before one was made to wait (429).
func guessRounds(t *testing.T, e *env, guess func(i int) *httptest.ResponseRecorder, email string) int {
	t.Helper()
	checked := 0
	for round := range 4 {
		for i := range accountPolicy.Free {
			w := guess(round*10 + i)
			switch w.Code {
			case http.StatusForbidden:
				checked++
			case http.StatusTooManyRequests:
				return checked
			default:
				t.Fatalf("guess %d of round %d = %d %s", i, round, w.Code, w.Body)
			}
		}
		w := e.do(req{method: "POST", path: "/api/v1/login", body: fmt.Sprintf(`{"email":%q,"password":%q,"tenant":"b"}`, email, testPassword),
			remote: "198.51.100." + strconv.Itoa(round+1) + ":1"})
		if w.Code != http.StatusOK && w.Code != http.StatusTooManyRequests {
			t.Fatalf("the attacker's own login, round %d = %d %s", round, w.Code, w.Body)
		}
	}
	return checked
}

func TestStolenSessionGuessesNotWipedByAnotherTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	email := a.users[bulwark.RoleMember].Email
	victim := e.login(email) // before the attacker's user exists: a login without a tenant finds one user
	f := e.enrol(e.login(a.users[bulwark.RoleAdmin].Email))
	e.user(b.id, email, bulwark.RoleMember)
	e.user(b.id, a.users[bulwark.RoleAdmin].Email, bulwark.RoleMember)
	e.clock.Advance(totp.Period) // the confirming code is used

	passwords := guessRounds(t, e, func(i int) *httptest.ResponseRecorder {
		return e.do(req{method: "POST", path: "/api/v1/me/totp", cookie: victim, body: fmt.Sprintf(`{"password":"wrong guess %d!"}`, i)})
	}, email)
	if passwords > accountPolicy.Free+1 {
		t.Errorf("a stolen session had %d wrong passwords checked, its count wiped by another tenant's user's logins; want at most %d", passwords, accountPolicy.Free+1)
	}
	codes := guessRounds(t, e, func(i int) *httptest.ResponseRecorder {
		return e.do(req{method: "DELETE", path: "/api/v1/me/totp", cookie: f.cookie, body: fmt.Sprintf(`{"code":"%06d"}`, 100000+i)})
	}, a.users[bulwark.RoleAdmin].Email)
	if codes > accountPolicy.Free+1 {
		t.Errorf("a stolen session had %d wrong codes checked, its count wiped by another tenant's user's logins; want at most %d", codes, accountPolicy.Free+1)
	}
	// The victim's own login is held back too (answered as a wrong
	// password, as a login is whose user's wait is not served): the
	// guesses were at its password. Never locked: after the wait, it works.
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: fmt.Sprintf(`{"email":%q,"password":%q,"tenant":"a"}`, email, testPassword)}); w.Code == http.StatusOK {
		t.Errorf("the victim's login right after the guesses = %d, want it held back until the wait is served", w.Code)
	}
	e.clock.Advance(accountPolicy.MaxDelay)
	if w := e.do(req{method: "POST", path: "/api/v1/login", body: fmt.Sprintf(`{"email":%q,"password":%q,"tenant":"a"}`, email, testPassword)}); w.Code != http.StatusOK {
		t.Errorf("the victim's login after the wait = %d %s, want 200 (never locked)", w.Code, w.Body)
	}
}

// TestStolenSessionGuessesAtOnce: wrong passwords sent through a session
// all at once are checked no more often than one after the other.
func TestStolenSessionGuessesAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	email := a.users[bulwark.RoleMember].Email
	victim := e.login(email)
	var checked atomic.Int32
	e.srv.checkHash = func(hash, pw string, p PasswordParams) (bool, bool, error) {
		checked.Add(1)
		time.Sleep(20 * time.Millisecond) // as long as a real hash takes
		return VerifyPassword(hash, pw, p)
	}
	e.h = e.srv.Handler()
	const attempts = 30
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Go(func() {
			e.do(req{method: "POST", path: "/api/v1/me/totp", cookie: victim, body: fmt.Sprintf(`{"password":"wrong guess %d!"}`, i)})
		})
	}
	wg.Wait()
	if want := int32(accountPolicy.Free + 1); checked.Load() > want {
		t.Errorf("%d wrong passwords at once through a session: %d checked, want at most %d as one after the other", attempts, checked.Load(), want)
	}
}
