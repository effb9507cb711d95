package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/racetest"
)

// cacheNodes are the ways a change can reach the node that cached a key:
// made by the same server, by another process on the same SQLite file
// (its own connections and its own map of the version file), or by
// another node on the same PostgreSQL database.
var cacheNodes = []struct {
	name  string
	nodes func(t *testing.T, opts ...func(*Config)) (changer, cacher *env)
}{
	{"sqlite, one server", func(t *testing.T, opts ...func(*Config)) (*env, *env) {
		e := newEnv(t, opts...)
		return e, e
	}},
	{"sqlite, two processes", func(t *testing.T, opts ...func(*Config)) (*env, *env) {
		e := newEnv(t, opts...)
		return e, e.otherNode(opts...)
	}},
	{"postgres, two nodes", func(t *testing.T, opts ...func(*Config)) (*env, *env) {
		e := newEnvOn(t, openPostgres(t), opts...)
		return e, e.otherNode(opts...)
	}},
}

// cacheChanges each make a key, which the cacher uses (status 200 on
// path), then change something on the changer; the cacher's next request
// must get want.
var cacheChanges = []struct {
	name   string
	path   string
	change func(t *testing.T, changer *env, tn *tenant, keyID string, user bulwark.User)
	want   int
	// requests is how many requests the cacher sends after the change,
	// the last of which must get want; 0 means 1.
	requests int
}{
	{"key revoked", "/api/v1/me", func(t *testing.T, a *env, tn *tenant, keyID string, _ bulwark.User) {
		if w := a.do(req{method: "DELETE", path: "/api/v1/keys/" + keyID, key: tn.keys[bulwark.RoleOwner]}); w.Code != http.StatusNoContent {
			t.Fatalf("DELETE key = %d %s", w.Code, w.Body)
		}
	}, http.StatusUnauthorized, 0},
	{"the key it was made with revoked", "/api/v1/me", func(t *testing.T, a *env, tn *tenant, keyID string, _ bulwark.User) {
		k := creatorKeyOf(t, a, tn.id, keyID)
		if err := a.db.DeleteAPIKey(context.Background(), tn.id, k); err != nil {
			t.Fatal(err)
		}
	}, http.StatusUnauthorized, 0},
	{"its user demoted", "/api/v1/users", func(t *testing.T, a *env, tn *tenant, _ string, u bulwark.User) {
		if w := a.do(req{method: "PATCH", path: "/api/v1/users/" + u.ID, key: tn.keys[bulwark.RoleOwner], body: `{"role":"viewer"}`}); w.Code != http.StatusOK {
			t.Fatalf("PATCH user = %d %s", w.Code, w.Body)
		}
	}, http.StatusForbidden, 0},
	{"its user deleted", "/api/v1/me", func(t *testing.T, a *env, tn *tenant, _ string, u bulwark.User) {
		if w := a.do(req{method: "DELETE", path: "/api/v1/users/" + u.ID, key: tn.keys[bulwark.RoleOwner]}); w.Code != http.StatusNoContent {
			t.Fatalf("DELETE user = %d %s", w.Code, w.Body)
		}
	}, http.StatusUnauthorized, 0},
	{"expired", "/api/v1/me", func(t *testing.T, a *env, _ *tenant, _ string, _ bulwark.User) {
		a.clock.Advance(2 * time.Hour) // nothing is written: the clock alone
	}, http.StatusUnauthorized, 0},
	{"tenant's rate limits lowered", "/api/v1/me", func(t *testing.T, a *env, tn *tenant, _ string, _ bulwark.User) {
		// A burst of 1: the key's bucket keeps one token, and the second
		// request is refused; with the old limits (a burst of 50) it
		// would pass.
		if _, err := a.db.PutSettings(context.Background(), tn.id, bulwark.Settings{RateLimit: bulwark.RateLimitSettings{PerKey: 0.001, Burst: 1}}); err != nil {
			t.Fatal(err)
		}
	}, http.StatusTooManyRequests, 2},
}

// creatorKeyOf returns the key keyID was made with.
func creatorKeyOf(t *testing.T, e *env, tenant bulwark.TenantID, keyID string) string {
	t.Helper()
	ks, err := e.db.ListAPIKeys(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.ID == keyID {
			return k.CreatorKey
		}
	}
	t.Fatalf("no key %s", keyID)
	return ""
}

