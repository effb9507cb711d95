package server

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// Delegation never widens: what a key or session hands on (a key, a
// user, a role) can do at most what the caller can, for at most as long.
//
//   - a key gets at most the caller's role; a caller with scopes gives
//     only some of its scopes; a caller that expires gives a key that
//     expires no later;
//   - a user (created, or given a higher role) gets at most the caller's
//     role, and only from a caller without an expiry whose scopes cover
//     every route the role opens: a user logs in to a session that has
//     no scopes and no expiry;
//   - nobody revokes, demotes or deletes the credentials of someone above
//     them (an admin cannot touch an owner's);
//   - nobody is handed a credential that carries another user's rights
//     (their private memories, the tasks they own): a key carrying a
//     user's rights is rotated only by that user (checkOwnRights), though
//     those at or above it may revoke it.

// lowerRole returns the lower of two tenant roles.
func lowerRole(a, b bulwark.Role) bulwark.Role {
	if a.AtLeast(b) {
		return b
	}
	return a
}

// checkKeyDelegation refuses a key spec wider than the caller p at now:
// role (checked by createKeyRequest.check), scopes and expiry.
func checkKeyDelegation(op string, p Principal, spec KeySpec, now time.Time) error {
	if len(p.Scopes) > 0 {
		if len(spec.Scopes) == 0 {
			return bulwark.Errorf(bulwark.PermissionDenied, op,
				"your key has scopes (%s): a key it makes needs scopes too, some of those", strings.Join(p.Scopes, ", "))
		}
		for _, sc := range spec.Scopes {
			if !slices.Contains(p.Scopes, sc) {
				return bulwark.Errorf(bulwark.PermissionDenied, op,
					"a key cannot have scopes yours lacks: give some of %s", strings.Join(p.Scopes, ", "))
			}
		}
	}
	if !p.Expires.IsZero() && (spec.Expires.IsZero() || spec.Expires.After(p.Expires)) {
		left := p.Expires.Sub(now).Truncate(time.Second)
		return bulwark.Errorf(bulwark.PermissionDenied, op,
			"your key expires: a key it makes must expire no later (expires_in at most %s)", max(left, 0))
	}
	return nil
}

// checkUserDelegation refuses to give a user role (by creating the user
// or raising the user to it) when that would give more than the caller p
// has.
func (s *Server) checkUserDelegation(op string, p Principal, role bulwark.Role) error {
	if err := checkGrant(op, p.Role, role); err != nil {
		return err
	}
	if !p.Expires.IsZero() {
		return bulwark.Errorf(bulwark.PermissionDenied, op,
			"your key expires, and a user would not: use a key that does not expire, or log in")
	}
	if len(p.Scopes) == 0 {
		return nil
	}
	for _, sc := range s.roleScopes(role) {
		if !slices.Contains(p.Scopes, sc) {
			return bulwark.Errorf(bulwark.PermissionDenied, op,
				"a %s reaches routes of scopes your key lacks (%s): a key with scopes cannot give more than it has", role, strings.Join(s.roleScopes(role), ", "))
		}
	}
	return nil
}

// roleScopes returns the scopes of the routes role may call.
func (s *Server) roleScopes(role bulwark.Role) []string {
	var out []string
	for _, rt := range s.Routes() {
		if rt.Scope != "" && rt.Role != "" && rt.Role != bulwark.RoleOperator && role.AtLeast(rt.Role) && !slices.Contains(out, rt.Scope) {
			out = append(out, rt.Scope)
		}
	}
	slices.Sort(out)
	return out
}

// checkKeyRevocable refuses p revoking key id when it is above p: a key
// of a higher role, one made by such a key, or one that carries the
// rights of a user above p (an admin cannot revoke an owner's keys). An
// unknown id is NotFound.
func (s *Server) checkKeyRevocable(ctx context.Context, op string, p Principal, id string) error {
	ks, err := s.store.ListAPIKeys(ctx, p.Tenant)
	if err != nil {
		return err
	}
	byID := make(map[string]bulwark.APIKey, len(ks))
	for _, k := range ks {
		byID[k.ID] = k
	}
	k, ok := byID[id]
	if !ok {
		return bulwark.Errorf(bulwark.NotFound, op, "no such key")
	}
	for range len(ks) { // the key and the keys it comes from (a chain has no cycle; the bound is a guard)
		if !p.Role.AtLeast(k.Role) {
			return bulwark.Errorf(bulwark.PermissionDenied, op, "you cannot revoke a key of a role above yours, or made by one")
		}
		if k.CreatorKey == "" {
			break
		}
		if k, ok = byID[k.CreatorKey]; !ok {
			break
		}
	}
	if k := byID[id]; k.CreatorUser != "" {
		u, err := s.store.User(ctx, p.Tenant, k.CreatorUser)
		if err != nil && bulwark.ErrorKind(err) != bulwark.NotFound { // a key of a deleted user is dead: anyone may clear it
			return err
		}
		if err == nil && !p.Role.AtLeast(u.Role) {
			return bulwark.Errorf(bulwark.PermissionDenied, op, "you cannot revoke a key of a user above you")
		}
	}
	return nil
}

// checkOwnRights refuses p a new secret for key k (a rotation) when k
// carries the rights of a user other than p's: the token would let p act
// as that user. Keys the operator made carry no user's rights.
func checkOwnRights(op string, p Principal, k bulwark.APIKey) error {
	if k.CreatorUser != "" && k.CreatorUser != p.RightsUser() {
		return bulwark.Errorf(bulwark.PermissionDenied, op,
			"this key carries another user's rights: only that user rotates it (you may revoke it)")
	}
	return nil
}
