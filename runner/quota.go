package runner

import (
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// quotaTTL is how long a tenant's concurrency quota is kept before
// Config.Quota is asked again: a changed setting takes effect within it.
const quotaTTL = 5 * time.Second

// maxCachedQuotas bounds the cache; past it, it starts over.
const maxCachedQuotas = 100_000

// quotaCache keeps the answers of a quota function (which may read the
// store) for quotaTTL, so that the scheduler seldom waits on the store.
type quotaCache struct {
	fn  func(bulwark.TenantID) int
	now func() time.Time
	mu  sync.Mutex
	m   map[bulwark.TenantID]cachedQuota
}

type cachedQuota struct {
	n  int
	at time.Time
}

func newQuotaCache(fn func(bulwark.TenantID) int, now func() time.Time) *quotaCache {
	return &quotaCache{fn: fn, now: now, m: map[bulwark.TenantID]cachedQuota{}}
}

// get returns the tenant's quota, asking fn (without the lock held) when
// the cached answer is missing or stale.
func (c *quotaCache) get(t bulwark.TenantID) int {
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[t]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < quotaTTL {
		return e.n
	}
	n := c.fn(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedQuotas {
		clear(c.m)
	}
	c.m[t] = cachedQuota{n, now}
	return n
}
