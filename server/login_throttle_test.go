package server

import (
	"context"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/limits"
)

// TestLoginThrottleHoldsUnderParallelAttempts: wrong passwords sent for
// one account all at once get no more checks than sent one after the
// other (the free failures and the one that starts the wait), and then
// the right password waits too. Each check is made slow, as a real hash
// is, so that attempts that were not serialised would all be checked
// before the first failure is counted.
func TestLoginThrottleHoldsUnderParallelAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	e.tenant("a")
	victim := "owner@a.test"
	_, victimHash, err := e.db.TenantUserByEmail(context.Background(), e.tenantID(t, "a"), victim)
	if err != nil {
		t.Fatal(err)
	}
	var checked atomic.Int32
	e.srv.checkHash = func(hash, pw string, p PasswordParams) (bool, bool, error) {
		if hash == victimHash {
			checked.Add(1)
			time.Sleep(20 * time.Millisecond) // as long as a real hash takes
		}
		return VerifyPassword(hash, pw, p)
	}
	e.srv.loginPad = func(context.Context, int, time.Duration) {}
	e.h = e.srv.Handler()

	const attempts = 50
	codes := make(chan int, attempts)
	var wg sync.WaitGroup
	for i := range attempts {
		wg.Go(func() {
			// Each from an address of its own, as a botnet's would be: only
			// the account's count may stop them.
			w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(victim, "wrong password!"), remote: "198.51.100." + strconv.Itoa(i+1) + ":1"})
			codes <- w.Code
		})
	}
	wg.Wait()
	close(codes)
	count := map[int]int{}
	for c := range codes {
		count[c]++
	}
	if want := int32(accountPolicy.Free + 1); checked.Load() != want {
		t.Errorf("%d wrong passwords at once: %d checked against the account's hash (answers %v), want %d as one after the other", attempts, checked.Load(), count, want)
	}
	w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(victim, testPassword), remote: "203.0.113.1:1"})
	if w.Code != 429 {
		t.Errorf("the right password after %d failures at once = %d, want 429 until the wait is served", attempts, w.Code)
	}
	if n := e.srv.locks.(*limits.MemoryLocker).Len(); n != 0 {
		t.Errorf("%d login locks kept after the attempts ended, want none", n)
	}
}

// TestLoginLockIsPerAccount: an attempt at one account waits for none at
// another account.
func TestLoginLockIsPerAccount(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	e.tenant("a")
	unlock, err := e.srv.locks.Lock(context.Background(), loginLock("acct|"+deviceLogin("", "owner@a.test")))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	done := make(chan int, 1)
	go func() {
		done <- e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("viewer@a.test", testPassword)}).Code
	}()
	select {
	case code := <-done:
		if code != 200 {
			t.Errorf("another account's login while one is busy = %d, want 200", code)
		}
	case <-time.After(lockWait / 2):
		t.Fatalf("another account's login waited for the lock of %s", "owner@a.test")
	}
}

// TestThrottledLoginLooksAlike: an attempt held back by the failures of
// an account answers the same (429, the same body but the request id, the
// same headers) whether a user has the email or not.
func TestThrottledLoginLooksAlike(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	e.tenant("a")
	var answers []*httptest.ResponseRecorder
	for _, email := range []string{"owner@a.test", "nobody@a.test"} {
		for range accountPolicy.Free + 1 {
			if w := e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(email, "wrong password!")}); w.Code != 401 {
				t.Fatalf("%s: a wrong password = %d, want 401", email, w.Code)
			}
		}
		answers = append(answers, e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(email, testPassword)}))
	}
	known, unknown := answers[0], answers[1]
	if known.Code != 429 || unknown.Code != known.Code {
		t.Fatalf("held back: a user = %d, no user = %d; want 429 for both", known.Code, unknown.Code)
	}
	ke, ue := errorOf(t, known), errorOf(t, unknown)
	ke.RequestID, ue.RequestID = "", ""
	if ke != ue {
		t.Errorf("held back: a user = %+v, no user = %+v; want the same", ke, ue)
	}
	for k := range known.Header() {
		if k != "X-Request-Id" && known.Header().Get(k) != unknown.Header().Get(k) {
			t.Errorf("held back, header %s: a user %q, no user %q", k, known.Header().Get(k), unknown.Header().Get(k))
		}
	}
}