// TestCachedKeyChangesAtNextRequest: a key the server has cached stops
// working, or works with less, at the very next request after it is
// revoked (or the key it was made with is), its user is demoted or
// deleted, it expires, or its tenant's limits change, whether the change
// was made by the same server, by another process on the SQLite file or
// by another node on the PostgreSQL database.
func TestCachedKeyChangesAtNextRequest(t *testing.T) {
	t.Parallel()
	for _, topo := range cacheNodes {
		t.Run(topo.name, func(t *testing.T) {
			t.Parallel()
			a, b := topo.nodes(t)
			for i, c := range cacheChanges {
				t.Run(c.name, func(t *testing.T) {
					ctx := context.Background()
					name := fmt.Sprintf("t%d", i)
					tn := a.tenant(name)
					u := a.user(tn.id, "admin2@"+name+".test", bulwark.RoleAdmin)
					// An admin key made by another key, carrying u's rights,
					// expiring in an hour.
					_, pk, err := IssueKey(ctx, a.db, tn.id, KeySpec{Name: "parent", Role: bulwark.RoleAdmin, CreatedBy: "test", CreatorUser: u.ID})
					if err != nil {
						t.Fatal(err)
					}
					key, k, err := IssueKey(ctx, a.db, tn.id, KeySpec{Name: "cached", Role: bulwark.RoleAdmin, CreatedBy: "key:" + pk.ID,
						CreatorUser: u.ID, CreatorKey: pk.ID, Expires: a.clock.Now().Add(time.Hour)})
					if err != nil {
						t.Fatal(err)
					}
					for i := range 2 { // fills the cache, then is served from it
						if w := b.do(req{method: "GET", path: c.path, key: key}); w.Code != http.StatusOK {
							t.Fatalf("request %d before the change = %d %s", i+1, w.Code, w.Body)
						}
					}
					c.change(t, a, tn, k.ID, u)
					var w *httptest.ResponseRecorder
					for range max(c.requests, 1) {
						w = b.do(req{method: "GET", path: c.path, key: key})
					}
					if w.Code != c.want {
						t.Errorf("request %d after the change = %d %s, want %d", max(c.requests, 1), w.Code, w.Body, c.want)
					}
				})
			}
		})
	}
}

// countingStore counts the store's key lookups.
type countingStore struct {
	testStore
	lookups atomic.Int64
}

func (s *countingStore) APIKeyByPrefix(ctx context.Context, prefix string) (bulwark.APIKey, []byte, error) {
	s.lookups.Add(1)
	return s.testStore.APIKeyByPrefix(ctx, prefix)
}

func (s *countingStore) AuthVersion(ctx context.Context) (uint64, bool, error) {
	return s.testStore.(bulwark.AuthVersioner).AuthVersion(ctx)
}

// TestKeyCacheIsNoPrefixOracle: a wrong secret with the prefix of a
// cached key is looked up in the store as a key of an unknown prefix is,
// so that neither is answered sooner than the other; the right secret is
// answered from the cache.
func TestKeyCacheIsNoPrefixOracle(t *testing.T) {
	t.Parallel()
	var cs *countingStore
	e := newEnv(t, rateLimitOff, func(c *Config) {
		cs = &countingStore{testStore: c.Store.(testStore)}
		c.Store = cs
	})
	key := e.tenant("acme").keys[bulwark.RoleViewer]
	wrong := key[:KeyPrefixLen] + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	if wrong == key {
		t.Fatal("the wrong key is the key")
	}
	unknown := "bwk_ZZZZZZZZ" + wrong[KeyPrefixLen:]
	me := func(k string) int { return e.do(req{method: "GET", path: "/api/v1/me", key: k}).Code }
	for range 2 { // the first fills the cache, the second reads it
		if me(key) != 200 {
			t.Fatal("the key does not authenticate")
		}
	}
	for _, c := range []struct {
		name        string
		key         string
		status      int
		wantLookups int64
	}{
		{"the cached key", key, 200, 0},
		{"a wrong secret with the cached key's prefix", wrong, 401, 1},
		{"an unknown prefix", unknown, 401, 1},
		{"the cached key again (a wrong secret did not evict it)", key, 200, 0},
	} {
		before := cs.lookups.Load()
		if got := me(c.key); got != c.status {
			t.Errorf("%s: status %d, want %d", c.name, got, c.status)
		}
		if got := cs.lookups.Load() - before; got != c.wantLookups {
			t.Errorf("%s: %d store lookups, want %d", c.name, got, c.wantLookups)
		}
	}
}

// TestKeyCacheRevocationUnderLoad: with clients using a key on two
// processes of one SQLite file at once, no request that starts after
// the revocation has returned is let through, on either.
func TestKeyCacheRevocationUnderLoad(t *testing.T) {
	t.Parallel()
	a := newEnv(t, rateLimitOff)
	b := a.otherNode(rateLimitOff)
	tn := a.tenant("acme")
	key, keyID := tn.keys[bulwark.RoleViewer], tn.keyIDs[bulwark.RoleViewer]
	for _, n := range []*env{a, b} { // builds each handler before the goroutines share it
		if w := n.do(req{method: "GET", path: "/api/v1/me", key: key}); w.Code != http.StatusOK {
			t.Fatalf("before the revocation = %d %s", w.Code, w.Body)
		}
	}
	var revoked atomic.Bool
	var late atomic.Int64 // requests started after the revocation returned, let through
	stop := racetest.Loop(8, func(i int) {
		node := []*env{a, b}[i%2]
		after := revoked.Load()
		if code := node.do(req{method: "GET", path: "/api/v1/me", key: key}).Code; after && code == http.StatusOK {
			late.Add(1)
		}
	})
	time.Sleep(50 * time.Millisecond)
	if err := a.db.DeleteAPIKey(context.Background(), tn.id, keyID); err != nil {
		t.Fatal(err)
	}
	revoked.Store(true)
	time.Sleep(50 * time.Millisecond)
	stop()
	if n := late.Load(); n != 0 {
		t.Errorf("%d requests that started after the revocation returned were let through", n)
	}
}
