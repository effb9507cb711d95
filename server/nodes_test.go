package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/limits"
)

// Nodes behind one load balancer share one store: what one node changes
// about who may do what (a logout, a revoked key, a role, a deleted user)
// must hold on every other at the next request. These tests play two
// nodes over one SQLite file, each with its own connections and memory.

// TestRevocationsApplyOnEveryNode: revoked on node A, refused on node B
// at once.
func TestRevocationsApplyOnEveryNode(t *testing.T) {
	t.Parallel()
	a := newEnv(t, rateLimitOff)
	b := a.otherNode(rateLimitOff)
	ten := a.tenant("acme")
	owner := ten.keys[bulwark.RoleOwner]
	status := func(e *env, rq req) int { t.Helper(); return e.do(rq).Code }
	me := func(rq req) req { rq.method, rq.path = "GET", "/api/v1/me"; return rq }
	users := func(rq req) req { rq.method, rq.path = "GET", "/api/v1/users"; return rq }

	t.Run("key revoked", func(t *testing.T) {
		key := ten.keys[bulwark.RoleMember]
		if c := status(b, me(req{key: key})); c != 200 {
			t.Fatalf("the key on node B before the revocation = %d, want 200", c)
		}
		if c := status(a, req{method: "DELETE", path: "/api/v1/keys/" + ten.keyIDs[bulwark.RoleMember], key: owner}); c != http.StatusNoContent {
			t.Fatalf("revoke on node A = %d", c)
		}
		if c := status(b, me(req{key: key})); c != http.StatusUnauthorized {
			t.Errorf("the revoked key on node B = %d, want 401", c)
		}
	})

	t.Run("logout", func(t *testing.T) {
		sess := a.login(ten.users[bulwark.RoleViewer].Email)
		if c := status(b, me(req{cookie: sess})); c != 200 {
			t.Fatalf("node A's session on node B = %d, want 200", c)
		}
		if c := status(a, req{method: "POST", path: "/api/v1/logout", cookie: sess}); c/100 != 2 {
			t.Fatalf("logout on node A = %d", c)
		}
		if c := status(b, me(req{cookie: sess})); c != http.StatusUnauthorized {
			t.Errorf("the session logged out on node A, on node B = %d, want 401", c)
		}
	})

	t.Run("role change", func(t *testing.T) {
		admin := ten.users[bulwark.RoleAdmin]
		sess := b.login(admin.Email)
		w := b.do(req{method: "POST", path: "/api/v1/keys", cookie: sess, body: `{"name":"admin's key","role":"admin"}`})
		if w.Code != http.StatusCreated {
			t.Fatalf("the admin makes a key on node B = %d %s", w.Code, w.Body)
		}
		var k createKeyResponse
		json.Unmarshal(w.Body.Bytes(), &k)
		for _, rq := range []req{{cookie: sess}, {key: k.Token}} {
			if c := status(b, users(rq)); c != 200 {
				t.Fatalf("the admin lists users on node B = %d, want 200", c)
			}
		}
		if c := status(a, req{method: "PATCH", path: "/api/v1/users/" + admin.ID, key: owner, body: `{"role":"viewer"}`}); c != 200 {
			t.Fatalf("demote on node A = %d", c)
		}
		// A role change ends the user's sessions; its keys carry its new
		// rights.
		if c := status(b, users(req{cookie: sess})); c != http.StatusUnauthorized {
			t.Errorf("demoted on node A, the user's session on node B = %d, want 401", c)
		}
		if c := status(b, users(req{key: k.Token})); c != http.StatusForbidden {
			t.Errorf("demoted on node A, the user's key lists users on node B = %d, want 403", c)
		}
		if c := status(b, users(req{cookie: b.login(admin.Email)})); c != http.StatusForbidden {
			t.Errorf("demoted on node A, a new session lists users on node B = %d, want 403", c)
		}
	})

	t.Run("user deleted", func(t *testing.T) {
		u := a.user(ten.id, "leaver@acme.test", bulwark.RoleMember)
		sess := b.login(u.Email)
		if c := status(a, req{method: "DELETE", path: "/api/v1/users/" + u.ID, key: owner}); c/100 != 2 {
			t.Fatalf("delete the user on node A = %d", c)
		}
		if c := status(b, me(req{cookie: sess})); c != http.StatusUnauthorized {
			t.Errorf("the deleted user's session on node B = %d, want 401", c)
		}
	})
}

