package server

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"golang.org/x/crypto/bcrypt"
)

// TestLoginWorkSameForUnknownUsers: a login at an email no one has does
// the same checks, by algorithm and costs, as one at a user whose stored
// hash has the current parameters, older argon2id ones, or is an imported
// bcrypt hash; so its time does not tell which emails have users. (The
// checks are counted, not timed.) Each profile's users are logged in at
// first: before a process meets a profile, the logins do not check it.
func TestLoginWorkSameForUnknownUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	ctx := context.Background()
	old, err := HashPassword(testPassword, PasswordParams{Memory: 32, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	imported, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for role, h := range map[bulwark.Role]string{bulwark.RoleViewer: old, bulwark.RoleMember: string(imported)} {
		if err := e.db.SetPasswordHash(ctx, a.id, a.users[role].ID, h); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var checked []string
	e.srv.checkHash = func(hash, pw string, p PasswordParams) (bool, bool, error) {
		mu.Lock()
		checked = append(checked, hashProfile(hash))
		mu.Unlock()
		return VerifyPassword(hash, pw, p)
	}
	e.srv.loginPad = func(context.Context, int, time.Duration) {}
	work := func(email, tenant string) []string {
		checked = nil
		body := loginBody(email, "wrong password!")
		if tenant != "" {
			body = fmt.Sprintf(`{"email":%q,"password":"wrong password!","tenant":%q}`, email, tenant)
		}
		if w := e.do(req{method: "POST", path: "/api/v1/login", body: body}); w.Code != 401 {
			t.Fatalf("login as %s = %d, want 401", email, w.Code)
		}
		e.clock.Advance(time.Hour) // no throttle
		mu.Lock()
		defer mu.Unlock()
		return slices.Sorted(slices.Values(checked))
	}
	current, oldArgon, bcryptCost := argon2Profile(fastParams), argon2Profile(PasswordParams{Memory: 32, Time: 1, Threads: 1}), "bcrypt cost=4"
	for _, step := range []struct {
		name, email, tenant string
		want                []string
	}{
		{"an older argon2id hash", "viewer@a.test", "", []string{oldArgon, current}},
		{"an unknown email", "nobody@a.test", "", []string{oldArgon, current}},
		{"a current hash", "owner@a.test", "", []string{oldArgon, current}},
		{"an unknown email in a tenant", "nobody@a.test", "a", []string{oldArgon, current}},
		{"a bcrypt hash", "member@a.test", "", []string{oldArgon, current, bcryptCost}},
		{"an unknown email again", "nobody@a.test", "", []string{oldArgon, current, bcryptCost}},
		{"an older argon2id hash again", "viewer@a.test", "a", []string{oldArgon, current, bcryptCost}},
		{"a current hash again", "admin@a.test", "", []string{oldArgon, current, bcryptCost}},
		{"an unknown tenant", "owner@a.test", "zz", []string{oldArgon, current, bcryptCost}},
	} {
		slices.Sort(step.want)
		if got := work(step.email, step.tenant); !reflect.DeepEqual(got, step.want) {
			t.Errorf("login at %s: checked %q, want %q", step.name, got, step.want)
		}
	}
}

// TestLoginWorkBounded: hashes of more profiles than maxHashProfiles add
// no more dummy hashes, and so no more work to every login.
func TestLoginWorkBounded(t *testing.T) {
	t.Parallel()
	w, err := newLoginWork(fastParams)
	if err != nil {
		t.Fatal(err)
	}
	var hashes []string
	for m := range uint32(maxHashProfiles + 2) {
		h, err := HashPassword("x", PasswordParams{Memory: 8 + m, Time: 1, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	dummies, refused := w.meet(hashes)
	if len(dummies) != maxHashProfiles || len(refused) != 3 {
		t.Errorf("%d profiles met beside the current one: %d dummies, %d refused; want %d and 3", len(hashes), len(dummies), len(refused), maxHashProfiles)
	}
	if _, refused := w.meet(hashes); len(refused) != 0 {
		t.Errorf("the same profiles met again: %d refused again, want them logged once", len(refused))
	}
}
