package server

import (
	"context"
	"database/sql"
	"net/http"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/secret"
)

// settableVersion is a store's authentication version that a test moves.
type settableVersion struct{ v atomic.Uint64 }

func (s *settableVersion) AuthVersion(context.Context) (uint64, bool, error) {
	return s.v.Load(), true, nil
}

// TestKeyCacheVersionGoesBack: the store's version goes back (a database
// restored from a dump under running nodes: pg_restore brings back the
// auth_version row too), then climbs, through changes the cache never
// saw, to the number it had cached a key at. The key cached before must
// not be used: the ABA problem.
func TestKeyCacheVersionGoesBack(t *testing.T) {
	ctx := context.Background()
	store := &settableVersion{}
	c := &authCache{store: store, keys: map[string]*cachedKey{}, rates: map[bulwark.TenantID]cachedRates{}}
	store.v.Store(100)
	at := c.seen(ctx)
	c.putKey("bwk_AAAAAAAA", &cachedKey{epoch: at.epoch, version: at.v})
	c.putRates("tn_1", at, bulwark.RateLimitSettings{})
	if _, ok := c.key("bwk_AAAAAAAA", c.seen(ctx)); !ok {
		t.Fatal("the key is not cached at first")
	}
	store.v.Store(50) // restored
	for v := uint64(50); v <= 100; v++ {
		store.v.Store(v)
		now := c.seen(ctx)
		if _, ok := c.key("bwk_AAAAAAAA", now); ok {
			t.Fatalf("at version %d after the version went back from 100: the key cached before is used", v)
		}
		if _, ok := c.ratesOf("tn_1", now); ok {
			t.Fatalf("at version %d after the version went back from 100: the rates cached before are used", v)
		}
	}
	// And caching works again after.
	at = c.seen(ctx)
	c.putKey("bwk_BBBBBBBB", &cachedKey{epoch: at.epoch, version: at.v})
	if _, ok := c.key("bwk_BBBBBBBB", c.seen(ctx)); !ok {
		t.Error("after the version went back, nothing is cached any more")
	}
}

// TestKeyCacheRestoredPostgres: two nodes on one PostgreSQL database; one
// caches a key; the database is then put back to an older state (as
// pg_restore of a dump under running nodes does: here only its
// auth_version row, one change back), and the key revoked, which moves the
// version back to the very number the node cached the key at. The node's
// next request with the key must fail.
func TestKeyCacheRestoredPostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	open := func(t testing.TB, _ string, kr *secret.Keyring) testStore {
		t.Helper()
		db, err := postgres.Open(context.Background(), postgres.Config{URL: url, Keys: kr, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a := newEnvOn(t, open)
	b := a.otherNode()
	tn := a.tenant("acme")
	key, k, err := IssueKey(context.Background(), a.db, tn.id, KeySpec{Name: "cached", Role: bulwark.RoleAdmin, CreatedBy: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlDB.Close()
	if _, err := sqlDB.Exec(`UPDATE auth_version SET version = 10 WHERE id = 1`); err != nil { // ten changes made
		t.Fatal(err)
	}
	for i := range 2 {
		if w := b.do(req{method: "GET", path: "/api/v1/me", key: key}); w.Code != http.StatusOK {
			t.Fatalf("request %d = %d %s", i+1, w.Code, w.Body)
		}
	}
	if _, err := sqlDB.Exec(`UPDATE auth_version SET version = version - 1 WHERE id = 1`); err != nil {
		t.Fatal(err)
	}
	b.do(req{method: "GET", path: "/api/v1/me", key: key}) // a request while the version is back
	if err := a.db.DeleteAPIKey(context.Background(), tn.id, k.ID); err != nil {
		t.Fatal(err)
	}
	if w := b.do(req{method: "GET", path: "/api/v1/me", key: key}); w.Code != http.StatusUnauthorized {
		t.Errorf("the revoked key, the version back at the number it was cached at = %d, want 401", w.Code)
	}
}