// Limiter, Throttle and Cursors whose every call fails, as a shared
// store of the limits that is down.
type downLimits struct{}

var errDown = errors.New("connection refused")

func (downLimits) Allow(context.Context, string, float64, int) (bool, time.Duration, error) {
	return true, 0, errDown // "true": an error must win over it
}
func (downLimits) Wait(context.Context, string) (time.Duration, error) { return 0, errDown }
func (downLimits) Fail(context.Context, string, limits.Policy) error   { return errDown }
func (downLimits) Reset(context.Context, string) error                 { return errDown }
func (downLimits) Cursor(context.Context, string) (int64, error)       { return 0, errDown }
func (downLimits) Advance(context.Context, string, int64) error        { return errDown }

var (
	_ limits.Limiter  = downLimits{}
	_ limits.Throttle = downLimits{}
	_ limits.Cursors  = downLimits{}
)

// TestLimitsDownFailClosed: when the limits cannot be checked, requests
// are refused with 503 and a message that says why (not let through),
// and the cause is not shown.
func TestLimitsDownFailClosed(t *testing.T) {
	t.Parallel()
	ok := newEnv(t)
	ten := ok.tenant("acme")
	down := ok.otherNode(func(c *Config) { c.Limiter, c.Throttle, c.Cursors = downLimits{}, downLimits{}, downLimits{} })
	for _, rq := range []req{
		{method: "GET", path: "/api/v1/me", key: ten.keys[bulwark.RoleOwner]},
		{method: "GET", path: "/healthz"},
		{method: "POST", path: "/api/v1/login", body: `{"email":"` + ten.users[bulwark.RoleOwner].Email + `","password":"` + testPassword + `"}`},
	} {
		w := down.do(rq)
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("%s %s with the limits down = %d, want 503", rq.method, rq.path, w.Code)
			continue
		}
		if msg := errorOf(t, w).Message; !strings.Contains(msg, "cannot check") || strings.Contains(msg, errDown.Error()) {
			t.Errorf("%s %s with the limits down says %q, want why, without the cause", rq.method, rq.path, msg)
		}
	}
	if w := down.do(req{method: "POST", path: "/api/v1/login", body: `{"email":"` + ten.users[bulwark.RoleOwner].Email + `","password":"` + testPassword + `"}`}); sessionFrom(t, w) != "" {
		t.Error("a login went through while its failures could not be checked")
	}
}

// TestLastOwnerAcrossNodes: two owners, each on a node of its own,
// demoting each other at once leave one owner: the check that another
// owner remains and the change are made under a lock that both nodes
// share (here one MemoryLocker; across processes, package pglimits).
func TestLastOwnerAcrossNodes(t *testing.T) {
	t.Parallel()
	shared := limits.NewMemoryLocker()
	lastOwnerRace(t, [2]limits.Locker{shared, shared})
}

