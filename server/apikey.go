package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// An API key is "bwk_" and 52 base32 characters (256 bits from
// crypto/rand). Its first KeyPrefixLen characters are stored in the clear
// to find it; the whole key only as its SHA-256, which is enough for a
// high-entropy secret (a slow hash protects guessable passwords, and
// these cannot be guessed).
const (
	keyMarker    = "bwk_"
	keyLen       = len(keyMarker) + 52
	KeyPrefixLen = len(keyMarker) + 8
)

// keyTouchEvery is how often a key's last use is written at most.
const keyTouchEvery = time.Minute

// newKeyToken returns a new API key and its hash.
func newKeyToken() (token string, hash []byte) {
	token = keyMarker + rand.Text() + rand.Text()
	h := sha256.Sum256([]byte(token))
	return token, h[:]
}

// wellFormedKey reports whether token has the shape of an API key.
func wellFormedKey(token string) bool {
	if len(token) != keyLen || !strings.HasPrefix(token, keyMarker) {
		return false
	}
	for _, c := range token[len(keyMarker):] {
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// KeySpec is what a new API key is given.
type KeySpec struct {
	Name      string
	Role      bulwark.Role
	Scopes    []string
	Expires   time.Time // zero: never
	CreatedBy string    // "cli", "user:u_...", "key:k_..."
	// CreatorUser is the user whose rights the key carries (see
	// bulwark.APIKey.CreatorUser); "" for keys the operator makes.
	CreatorUser string
	// CreatorKey is the key that makes this one, if one does: revoking
	// it revokes this one.
	CreatorKey string
}

// IssueKey makes an API key of tenant and returns the key itself (to be
// shown once, never again) and its record. An empty tenant makes an
// operator key (its role is RoleOperator whatever spec says).
func IssueKey(ctx context.Context, store bulwark.APIKeyStore, tenant bulwark.TenantID, spec KeySpec) (string, bulwark.APIKey, error) {
	for _, sc := range spec.Scopes {
		if !validScope(sc) {
			return "", bulwark.APIKey{}, bulwark.Errorf(bulwark.Invalid, "server.IssueKey", "unknown scope: want one of %s", strings.Join(Scopes, ", "))
		}
	}
	for try := 0; ; try++ {
		token, hash := newKeyToken()
		k := bulwark.APIKey{Name: spec.Name, Prefix: token[:KeyPrefixLen], Role: spec.Role, Scopes: spec.Scopes, Expires: spec.Expires, CreatedBy: spec.CreatedBy,
			CreatorUser: spec.CreatorUser, CreatorKey: spec.CreatorKey}
		var err error
		if tenant == "" {
			k, err = store.CreateOperatorKey(ctx, k, hash)
		} else {
			k, err = store.CreateAPIKey(ctx, tenant, k, hash)
		}
		if bulwark.ErrorKind(err) == bulwark.Conflict && try < 3 { // a prefix taken: 40 bits, so very rarely
			continue
		}
		if err != nil {
			return "", bulwark.APIKey{}, err
		}
		return token, k, nil
	}
}

func validScope(sc string) bool {
	for _, s := range Scopes {
		if s == sc {
			return true
		}
	}
	return false
}

// authenticateKey finds the principal of the request's API key. Any key
// that does not authenticate (malformed, unknown, revoked, expired, wrong,
// or carrying the rights of a user who no longer exists) gets the same
// Unauthenticated error. A key's role is bounded by the current role of
// the user whose rights it carries: demoting that user demotes the key.
//
// What the store says of a key is kept in s.auth (authcache.go) until the
// store's authentication version moves. A key found there is checked as
// one read from the store is: its hash, in constant time, and its expiry
// against the clock. One that does not match there (another secret with a
// cached prefix, or expired) is looked up in the store as one not cached
// is, so that a wrong secret for a cached prefix costs what an unknown
// prefix costs, as before the cache: its answer tells nothing of which
// prefixes exist.
func (s *Server) authenticateKey(r *http.Request) (Principal, error) {
	return s.keyPrincipal(r, true)
}

// keyPrincipal is authenticateKey; touch records the key's use (an open
// stream's recheck does not: it is no new use).
func (s *Server) keyPrincipal(r *http.Request, touch bool) (Principal, error) {
	const op = "server.authenticateKey"
	// Made on refusal only (every refusal makes it): not on every request.
	bad := func() error { return bulwark.Errorf(bulwark.Unauthenticated, op, "the API key is not valid") }
	token, ok := bearerToken(r)
	if !ok || !wellFormedKey(token) {
		return Principal{}, bad()
	}
	ctx := r.Context()
	prefix := token[:KeyPrefixLen]
	got := sha256.Sum256([]byte(token))
	now := s.now()
	// The version is read before the store, so that what the store says
	// is kept only at a version that does not already include a change
	// the read may have missed.
	seen := s.auth.seen(ctx)
	if e, ok := s.auth.key(prefix, seen); ok && subtle.ConstantTimeCompare(got[:], e.hash) == 1 && !e.key.Expired(now) {
		if touch && e.touch(now) {
			s.touchKey(r, e.key, now)
		}
		p := e.principal()
		p.seen = seen
		return p, nil
	}
	k, hash, err := s.store.APIKeyByPrefix(ctx, prefix)
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		return Principal{}, bad()
	}
	if err != nil {
		return Principal{}, err
	}
	if subtle.ConstantTimeCompare(got[:], hash) != 1 {
		return Principal{}, bad()
	}
	if k, ok, err = s.chainExpiry(ctx, k); err != nil {
		return Principal{}, err
	} else if !ok || k.Expired(now) {
		return Principal{}, bad()
	}
	e := &cachedKey{epoch: seen.epoch, version: seen.v, key: k, hash: hash, role: k.Role}
	if !k.LastUsed.IsZero() { // else 0: long ago
		e.touched.Store(k.LastUsed.UnixNano())
	}
	if touch && e.touch(now) {
		s.touchKey(r, k, now)
	}
	if k.CreatorUser != "" {
		u, err := s.store.User(ctx, k.TenantID, k.CreatorUser)
		if bulwark.ErrorKind(err) == bulwark.NotFound {
			return Principal{}, bad()
		}
		if err != nil {
			return Principal{}, err
		}
		e.role = lowerRole(k.Role, u.Role)
	}
	if seen.ok {
		s.auth.putKey(prefix, e)
	}
	p := e.principal()
	p.seen = seen
	return p, nil
}

// chainExpiry returns k with the expiry it has in effect
// (bulwark.APIKey.InEffect): the keys it was made from bound it. ok is
// false when a key of the chain is gone (revoked: the key should have gone
// with it).
func (s *Server) chainExpiry(ctx context.Context, k bulwark.APIKey) (bulwark.APIKey, bool, error) {
	if k.CreatorKey == "" || k.TenantID == "" {
		return k, true, nil
	}
	ks, err := s.store.ListAPIKeys(ctx, k.TenantID)
	if err != nil {
		return k, false, err
	}
	k, ok := k.InEffect(ks)
	return k, ok, nil
}

// touchKey records the key's use at now. A failure is logged: the request
// goes on.
func (s *Server) touchKey(r *http.Request, k bulwark.APIKey, now time.Time) {
	if err := s.store.TouchAPIKey(r.Context(), k.TenantID, k.ID, now); err != nil {
		s.logger(r).Warn("cannot record a key's last use", "key", k.ID, "err", err)
	}
}
