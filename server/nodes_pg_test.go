package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/limits"
	"github.com/bulwark-agents/bulwark/limits/pglimits"
)

// slowRates: a burst of 5 and a rate too slow to refill while a test
// runs, so that totals do not depend on timing.
var slowRates = bulwark.RateLimitSettings{PerKey: 0.001, PerTenant: 0.001, Burst: 5}

// pgNodes returns two nodes over one SQLite store whose limits are kept
// in one PostgreSQL database, each node through its own pool.
func pgNodes(t *testing.T) (a, b *env) {
	t.Helper()
	cfg := pgtest.NewDatabase(t)
	node := func() func(*Config) {
		l, err := pglimits.New(context.Background(), pgtest.Pool(t, cfg))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return func(c *Config) { c.Limiter, c.Throttle, c.Cursors, c.Locks, c.RateLimits = l, l, l, l, slowRates }
	}
	a = newEnv(t, node())
	return a, a.otherNode(node())
}

// count returns how many of n requests rq, sent to the nodes in turn,
// got status want.
func count(n int, rq req, want int, nodes ...*env) int {
	got := 0
	for i := range n {
		if nodes[i%len(nodes)].do(rq).Code == want {
			got++
		}
	}
	return got
}

// TestNodesShareRateLimits: a client that alternates between two nodes
// gets what it gets from one, per key and per address.
func TestNodesShareRateLimits(t *testing.T) {
	t.Parallel()
	a, b := pgNodes(t)
	key := a.tenant("acme").keys[bulwark.RoleViewer]
	me := req{method: "GET", path: "/api/v1/me", key: key}
	one := newEnv(t, func(c *Config) { c.RateLimits = slowRates })
	oneKey := one.tenant("acme").keys[bulwark.RoleViewer]
	want := count(20, req{method: "GET", path: "/api/v1/me", key: oneKey}, 200, one)
	if want != slowRates.Burst {
		t.Fatalf("one node let %d of 20 requests through, want %d: the test's premise is wrong", want, slowRates.Burst)
	}
	if got := count(20, me, 200, a, b); got != want {
		t.Errorf("alternating between two nodes, %d of 20 requests went through, want %d (as on one node)", got, want)
	}
	if got := count(3, me, http.StatusTooManyRequests, a, b); got != 3 {
		t.Errorf("after the burst, %d of 3 more requests got 429 on either node, want 3", got)
	}
	// The address's bucket refills in real time (addressRate a second):
	// what came back while the requests were sent may pass too.
	health := req{method: "GET", path: "/healthz", remote: "198.51.100.7:1"}
	start := time.Now()
	got := count(2*addressBurst, health, 200, a, b)
	refill := int(math.Ceil(addressRate * time.Since(start).Seconds()))
	if got < addressBurst || got > addressBurst+refill {
		t.Errorf("one address alternating between two nodes: %d of %d requests went through, want %d (the address's burst) + at most %d refilled",
			got, 2*addressBurst, addressBurst, refill)
	}
}

// TestNodesShareLoginThrottle: failed logins counted on both nodes slow
// the account down on both, as on one.
func TestNodesShareLoginThrottle(t *testing.T) {
	t.Parallel()
	a, b := pgNodes(t)
	email := a.tenant("acme").users[bulwark.RoleMember].Email
	bad := req{method: "POST", path: "/api/v1/login", body: `{"email":"` + email + `","password":"wrong password, wrong"}`}
	// Each from its own address, so that only the account's count slows
	// them: accountPolicy.Free free failures, then a delay.
	for i := range accountPolicy.Free + 1 {
		bad.remote = "198.51.100." + string(rune('1'+i)) + ":1"
		if c := []*env{a, b}[i%2].do(bad).Code; c != http.StatusUnauthorized {
			t.Fatalf("failed login %d = %d, want 401", i+1, c)
		}
	}
	good := req{method: "POST", path: "/api/v1/login", remote: "203.0.113.9:1", body: `{"email":"` + email + `","password":"` + testPassword + `"}`}
	for _, n := range []*env{a, b} {
		if c := n.do(good).Code; c != http.StatusTooManyRequests {
			t.Errorf("after %d failures spread over two nodes, a login on either = %d, want 429", accountPolicy.Free+1, c)
		}
	}
}

