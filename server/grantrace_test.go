package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/limits"
)

// waitLocker is a Locker that tells on waiting when a lock of that name
// is asked for, before it waits.
type waitLocker struct {
	limits.Locker
	name    string
	waiting chan struct{}
}

func (l *waitLocker) Lock(ctx context.Context, name string) (func(), error) {
	if name == l.name {
		select {
		case l.waiting <- struct{}{}:
		default:
		}
	}
	return l.Locker.Lock(ctx, name)
}

// An admin demoted or deleted while a request of theirs to make an admin
// (a user, a key) is under way makes nothing: the grant is checked with
// the rights they have when it is made, under the tenant's roles lock,
// which the change holds. Before, the request checked the rights it
// authenticated with, hashed the password, and made the admin after the
// owner's change was stored; the removed admin kept access through it
// (red team, session 42, 5 of 5 tries).
func TestRemovedMidRequestGrantsNothing(t *testing.T) {
	t.Parallel()
	locker := &waitLocker{Locker: limits.NewMemoryLocker(), waiting: make(chan struct{}, 1)}
	e := newEnv(t, rateLimitOff, func(c *Config) { c.Locks = locker })
	a := e.tenant("a")
	locker.name = rolesLock(a.id)
	for _, made := range []string{"user", "key"} {
		for _, change := range []string{"demote", "delete"} {
			name := made + ", " + change
			dana := e.user(a.id, fmt.Sprintf("dana-%s-%s@a.test", made, change), bulwark.RoleAdmin)
			cookie := e.login(dana.Email)
			unlock, err := locker.Lock(t.Context(), locker.name) // the owner's change, under way
			if err != nil {
				t.Fatal(err)
			}
			<-locker.waiting // the test's own
			rq := req{method: "POST", cookie: cookie, header: cookieHeaders}
			if made == "user" {
				rq.path, rq.body = "/api/v1/users", `{"email":"made-`+made+change+`@a.test","role":"admin","password":"`+testPassword+`"}`
			} else {
				rq.path, rq.body = "/api/v1/keys", `{"name":"made","role":"admin"}`
			}
			done := make(chan *httptest.ResponseRecorder, 1)
			go func() { done <- e.do(rq) }()
			select {
			case <-locker.waiting: // the request waits for the change to end
			case w := <-done:
				unlock()
				t.Errorf("%s: the request ended without waiting for the roles lock: %d %s", name, w.Code, w.Body)
				continue
			}
			if change == "demote" {
				_, err = e.db.SetUserRole(t.Context(), a.id, dana.ID, bulwark.RoleMember)
			} else {
				_, _, err = e.db.DeleteUser(t.Context(), a.id, dana.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
			unlock()
			w := <-done
			want := http.StatusForbidden
			if change == "delete" {
				want = http.StatusUnauthorized
			}
			if w.Code != want {
				t.Errorf("%s: the removed admin's request = %d %s, want %d", name, w.Code, w.Body, want)
			}
		}
	}
	users, err := e.db.ListUsers(t.Context(), a.id)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if strings.HasPrefix(u.Email, "made-") {
			t.Errorf("a removed admin made %s, %s", u.Email, u.Role)
		}
	}
}
