package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
	"golang.org/x/time/rate"
)

// DefaultRateLimits are the request rate limits of a tenant that sets
// none: for each key or session, and for the whole tenant.
var DefaultRateLimits = bulwark.RateLimitSettings{PerKey: 10, PerTenant: 50, Burst: 50}

// Limits of requests by client address, on public routes, login, and for
// requests with bad credentials.
const (
	addressRate  = 5 // a second
	addressBurst = 30
)

// Memory bounds of the limiter tables: at most maxLimiters buckets; a
// bucket untouched for limiterIdle is dropped (it would be full again).
const (
	maxLimiters = 100_000
	limiterIdle = 10 * time.Minute
)

func withDefaultRates(s, def bulwark.RateLimitSettings) bulwark.RateLimitSettings {
	if s.PerKey <= 0 {
		s.PerKey = def.PerKey
	}
	if s.PerTenant <= 0 {
		s.PerTenant = def.PerTenant
	}
	if s.Burst <= 0 {
		s.Burst = def.Burst
	}
	return s
}

// limiterSet is a bounded table of token buckets by key.
type limiterSet struct {
	now   func() time.Time
	max   int
	idle  time.Duration
	mu    sync.Mutex
	m     map[string]*bucket
	calls int
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

func newLimiterSet(now func() time.Time, max int, idle time.Duration) *limiterSet {
	return &limiterSet{now: now, max: max, idle: idle, m: map[string]*bucket{}}
}

// allow takes a token from key's bucket (rate r a second, burst b),
// creating it full. When there is none it returns false and how long
// until there is.
func (ls *limiterSet) allow(key string, r float64, b int) (bool, time.Duration) {
	now := ls.now()
	ls.mu.Lock()
	defer ls.mu.Unlock()
	bk := ls.m[key]
	if bk == nil {
		ls.evict(now)
		bk = &bucket{lim: rate.NewLimiter(rate.Limit(r), b)}
		ls.m[key] = bk
	} else if bk.lim.Limit() != rate.Limit(r) || bk.lim.Burst() != b {
		bk.lim.SetLimitAt(now, rate.Limit(r))
		bk.lim.SetBurstAt(now, b)
	}
	bk.last = now
	res := bk.lim.ReserveN(now, 1)
	if !res.OK() {
		return false, time.Minute
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// allowSample allows one event a minute for key: for audit records of
// refusals, which an attacker could otherwise use to flood the log.
func (ls *limiterSet) allowSample(key string) bool {
	ok, _ := ls.allow(key, 1.0/60, 1)
	return ok
}

// evict drops idle buckets every so often, and when the table is full;
// if it is still full, it drops buckets at random (Go's map order) until
// there is room. ls.mu is held.
func (ls *limiterSet) evict(now time.Time) {
	ls.calls++
	if len(ls.m) < ls.max && ls.calls%1024 != 0 {
		return
	}
	for k, b := range ls.m {
		if now.Sub(b.last) >= ls.idle {
			delete(ls.m, k)
		}
	}
	for k := range ls.m {
		if len(ls.m) < ls.max {
			break
		}
		delete(ls.m, k)
	}
}

func (ls *limiterSet) len() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return len(ls.m)
}

// limitAddress charges the request's client address.
func (s *Server) limitAddress(r *http.Request) error {
	if s.cfg.RateLimitOff {
		return nil
	}
	if ok, wait := s.limits.allow("addr|"+clientAddr(r), addressRate, addressBurst); !ok {
		return s.refuse(r, Principal{}, metrics.RateLimited, "ratelimit.refused",
			rateLimited("server.limitAddress", "too many requests from your address: slow down", wait))
	}
	return nil
}

// limitPrincipal charges the principal's key or session and its tenant,
// at the tenant's rates.
func (s *Server) limitPrincipal(r *http.Request, p Principal) error {
	if s.cfg.RateLimitOff {
		return nil
	}
	rates := s.cfg.RateLimits
	if p.Tenant != "" {
		rates = withDefaultRates(s.tenantRates(r.Context(), p.Tenant), rates)
	}
	who := p.KeyID
	if who == "" {
		who = p.SessionID
	}
	if ok, wait := s.limits.allow("who|"+who, rates.PerKey, rates.Burst); !ok {
		return s.refuse(r, p, metrics.RateLimited, "ratelimit.refused",
			rateLimited("server.limitPrincipal", "too many requests: slow down", wait))
	}
	if p.Tenant == "" {
		return nil
	}
	if ok, wait := s.limits.allow("tenant|"+string(p.Tenant), rates.PerTenant, max(rates.Burst, int(rates.PerTenant))); !ok {
		return s.refuse(r, p, metrics.RateLimited, "ratelimit.refused",
			rateLimited("server.limitPrincipal", "too many requests for your tenant: slow down", wait))
	}
	return nil
}

// tenantRates returns the rate limits of a tenant's settings, from a
// cache that PUT /api/v1/settings invalidates (and that expires, for
// changes made by other servers).
func (s *Server) tenantRates(ctx context.Context, t bulwark.TenantID) bulwark.RateLimitSettings {
	if rl, ok := s.settings.get(t); ok {
		return rl
	}
	st, err := s.store.Settings(ctx, t)
	if err != nil {
		return bulwark.RateLimitSettings{} // the defaults; the handler will meet the store error
	}
	s.settings.put(t, st.RateLimit)
	return st.RateLimit
}

// settingsCache keeps each tenant's rate limits for settingsCacheTTL.
type settingsCache struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[bulwark.TenantID]cachedRates
}

type cachedRates struct {
	rl bulwark.RateLimitSettings
	at time.Time
}

const settingsCacheTTL = 30 * time.Second

func newSettingsCache(now func() time.Time) *settingsCache {
	return &settingsCache{now: now, m: map[bulwark.TenantID]cachedRates{}}
}

func (c *settingsCache) get(t bulwark.TenantID) (bulwark.RateLimitSettings, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[t]
	if !ok || c.now().Sub(e.at) >= settingsCacheTTL {
		return bulwark.RateLimitSettings{}, false
	}
	return e.rl, true
}

func (c *settingsCache) put(t bulwark.TenantID, rl bulwark.RateLimitSettings) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxLimiters {
		clear(c.m)
	}
	c.m[t] = cachedRates{rl, c.now()}
}

func (c *settingsCache) forget(t bulwark.TenantID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, t)
}
