package server

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"
)

type keysResponse struct {
	Keys []keyView `json:"keys"`
	// MaxAgeDays is the tenant's key_max_age_days: keys older are Stale.
	MaxAgeDays int `json:"max_age_days,omitempty"`
}

// keyView is a key as listed: Stale when it is older than the tenant's
// key_max_age_days, and should be rotated.
type keyView struct {
	bulwark.APIKey
	Stale bool `json:"stale,omitempty"`
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	t := TenantFrom(r.Context())
	ks, err := s.store.ListAPIKeys(r.Context(), t)
	if err != nil {
		return err
	}
	st, err := s.store.Settings(r.Context(), t)
	if err != nil {
		return err
	}
	views := make([]keyView, len(ks))
	for i, k := range ks {
		if e, ok := k.InEffect(ks); ok { // as it authenticates: its chain bounds its expiry
			k = e
		}
		views[i] = keyView{APIKey: k, Stale: StaleKey(k, st.KeyMaxAgeDays, s.now())}
	}
	writeJSON(w, http.StatusOK, keysResponse{Keys: views, MaxAgeDays: st.KeyMaxAgeDays})
	return nil
}

// StaleKey reports whether k is older than maxAgeDays at now (0: no key
// is): a key that should be rotated.
func StaleKey(k bulwark.APIKey, maxAgeDays int, now time.Time) bool {
	return maxAgeDays > 0 && now.Sub(k.Created) > time.Duration(maxAgeDays)*24*time.Hour
}

// createKeyRequest is the body of POST /api/v1/keys.
type createKeyRequest struct {
	Name      string       `json:"name"`
	Role      bulwark.Role `json:"role,omitempty"`       // default member; at most the caller's
	Scopes    []string     `json:"scopes,omitempty"`     // default: all the role allows
	ExpiresIn string       `json:"expires_in,omitempty"` // a duration: "720h"
}

type createKeyResponse struct {
	Key   bulwark.APIKey `json:"key"`
	Token string         `json:"token"` // the key itself: shown this once
}

// maxKeyLifetime bounds expires_in.
const maxKeyLifetime = 5 * 365 * 24 * time.Hour

func (req *createKeyRequest) check(op string, caller bulwark.Role, now time.Time) (KeySpec, error) {
	spec := KeySpec{Name: strings.TrimSpace(req.Name), Role: req.Role, Scopes: req.Scopes}
	if spec.Name == "" || utf8.RuneCountInString(spec.Name) > 100 || !printable(spec.Name) {
		return spec, bulwark.Errorf(bulwark.Invalid, op, "name the key: 1 to 100 printable characters")
	}
	if spec.Role == "" {
		spec.Role = bulwark.RoleMember
	}
	if !spec.Role.Valid() {
		return spec, bulwark.Errorf(bulwark.Invalid, op, "unknown role: want viewer, member, admin or owner")
	}
	if !caller.AtLeast(spec.Role) {
		return spec, bulwark.Errorf(bulwark.PermissionDenied, op, "a key cannot have a higher role than yours")
	}
	if len(spec.Scopes) > len(Scopes) {
		return spec, bulwark.Errorf(bulwark.Invalid, op, "too many scopes")
	}
	for _, sc := range spec.Scopes {
		if !validScope(sc) {
			return spec, bulwark.Errorf(bulwark.Invalid, op, "unknown scope: want one of %s", strings.Join(Scopes, ", "))
		}
	}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 || d > maxKeyLifetime {
			return spec, bulwark.Errorf(bulwark.Invalid, op, "expires_in is a positive duration such as \"720h\", at most 5 years")
		}
		spec.Expires = now.Add(d)
	}
	return spec, nil
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	const op = "server.createKey"
	p, _ := PrincipalFrom(r.Context())
	var req createKeyRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	// Checked with the rights the caller has now, and made, under the
	// tenant's roles lock, as a user is (createUser).
	p, unlock, err := s.lockRoles(r, p)
	if err != nil {
		return err
	}
	defer unlock()
	spec, err := req.check(op, p.Role, s.now())
	if err != nil {
		return err
	}
	if err := checkKeyDelegation(op, p, spec, s.now()); err != nil {
		return err
	}
	spec.CreatedBy, spec.CreatorUser, spec.CreatorKey = p.Actor(), p.RightsUser(), p.KeyID
	token, k, err := IssueKey(r.Context(), s.store, p.Tenant, spec)
	if err != nil {
		return err
	}
	if err := s.audit(r, audit.Record{Action: "key.create", Target: k.ID, Details: map[string]string{"name": k.Name, "role": string(k.Role)}}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createKeyResponse{Key: k, Token: token})
	return nil
}

// deleteKey revokes a key, and the keys it made: they are deleted, so the
// next request with them fails (nothing caches keys). Nobody revokes a
// key above them.
func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) error {
	const op = "server.deleteKey"
	p, _ := PrincipalFrom(r.Context())
	id := r.PathValue("id")
	if err := s.checkKeyRevocable(r.Context(), op, p, id); err != nil {
		if bulwark.ErrorKind(err) == bulwark.PermissionDenied {
			return s.refuse(r, p, metrics.ForbiddenRoute, "key.revoke_refused", err)
		}
		return err
	}
	if err := s.store.DeleteAPIKey(r.Context(), p.Tenant, id); err != nil {
		return err
	}
	if err := s.audit(r, audit.Record{Action: "key.revoke", Target: id}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// printable reports whether s holds no control characters and no
// invisible format characters (bidirectional overrides, zero-width).
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || bulwark.IsInvisibleFormat(r) })
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
