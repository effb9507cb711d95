package server

import (
	"context"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// SecretValuesReader reads the values of a tenant's secrets.
type SecretValuesReader interface {
	SecretValues(ctx context.Context, tenant bulwark.TenantID) (map[string]string, error)
}

// TenantRedactors keeps one secret.Redactor per tenant, holding that
// tenant's secrets and no other's: what a response for one tenant shows is
// masked with it, so that masking can never tell a client anything about
// another tenant's secrets. A request of no tenant (login, public routes)
// gets a redactor that holds no secret at all and only detects
// secret-looking strings.
//
// Redactors are built from the store on first use and kept while the
// store's authentication version (bulwark.AuthVersioner, which every
// change of a secret moves, made by any process or node) that the request
// read stays where it was when they were built: a secret added on another
// node, or by "bulwark secrets set", is masked at this server's next
// request. Where no version was read (a store without one, a change under
// way, a use outside a request), a redactor is kept for redactorTTL at
// most. Forget drops a tenant's at once; the server calls it on every
// change of the tenant's secrets it makes.
type TenantRedactors struct {
	store SecretValuesReader
	now   func() time.Time
	none  *secret.Redactor

	mu  sync.Mutex
	m   map[bulwark.TenantID]cachedRedactor
	gen uint64 // counts Forget calls: a redactor built across one is not kept
}

type cachedRedactor struct {
	red  *secret.Redactor
	at   time.Time
	seen authSeen // the version the request that built it read
}

// redactorTTL is how long a tenant's redactor is kept; maxRedactors bounds
// how many are.
const (
	redactorTTL  = time.Minute
	maxRedactors = 10_000
)

// NewTenantRedactors returns redactors built from store's secrets; now is
// the clock (nil: time.Now).
func NewTenantRedactors(store SecretValuesReader, now func() time.Time) *TenantRedactors {
	if now == nil {
		now = time.Now
	}
	return &TenantRedactors{store: store, now: now, none: secret.NewRedactor(), m: map[bulwark.TenantID]cachedRedactor{}}
}

// For returns the redactor of tenant ("" for none). A store error is
// returned as is: the caller must not show what it meant to mask.
func (c *TenantRedactors) For(ctx context.Context, tenant bulwark.TenantID) (*secret.Redactor, error) {
	p, _ := PrincipalFrom(ctx)
	return c.forSeen(ctx, tenant, p.seen)
}

// forSeen is For for a caller that read the store's version seen (none:
// the zero authSeen).
func (c *TenantRedactors) forSeen(ctx context.Context, tenant bulwark.TenantID, seen authSeen) (*secret.Redactor, error) {
	if tenant == "" {
		return c.none, nil
	}
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[tenant]
	gen := c.gen
	c.mu.Unlock()
	if ok && now.Sub(e.at) < redactorTTL && fresh(e.seen, seen) {
		return e.red, nil
	}
	vals, err := c.store.SecretValues(ctx, tenant)
	if err != nil {
		return nil, err
	}
	red := secret.RedactorOf(vals)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return red, nil // the secrets changed while they were read: use, do not keep
	}
	if len(c.m) >= maxRedactors {
		clear(c.m)
	}
	c.m[tenant] = cachedRedactor{red: red, at: now, seen: seen}
	return red, nil
}

// fresh says whether secrets read by a request that saw the store's
// version built may mask for one that saw req: read at req's version or a
// later one (of the same epoch, authCache.seen), or req saw none.
func fresh(built, req authSeen) bool {
	if !req.ok {
		return true
	}
	return built.ok && built.epoch == req.epoch && built.v >= req.v
}

// Forget drops tenant's redactor: the next For builds it again from the
// store.
func (c *TenantRedactors) Forget(tenant bulwark.TenantID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, tenant)
	c.gen++
}
