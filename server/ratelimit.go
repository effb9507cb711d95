package server

import (
	"context"
	"net/http"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/limits"
	"github.com/bulwark-agents/bulwark/metrics"
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

// Memory bounds of the limiter tables kept in memory (limits.Memory*): at
// most maxLimiters buckets; a bucket untouched for limiterIdle is dropped
// (it would be full again).
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

// msgLimitsDown is the answer when a limit cannot be checked (the
// shared store of the limits is down): the request is refused, never let
// through.
const msgLimitsDown = "the server cannot check its rate limits now: try again shortly"

// allow takes a token from key's bucket in lim; an error of lim comes
// back as Unavailable (503), its cause for the log only.
func allow(ctx context.Context, lim limits.Limiter, key string, rate float64, burst int) (bool, time.Duration, error) {
	ok, wait, err := lim.Allow(ctx, key, rate, burst)
	if err != nil {
		return false, 0, bulwark.E(bulwark.Unavailable, "server.allow", msgLimitsDown, err)
	}
	return ok, wait, nil
}

// allowSample allows one event a minute for key: for audit records of
// refusals, which an attacker could otherwise use to flood the log. When
// the limiter fails the event is allowed: a record too many is better
// than a refusal not recorded.
func (s *Server) allowSample(r *http.Request, key string) bool {
	ok, _, err := s.samples.Allow(r.Context(), "sample|"+key, 1.0/60, 1)
	if err != nil {
		s.logger(r).Error("cannot check the sampling of audit records", "err", err)
		return true
	}
	return ok
}

// limitAddress charges the request's client address.
func (s *Server) limitAddress(r *http.Request) error {
	if s.cfg.RateLimitOff {
		return nil
	}
	ok, wait, err := allow(r.Context(), s.limits, "addr|"+clientAddr(r), addressRate, addressBurst)
	if err != nil {
		return err
	}
	if !ok {
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
		// Clamped after the defaults fill in: settings stored before a
		// ceiling was lowered, and defaults above it, give way to it.
		rates = s.cfg.Ceilings.ClampRates(withDefaultRates(s.tenantRates(r.Context(), p.Tenant, p.seen), rates))
	}
	who := p.KeyID
	if who == "" {
		who = p.SessionID
	}
	ok, wait, err := allow(r.Context(), s.limits, "who|"+who, rates.PerKey, rates.Burst)
	if err != nil {
		return err
	}
	if !ok {
		return s.refuse(r, p, metrics.RateLimited, "ratelimit.refused",
			rateLimited("server.limitPrincipal", "too many requests: slow down", wait))
	}
	if p.Tenant == "" {
		return nil
	}
	ok, wait, err = allow(r.Context(), s.limits, "tenant|"+string(p.Tenant), rates.PerTenant, max(rates.Burst, int(rates.PerTenant)))
	if err != nil {
		return err
	}
	if !ok {
		return s.refuse(r, p, metrics.RateLimited, "ratelimit.refused",
			rateLimited("server.limitPrincipal", "too many requests for your tenant: slow down", wait))
	}
	return nil
}

// tenantRates returns the rate limits of a tenant's settings, from
// s.auth while the store's authentication version has not moved since
// they were read (PUT /api/v1/settings moves it, on any node): a change
// applies on every node at the next request. seen is the version the
// request's authentication read, if it read one.
func (s *Server) tenantRates(ctx context.Context, t bulwark.TenantID, seen authSeen) bulwark.RateLimitSettings {
	if !seen.read {
		seen = s.auth.seen(ctx)
	}
	if rl, ok := s.auth.ratesOf(t, seen); ok {
		return rl
	}
	st, err := s.store.Settings(ctx, t)
	if err != nil {
		return bulwark.RateLimitSettings{} // the defaults; the handler will meet the store error
	}
	s.auth.putRates(t, seen, st.RateLimit)
	return st.RateLimit
}
