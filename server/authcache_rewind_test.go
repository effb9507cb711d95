package server

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/bulwark-agents/bulwark"
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