// lastOwnerRace plays two owners demoting each other at once, each on
// its own node with its own of locks, and fails the test unless one
// owner remains.
func lastOwnerRace(t *testing.T, locks [2]limits.Locker) {
	t.Helper()
	// Each node's check of the owners waits (a while at most) for the
	// other's, as two requests that met there would: without the lock
	// both would see two owners, and both would demote.
	meet := newBarrier()
	node := func(l limits.Locker) func(*Config) {
		return func(c *Config) {
			c.RateLimitOff, c.Locks = true, l
			c.Store = meetingStore{c.Store, meet}
		}
	}
	a := newEnv(t, node(locks[0]))
	b := a.otherNode(node(locks[1]))
	ten := a.tenant("acme")
	ctx := context.Background()
	if _, err := a.db.SetUserRole(ctx, ten.id, ten.users[bulwark.RoleOwner].ID, bulwark.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	for round := range 8 {
		o1 := a.user(ten.id, fmt.Sprintf("o1-%d@acme.test", round), bulwark.RoleOwner)
		o2 := a.user(ten.id, fmt.Sprintf("o2-%d@acme.test", round), bulwark.RoleOwner)
		s1, s2 := a.login(o1.Email), b.login(o2.Email)
		meet.reset()
		var wg sync.WaitGroup
		wg.Go(func() {
			a.do(req{method: "PATCH", path: "/api/v1/users/" + o2.ID, cookie: s1, body: `{"role":"admin"}`})
		})
		wg.Go(func() {
			b.do(req{method: "PATCH", path: "/api/v1/users/" + o1.ID, cookie: s2, body: `{"role":"admin"}`})
		})
		wg.Wait()
		us, err := a.db.ListUsers(ctx, ten.id)
		if err != nil {
			t.Fatal(err)
		}
		owners := 0
		for _, u := range us {
			if u.Role == bulwark.RoleOwner {
				owners++
			}
		}
		if owners != 1 {
			t.Fatalf("round %d: two owners demoting each other on two nodes at once left %d owners, want 1", round, owners)
		}
		// The one left steps down for the next round's two.
		for _, u := range us {
			if u.Role == bulwark.RoleOwner {
				if _, err := a.db.SetUserRole(ctx, ten.id, u.ID, bulwark.RoleAdmin); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// meetingStore is a store whose ListUsers (the check that another owner
// remains) waits, a moment at most, for a second caller to reach it too.
type meetingStore struct {
	bulwark.Store
	meet *barrier
}

func (m meetingStore) ListUsers(ctx context.Context, t bulwark.TenantID) ([]bulwark.User, error) {
	m.meet.arrive(ctx)
	return m.Store.ListUsers(ctx, t)
}

// barrier lets two callers through once both arrived, or each after a
// moment alone.
type barrier struct {
	mu   sync.Mutex
	n    int
	both chan struct{}
}

func newBarrier() *barrier { return &barrier{both: make(chan struct{})} }

func (b *barrier) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n, b.both = 0, make(chan struct{})
}

func (b *barrier) arrive(ctx context.Context) {
	b.mu.Lock()
	b.n++
	both := b.both
	if b.n == 2 {
		close(both)
	}
	b.mu.Unlock()
	select {
	case <-both:
	case <-time.After(200 * time.Millisecond):
	case <-ctx.Done():
	}
}

// apStepsAcrossNodes executes the steps of a finished three-step task
// in turn on node A, node B and node A, each node keeping its step
// cursors in its own of cursors, and returns the step ids they answered.
func apStepsAcrossNodes(t *testing.T, cursors [2]limits.Cursors) []string {
	t.Helper()
	te := newTaskEnv(t, func(c *Config) { c.Cursors = cursors[0] })
	task := decode[apTask](t, te.do(req{method: "POST", path: "/ap/v1/agent/tasks", body: `{"input":"turns:2"}`, key: te.key}))
	te.waitTask(te.key, task.TaskID, ended)
	b := te.otherNode(rateLimitOff, withRuntime(t, ""), func(c *Config) { c.Cursors = cursors[1] })
	var ids []string
	for _, n := range []*env{te.env, b, te.env} {
		w := n.do(req{method: "POST", path: "/ap/v1/agent/tasks/" + task.TaskID + "/steps", key: te.key})
		if w.Code != 200 {
			t.Fatalf("execute a step = %d %s", w.Code, w.Body)
		}
		ids = append(ids, decode[apStep](t, w).StepID)
	}
	return ids
}

// TestAgentProtocolCursorsAcrossNodes: with shared cursors, a client that
// executes steps on one node and then another gets each step once, in
// order.
func TestAgentProtocolCursorsAcrossNodes(t *testing.T) {
	t.Parallel()
	shared := limits.NewMemoryCursors(100)
	got := apStepsAcrossNodes(t, [2]limits.Cursors{shared, shared})
	if want := "step-1 step-2 step-3"; strings.Join(got, " ") != want {
		t.Errorf("steps executed on nodes A, B, A = %v, want %s", got, want)
	}
}
