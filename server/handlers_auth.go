package server

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"
)

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// msgBadLogin is the one answer to a wrong email or a wrong password.
const msgBadLogin = "the email or the password is wrong"

// login checks an email and password and starts a session. Unknown emails
// and wrong passwords get the same answer after the same work (a hash
// against a dummy hash); failures slow down, then lock, the account named
// and the client's address (see throttlePolicy).
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	const op = "server.login"
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" {
		return bulwark.Errorf(bulwark.Invalid, op, "give an email and a password")
	}
	if len(req.Password) > MaxPasswordLen || len(req.Email) > 254 {
		return bulwark.Errorf(bulwark.Invalid, op, msgBadLogin)
	}
	acct := "acct|" + strings.ToLower(strings.TrimSpace(req.Email))
	addr := "addr|" + clientAddr(r)
	if wait := max(s.throttle.wait(acct), s.throttle.wait(addr)); wait > 0 {
		s.loginFailed(r, req.Email, "", "throttled")
		return rateLimited(op, "too many failed logins: wait before trying again", wait)
	}
	u, hash, err := s.store.UserByEmail(r.Context(), req.Email)
	switch {
	case err == nil:
	case bulwark.ErrorKind(err) == bulwark.NotFound:
		hash = s.dummyHash
	default:
		return err
	}
	ok, rehash, verr := VerifyPassword(hash, req.Password, s.cfg.Password)
	if verr != nil {
		s.logger(r).Error("a stored password hash cannot be read", "user", u.ID, "err", verr)
	}
	if !ok || u.ID == "" {
		lockedAcct := s.throttle.fail(acct, accountPolicy)
		lockedAddr := s.throttle.fail(addr, addressPolicy)
		reason := "bad_credentials"
		if lockedAcct || lockedAddr {
			reason = "bad_credentials_locked"
		}
		s.loginFailed(r, req.Email, u.TenantID, reason)
		return bulwark.Errorf(bulwark.Unauthenticated, op, msgBadLogin)
	}
	if rehash {
		if h, err := HashPassword(req.Password, s.cfg.Password); err == nil {
			if err := s.store.SetPasswordHash(r.Context(), u.TenantID, u.ID, h); err != nil {
				s.logger(r).Warn("cannot rehash a password", "user", u.ID, "err", err)
			}
		}
	}
	s.throttle.reset(acct)
	sess, err := s.startSession(w, r, u)
	if err != nil {
		return err
	}
	r = r.WithContext(WithPrincipal(r.Context(), Principal{Tenant: u.TenantID, Role: u.Role, UserID: u.ID, SessionID: sess.ID}))
	if err := s.audit(r, audit.Record{Action: "auth.login", Target: u.ID, Details: map[string]string{"client": clientAddr(r), "session": sess.ID}}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, meResponse{Tenant: u.TenantID, Role: u.Role, User: &u, Session: &sessionView{sess.ID, sess.Created.Add(SessionMax)}})
	return nil
}

// loginFailed counts and audits a failed login.
func (s *Server) loginFailed(r *http.Request, email string, tenant bulwark.TenantID, reason string) {
	s.sec.Inc(metrics.AuthFailed)
	s.auditRefusal(r, audit.Record{TenantID: string(tenant), Actor: "anonymous", Action: "auth.login_failed", Target: email,
		Outcome: audit.OutcomeDenied, Details: map[string]string{"client": clientAddr(r), "reason": reason}})
}

// logout ends the request's session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	if err := s.store.DeleteSession(r.Context(), p.Tenant, p.SessionID); err != nil && bulwark.ErrorKind(err) != bulwark.NotFound {
		return err
	}
	clearSessionCookie(w)
	if err := s.audit(r, audit.Record{Action: "auth.logout", Target: p.SessionID}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// logoutAll ends every session of the request's user.
func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	n, err := s.store.DeleteUserSessions(r.Context(), p.Tenant, p.UserID)
	if err != nil {
		return err
	}
	clearSessionCookie(w)
	if err := s.audit(r, audit.Record{Action: "auth.logout_all", Target: p.UserID, Details: map[string]string{"sessions": strconv.Itoa(n)}}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type meResponse struct {
	Tenant  bulwark.TenantID `json:"tenant_id"`
	Role    bulwark.Role     `json:"role"`
	User    *bulwark.User    `json:"user,omitempty"`
	Key     *bulwark.APIKey  `json:"key,omitempty"`
	Session *sessionView     `json:"session,omitempty"`
}

type sessionView struct {
	ID      string    `json:"id"`
	Expires time.Time `json:"expires"` // the absolute expiry; idle expiry comes sooner without requests
}

// me describes the caller.
func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	resp := meResponse{Tenant: p.Tenant, Role: p.Role}
	if p.UserID != "" {
		u, err := s.store.User(r.Context(), p.Tenant, p.UserID)
		if err != nil {
			return err
		}
		resp.User = &u
		resp.Session = &sessionView{ID: p.SessionID}
	}
	if p.KeyID != "" {
		resp.Key = &bulwark.APIKey{ID: p.KeyID, TenantID: p.Tenant, Role: p.Role, Scopes: p.Scopes}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}
