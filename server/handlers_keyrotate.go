package server

import (
	"net/http"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"
)

// rotateKeyRequest is the body of POST /api/v1/keys/{id}/rotate (it may
// be left out).
type rotateKeyRequest struct {
	// Grace is how long the old key keeps working, a duration from 0s to
	// maxRotateGrace; default defaultRotateGrace.
	Grace string `json:"grace,omitempty"`
	// ExpiresIn is the new key's lifetime; default: the old key's expiry
	// (none if it had none).
	ExpiresIn string `json:"expires_in,omitempty"`
}

type rotateKeyResponse struct {
	Key   bulwark.APIKey `json:"key"`
	Token string         `json:"token"` // the new key itself: shown this once
	// Old is the old key, with the expiry its grace period gave it.
	Old bulwark.APIKey `json:"old"`
}

const (
	defaultRotateGrace = time.Hour
	maxRotateGrace     = 7 * 24 * time.Hour
)

// rotateKey replaces a key by a new one with a new secret, the same name,
// role, scopes and chain (the key it was made from), carrying the rights
// of the caller it is handed to, and makes the old one expire after a grace period. It is creating a
// key, and revoking one later: the caller must be allowed both (a key
// above the caller is refused as a revocation is; the new key passes
// checkKeyDelegation as a created one does), so a rotation never gives
// more than the caller has; and a key carrying another user's rights is
// not rotated (checkOwnRights): its new secret would let the caller act
// as that user.
func (s *Server) rotateKey(w http.ResponseWriter, r *http.Request) error {
	const op = "server.rotateKey"
	p, _ := PrincipalFrom(r.Context())
	ctx := r.Context()
	var req rotateKeyRequest
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil {
			return err
		}
	}
	grace := defaultRotateGrace
	if req.Grace != "" {
		d, err := time.ParseDuration(req.Grace)
		if err != nil || d < 0 || d > maxRotateGrace {
			return bulwark.Errorf(bulwark.Invalid, op, "grace is a duration from \"0s\" to \"168h\" (default \"1h\")")
		}
		grace = d
	}
	id := r.PathValue("id")
	if err := s.checkKeyRevocable(ctx, op, p, id); err != nil {
		if bulwark.ErrorKind(err) == bulwark.PermissionDenied {
			return s.refuse(r, p, metrics.ForbiddenRoute, "key.rotate_refused", err)
		}
		return err
	}
	old, live, err := s.tenantKey(r, p.Tenant, id)
	if err != nil {
		return err
	}
	if err := checkOwnRights(op, p, old); err != nil {
		return s.refuse(r, p, metrics.ForbiddenRoute, "key.rotate_refused", err)
	}
	now := s.now()
	if !live || old.Expired(now) {
		return bulwark.Errorf(bulwark.Conflict, op, "the key has expired: make a new one")
	}
	// The new secret is handed to the caller: the new key carries the
	// caller's rights, as a key the caller made does (checkOwnRights
	// leaves these the old key's, or none where it carried none), so
	// that it ends with the caller's removal and is bounded by the
	// caller's role, as the caller's own keys are. It stays in the old
	// key's chain (CreatorKey): it ends with the key the old one was
	// made from.
	spec := KeySpec{Name: old.Name, Role: old.Role, Scopes: old.Scopes, Expires: old.Expires,
		CreatedBy: p.Actor(), CreatorUser: p.RightsUser(), CreatorKey: old.CreatorKey}
	if req.ExpiresIn != "" {
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 || d > maxKeyLifetime {
			return bulwark.Errorf(bulwark.Invalid, op, "expires_in is a positive duration such as \"720h\", at most 5 years")
		}
		spec.Expires = now.Add(d)
	}
	if !p.Role.AtLeast(spec.Role) {
		return s.refuse(r, p, metrics.ForbiddenRoute, "key.rotate_refused",
			bulwark.Errorf(bulwark.PermissionDenied, op, "a key cannot have a higher role than yours"))
	}
	if err := checkKeyDelegation(op, p, spec, now); err != nil {
		return s.refuse(r, p, metrics.ForbiddenRoute, "key.rotate_refused", err)
	}
	token, k, err := IssueKey(ctx, s.store, p.Tenant, spec)
	if err != nil {
		return err
	}
	old, err = s.store.ExpireAPIKey(ctx, p.Tenant, id, now.Add(grace))
	if err != nil {
		return err
	}
	if err := s.audit(r, audit.Record{Action: "key.rotate", Target: old.ID, Details: map[string]string{
		"new_key": k.ID, "grace": grace.String(), "old_expires": old.Expires.Format(time.RFC3339)}}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rotateKeyResponse{Key: k, Token: token, Old: old})
	return nil
}

// tenantKey returns a key of tenant by id, with the expiry it has in
// effect (bulwark.APIKey.InEffect), or NotFound. live is false when a key
// it was made from is gone.
func (s *Server) tenantKey(r *http.Request, tenant bulwark.TenantID, id string) (k bulwark.APIKey, live bool, err error) {
	ks, err := s.store.ListAPIKeys(r.Context(), tenant)
	if err != nil {
		return bulwark.APIKey{}, false, err
	}
	for _, k := range ks {
		if k.ID == id {
			k, live = k.InEffect(ks)
			return k, live, nil
		}
	}
	return bulwark.APIKey{}, false, bulwark.Errorf(bulwark.NotFound, "server.tenantKey", "no such key")
}
