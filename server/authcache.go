package server

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// authCache keeps what authenticating an API key read from the store (the
// key's record and hash, and the role its user bounds it to) and each
// tenant's rate limits, for as long as the store's authentication version
// (bulwark.AuthVersioner) stays where it was before they were read. The
// store changes that version with every revocation, change or deletion of
// a user, and change of settings, made by any process or node, before the
// call that makes it returns: the next request, on any node, reads the new
// version, finds nothing of the old one, and reads the store.
//
// What is cached is checked again at every request as the store's record
// would be: the presented key's SHA-256 against the cached hash, in
// constant time, and the key's expiry against the clock. A key that does
// not match its cached hash is not refused from the cache: it goes to the
// store as an unknown one does, so that the cache tells nothing about
// which prefixes exist (see authenticateKey).
type authCache struct {
	store bulwark.AuthVersioner // nil: nothing is cached

	// highest is the highest version read; epoch counts the times the
	// store's version was found to have gone back below it (a database
	// restored, or its version file rewound, under a running server):
	// what was cached before may come back to the same version number
	// after changes it missed (ABA), so entries of an older epoch are
	// never used.
	highest atomic.Uint64
	epoch   atomic.Uint64

	mu      sync.RWMutex
	ep      uint64 // the epoch of what is cached
	version uint64 // the newest version anything was cached at
	keys    map[string]*cachedKey
	rates   map[bulwark.TenantID]cachedRates
}

// cachedKey is an API key as its authentication found it.
type cachedKey struct {
	epoch   uint64
	version uint64
	key     bulwark.APIKey
	hash    []byte
	role    bulwark.Role // the key's role, bounded by its user's
	touched atomic.Int64 // unix nanoseconds of the last use recorded
}

type cachedRates struct {
	epoch   uint64
	version uint64
	rl      bulwark.RateLimitSettings
}

// authSeen is the authentication version one request read, once: ok is
// false when nothing may be cached or used from the cache (no versioned
// store, a change under way, the version unreadable).
type authSeen struct {
	v     uint64
	epoch uint64
	ok    bool
	read  bool
}

func newAuthCache(store bulwark.Store) *authCache {
	v, _ := store.(bulwark.AuthVersioner)
	return &authCache{store: v, keys: map[string]*cachedKey{}, rates: map[bulwark.TenantID]cachedRates{}}
}

// seen reads the store's version. An error is not the request's: it reads
// the store, which answers it.
func (c *authCache) seen(ctx context.Context) authSeen {
	if c.store == nil {
		return authSeen{read: true}
	}
	// Both read before the store is: a version read after another
	// request read h is not below h unless the store's went back.
	ep, h := c.epoch.Load(), c.highest.Load()
	v, stable, err := c.store.AuthVersion(ctx)
	if err != nil {
		return authSeen{read: true}
	}
	if v < h {
		if c.epoch.CompareAndSwap(ep, ep+1) {
			c.highest.Store(v)
		}
		return authSeen{read: true} // this once, nothing cached or used
	}
	for v > h && !c.highest.CompareAndSwap(h, v) {
		h = c.highest.Load()
	}
	return authSeen{v: v, epoch: ep, ok: stable, read: true}
}

// key returns the key of prefix cached at version at.
func (c *authCache) key(prefix string, at authSeen) (*cachedKey, bool) {
	if !at.ok {
		return nil, false
	}
	c.mu.RLock()
	e := c.keys[prefix]
	c.mu.RUnlock()
	return e, e != nil && e.version == at.v && e.epoch == at.epoch
}

func (c *authCache) putKey(prefix string, e *cachedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.move(e.epoch, e.version) {
		c.keys[prefix] = e
	}
}

// rates returns tenant t's rate limits cached at version at.
func (c *authCache) ratesOf(t bulwark.TenantID, at authSeen) (bulwark.RateLimitSettings, bool) {
	if !at.ok {
		return bulwark.RateLimitSettings{}, false
	}
	c.mu.RLock()
	e, ok := c.rates[t]
	c.mu.RUnlock()
	return e.rl, ok && e.version == at.v && e.epoch == at.epoch
}

func (c *authCache) putRates(t bulwark.TenantID, at authSeen, rl bulwark.RateLimitSettings) {
	if !at.ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.move(at.epoch, at.v) {
		c.rates[t] = cachedRates{at.epoch, at.v, rl}
	}
}

// move drops what was cached at versions older than v (of epoch ep), and
// reports whether something read at v may be kept (not when a newer
// version or epoch has been seen). The maps are bounded as the limiters
// are.
func (c *authCache) move(ep, v uint64) bool {
	if ep < c.ep || ep == c.ep && v < c.version {
		return false
	}
	if ep > c.ep || v > c.version || len(c.keys) >= maxLimiters || len(c.rates) >= maxLimiters {
		clear(c.keys)
		clear(c.rates)
		c.ep, c.version = ep, v
	}
	return true
}

// principal is the principal of the cached key.
func (e *cachedKey) principal() Principal {
	k := e.key
	return Principal{Tenant: k.TenantID, Role: e.role, KeyID: k.ID, Scopes: slices.Clone(k.Scopes), Expires: k.Expires, ForUser: k.CreatorUser}
}

// touch reports whether the key's use at now should be recorded (once a
// keyTouchEvery), and claims it, so that one request of many records it.
func (e *cachedKey) touch(now time.Time) bool {
	last := e.touched.Load()
	return now.UnixNano()-last >= int64(keyTouchEvery) && e.touched.CompareAndSwap(last, now.UnixNano())
}
