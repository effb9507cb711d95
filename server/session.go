package server

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// The session cookie. __Host- makes browsers keep it only when it is
// Secure, has Path=/ and no Domain: it cannot be set by a sibling domain
// or sent over plain HTTP (see the package comment for localhost).
const sessionCookie = "__Host-bulwark_session"

// Session lifetimes: a session ends after SessionIdle without a request,
// and SessionMax after login whatever happens. LastSeen is written at most
// once every sessionTouchEvery.
const (
	SessionIdle       = 30 * time.Minute
	SessionMax        = 12 * time.Hour
	sessionTouchEvery = time.Minute
)

// sessionTokenLen is the length of a session token: 32 random bytes
// (256 bits), base64url without padding.
const sessionTokenLen = 43

func newSessionToken() (token string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(token))
	return token, h[:]
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// startSession logs u in: it ends the session the request came with, if
// any (so a session id planted before login is worthless), stores a new
// one and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u bulwark.User) (bulwark.Session, error) {
	if c, err := r.Cookie(sessionCookie); err == nil && len(c.Value) == sessionTokenLen {
		if old, err := s.store.SessionByTokenHash(r.Context(), hashToken(c.Value)); err == nil {
			s.store.DeleteSession(r.Context(), old.TenantID, old.ID)
		}
	}
	token, hash := newSessionToken()
	sess, err := s.store.CreateSession(r.Context(), u.TenantID, bulwark.Session{UserID: u.ID, Created: s.now()}, hash)
	if err != nil {
		return sess, err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: token, Path: "/", MaxAge: int(SessionMax / time.Second),
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode,
	})
	return sess, nil
}

// clearSessionCookie tells the browser to drop its session cookie.
func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// authenticateSession finds the principal of the request's session
// cookie. The user's role is read at every request, so a role change
// applies at once. An expired session is deleted.
func (s *Server) authenticateSession(w http.ResponseWriter, r *http.Request) (Principal, error) {
	p, clear, err := s.sessionPrincipal(r, true)
	if clear {
		clearSessionCookie(w)
	}
	return p, err
}

// sessionPrincipal is authenticateSession without a response: clear says
// the cookie should be dropped. touch records the session's use (an open
// stream's recheck does not: it is no new use).
func (s *Server) sessionPrincipal(r *http.Request, touch bool) (p Principal, clear bool, err error) {
	const op = "server.authenticateSession"
	ctx := r.Context()
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return Principal{}, false, bulwark.Errorf(bulwark.Unauthenticated, op, "log in first")
	}
	bad := bulwark.Errorf(bulwark.Unauthenticated, op, "the session has ended: log in again")
	if len(c.Value) != sessionTokenLen {
		return Principal{}, true, bad
	}
	// The store's version, read before what it versions is: the rate
	// limits' and the redactors' caches serve this request only what
	// was read at it or after (authcache.go, redactors.go).
	seen := s.auth.seen(ctx)
	sess, err := s.store.SessionByTokenHash(ctx, hashToken(c.Value))
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		return Principal{}, true, bad
	}
	if err != nil {
		return Principal{}, false, err
	}
	now := s.now()
	if now.Sub(sess.LastSeen) >= SessionIdle || now.Sub(sess.Created) >= SessionMax {
		s.store.DeleteSession(ctx, sess.TenantID, sess.ID)
		return Principal{}, true, bad
	}
	u, err := s.store.User(ctx, sess.TenantID, sess.UserID)
	if bulwark.ErrorKind(err) == bulwark.NotFound {
		return Principal{}, true, bad
	}
	if err != nil {
		return Principal{}, false, err
	}
	if touch && now.Sub(sess.LastSeen) >= sessionTouchEvery {
		if err := s.store.TouchSession(ctx, sess.TenantID, sess.ID, now); err != nil {
			s.logger(r).Warn("cannot record a session's last use", "session", sess.ID, "err", err)
		}
	}
	// Read at every request, as the role is: requiring a second factor
	// applies at once to the sessions of users without one, on every node.
	enrol, err := s.mustEnrol(ctx, u)
	if err != nil {
		return Principal{}, false, err
	}
	return Principal{Tenant: sess.TenantID, Role: u.Role, UserID: u.ID, SessionID: sess.ID, SessionExpires: sess.Created.Add(SessionMax),
		MustEnrol: enrol, seen: seen}, false, nil
}