// TestNodesShareUserThrottle: guesses at a user, spread over two nodes,
// naming its tenant or none, with the successes of an attacker's own user
// of the same email (in its own tenant) in between, are checked against
// the user's password no more often than on one node.
func TestNodesShareUserThrottle(t *testing.T) {
	t.Parallel()
	a, b := pgNodes(t)
	a.tenant("acme")
	evil := a.tenant("evil")
	const email = "victim@acme.test"
	a.user(a.tenantID(t, "acme"), email, bulwark.RoleOwner)
	h, err := HashPassword(otherPassword, fastParams)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.db.CreateUser(context.Background(), evil.id, bulwark.User{Email: email, Role: bulwark.RoleOwner}, h); err != nil {
		t.Fatal(err)
	}
	checks := []*atomic.Int32{countChecks(a, "acme", email), countChecks(b, "acme", email)}
	for i, s := range []struct{ tenant, pw string }{
		{"acme", "wrong guess 1!"}, {"", otherPassword}, {"", "wrong guess 2!"}, {"evil", otherPassword},
		{"acme", "wrong guess 3!"}, {"", otherPassword}, {"acme", "wrong guess 4!"}, {"", "wrong guess 5!"},
	} {
		loginAs([]*env{a, b}[i%2], email, s.pw, s.tenant, 10+i, "")
	}
	if n := checks[0].Load() + checks[1].Load(); n != int32(accountPolicy.Free+1) {
		t.Errorf("guesses spread over two nodes: %d checked against the victim's user, want %d as on one node", n, accountPolicy.Free+1)
	}
}

// TestNodesShareStepCursors: the Agent Protocol's step cursors in
// PostgreSQL, each node through its own pool.
func TestNodesShareStepCursors(t *testing.T) {
	t.Parallel()
	cfg := pgtest.NewDatabase(t)
	var cursors [2]limits.Cursors
	for i := range cursors {
		l, err := pglimits.New(context.Background(), pgtest.Pool(t, cfg))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		cursors[i] = l
	}
	got := apStepsAcrossNodes(t, cursors)
	if want := "step-1 step-2 step-3"; strings.Join(got, " ") != want {
		t.Errorf("steps executed on nodes A, B, A = %v, want %s", got, want)
	}
}

// TestNodesShareLocks: two owners demoting each other at once on two
// nodes whose locks are PostgreSQL's leave one owner.
func TestNodesShareLocks(t *testing.T) {
	t.Parallel()
	cfg := pgtest.NewDatabase(t)
	var locks [2]limits.Locker
	for i := range locks {
		l, err := pglimits.New(context.Background(), pgtest.Pool(t, cfg))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		locks[i] = l
	}
	lastOwnerRace(t, locks)
}

// TestNodesShareMaskBudgets: a caller confirming guesses at a secret
// through masked answers, alternating between two nodes (and addresses),
// is refused as on one node: the budgets are kept in the shared store.
func TestNodesShareMaskBudgets(t *testing.T) {
	t.Parallel()
	cfg := pgtest.NewDatabase(t)
	node := func() func(*Config) {
		l, err := pglimits.New(context.Background(), pgtest.Pool(t, cfg))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Close)
		return func(c *Config) { c.Limiter, c.Throttle, c.Cursors, c.Locks = l, l, l, l; highRates(c) }
	}
	a := newEnv(t, node())
	b := a.otherNode(node())
	tn := a.tenant("acme")
	if err := a.db.SetSecret(context.Background(), tn.id, oracleSecret, oracleValue); err != nil {
		t.Fatal(err)
	}
	refusedAt := 0
	for i := range 2 * maskUserBurst {
		nd := []*env{a, b}[i%2]
		w := nd.do(req{method: "POST", path: "/api/v1/memories", key: tn.keys[bulwark.RoleMember], remote: fmt.Sprintf("10.7.0.%d:1", i+1),
			body: `{"text":"guess ` + oracleValue + `"}`})
		if w.Code == http.StatusTooManyRequests {
			refusedAt = i + 1
			break
		}
		if w.Code != 201 {
			t.Fatalf("POST memory = %d %s", w.Code, w.Body)
		}
	}
	if refusedAt == 0 || refusedAt > maskUserBurst+2 {
		t.Errorf("alternating between two nodes, the guess was refused at request %d, want right after the user's burst of %d", refusedAt, maskUserBurst)
	}
}
