package server

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestLastOwnerKeptUnderRace: two owners who delete (or demote) each
// other at the same moment must leave the tenant one owner. The check
// "another owner remains" and the change must not interleave.
func TestLastOwnerKeptUnderRace(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	for round := range 12 {
		ctx := context.Background()
		tn, err := e.db.CreateTenant(ctx, fmt.Sprintf("race%d", round))
		if err != nil {
			t.Fatal(err)
		}
		o1 := e.user(tn.ID, fmt.Sprintf("o1-%d@race.test", round), bulwark.RoleOwner)
		o2 := e.user(tn.ID, fmt.Sprintf("o2-%d@race.test", round), bulwark.RoleOwner)
		c1, c2 := e.login(o1.Email), e.login(o2.Email)
		rq := func(cookie, other string) req {
			if round%2 == 0 {
				return req{method: "DELETE", path: "/api/v1/users/" + other, cookie: cookie}
			}
			return req{method: "PATCH", path: "/api/v1/users/" + other, cookie: cookie, body: `{"role":"admin"}`}
		}
		var wg sync.WaitGroup
		for _, x := range []req{rq(c1, o2.ID), rq(c2, o1.ID)} {
			wg.Add(1)
			go func() { defer wg.Done(); e.do(x) }()
		}
		wg.Wait()
		us, err := e.db.ListUsers(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		owners := 0
		for _, u := range us {
			if u.Role == bulwark.RoleOwner {
				owners++
			}
		}
		if owners == 0 {
			t.Fatalf("round %d: two owners removing each other at once left the tenant no owner", round)
		}
	}
}
