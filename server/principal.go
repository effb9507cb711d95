package server

import (
	"context"
	"slices"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// Principal is who makes a request: a user logged in with a session, or
// an API key. Every authenticated handler finds one in its request's
// context and scopes everything it does to Principal.Tenant.
type Principal struct {
	Tenant    bulwark.TenantID // "" only for operator keys
	Role      bulwark.Role
	UserID    string   // the logged-in user; "" for API keys
	SessionID string   // the session; "" for API keys
	KeyID     string   // the API key; "" for sessions
	Scopes    []string // the key's scopes; empty: all its role allows
	// Expires is when the key expires; zero for keys that do not, and for
	// sessions (a session's user does not expire).
	Expires time.Time
	// SessionExpires is when the session ends at the latest (its absolute
	// expiry); zero for API keys.
	SessionExpires time.Time
	// ForUser is, for a key, the user whose rights it carries (its
	// CreatorUser); "" for keys the operator made. See RightsUser.
	ForUser string

	// seen is the store's authentication version as the request's
	// authentication read it (authcache.go), so that the rate limits'
	// check reads it no second time.
	seen authSeen

	// MustEnrol is set for a session whose user must turn on a second
	// factor before anything else (the tenant requires one): only routes
	// marked Enrol are open to it.
	MustEnrol bool
}

// RightsUser is the user whose rights the principal carries: the
// session's user, or the key's CreatorUser; "" for keys the operator
// made. Keys the principal makes carry the same user's rights.
func (p Principal) RightsUser() string {
	if p.UserID != "" {
		return p.UserID
	}
	return p.ForUser
}

// Actor names the principal in audit records: "user:u_..." or "key:k_...".
func (p Principal) Actor() string {
	switch {
	case p.UserID != "":
		return "user:" + p.UserID
	case p.KeyID != "":
		return "key:" + p.KeyID
	}
	return "anonymous"
}

// Can reports whether the principal's role and scopes allow rt.
func (p Principal) Can(rt Route) bool {
	if rt.Role == "" {
		return true
	}
	if rt.Role != bulwark.RoleOperator && p.Tenant == "" {
		return false
	}
	if !p.Role.AtLeast(rt.Role) {
		return false
	}
	return len(p.Scopes) == 0 || rt.Scope == "" || slices.Contains(p.Scopes, rt.Scope)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal of a request's context; ok is false
// for a request that was not authenticated (public routes, login).
func PrincipalFrom(ctx context.Context) (p Principal, ok bool) {
	p, ok = ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// TenantFrom returns the tenant of the request's principal, or "" (which
// every store method refuses) when there is none.
func TenantFrom(ctx context.Context) bulwark.TenantID {
	p, _ := PrincipalFrom(ctx)
	return p.Tenant
}
