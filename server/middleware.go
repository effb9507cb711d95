package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"
)

// route wraps rt's handler in the checks of its row of the table, in this
// order: body limit; the side's credentials (a bearer key on the API
// side, the session cookie on the browser side, after the cross-origin
// check of state-changing browser requests, checkOrigin); rate limits; role and scope. The
// handler's error is written as JSON.
func (s *Server) route(rt Route) http.Handler {
	maxBody := rt.MaxBody
	if maxBody == 0 {
		maxBody = DefaultMaxBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		var p Principal
		if err := s.serveRoute(rt, w, r, &p); err != nil {
			if bulwark.ErrorKind(err) == bulwark.Unauthenticated && r.Header.Get("Authorization") != "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark"`)
			}
			if p.Tenant != "" || p.Role != "" { // the error is masked for the principal's tenant
				r = r.WithContext(WithPrincipal(r.Context(), p))
			}
			s.writeError(w, r, s.screenBadInput(r, p, err), 0)
		}
	})
}

// serveRoute serves the request and sets *pp to its principal once it
// has authenticated.
func (s *Server) serveRoute(rt Route, w http.ResponseWriter, r *http.Request, pp *Principal) error {
	const op = "server.route"
	if rt.Side == Public {
		if err := s.limitAddress(r); err != nil {
			return err
		}
		return rt.Handler(w, r)
	}
	_, hasAuth := r.Header["Authorization"]
	switch {
	case hasAuth && rt.Side == Browser:
		return bulwark.Errorf(bulwark.Unauthenticated, op, "this route is for browsers and does not take API keys")
	case !hasAuth && rt.Side == API:
		return bulwark.Errorf(bulwark.Unauthenticated, op, "this route needs an API key, sent in the Authorization header as Bearer bwk_...")
	}
	var p Principal
	var err error
	switch {
	case hasAuth: // the API side: cookies are never read
		p, err = s.authenticateKey(r)
	default: // the browser side: only the session cookie
		if cerr := s.checkOrigin(r); cerr != nil {
			msg := "cross-origin request refused"
			if errors.Is(cerr, errNoOrigin) {
				msg = "this request has no Origin header: browsers send one, and a script that logs in must too " +
					"(Origin: the server's address, as http://localhost:8080); or call the API with an API key, sent in the Authorization header as Bearer bwk_..."
			}
			return s.refuse(r, Principal{}, metrics.CSRFRejected, "csrf.rejected",
				bulwark.E(bulwark.PermissionDenied, op, msg, cerr))
		}
		if rt.Role == "" { // login
			if err := s.limitAddress(r); err != nil {
				return err
			}
			return rt.Handler(w, r)
		}
		p, err = s.authenticateSession(w, r)
	}
	if err != nil {
		return s.authFailed(r, err)
	}
	*pp = p
	r = r.WithContext(WithPrincipal(r.Context(), p))
	if err := s.limitPrincipal(r, p); err != nil {
		return err
	}
	if !p.Can(rt) {
		return s.refuse(r, p, metrics.ForbiddenRoute, "auth.forbidden",
			bulwark.Errorf(bulwark.PermissionDenied, op, "your role does not allow this"))
	}
	if p.MustEnrol && !rt.Enrol {
		return s.refuse(r, p, metrics.ForbiddenRoute, "auth.enrol_required",
			withCode(bulwark.PermissionDenied, op, codeEnrolSecondFactor, msgEnrolSecondFactor))
	}
	if rt.Stream {
		release, err := s.streams.acquire(streamCredential(p), p.Tenant, clientAddr(r))
		if err != nil {
			return s.refuse(r, p, metrics.RateLimited, "stream.refused", err)
		}
		defer release()
		ctx, stop := s.watchCredential(r, rt, p)
		defer stop()
		r = r.WithContext(ctx)
	}
	return rt.Handler(w, r)
}

// watchCredential returns the context of a long-lived request (a stream),
// ended as soon as the credential that opened it no longer would: the key
// revoked or expired, the session logged out or expired, the user deleted,
// or the role lowered below the route's. The credential is checked again
// every Config.StreamRecheck, as a new request would check it, except
// that the check records no use of the key or session. A check the store
// cannot answer ends the stream too (it fails closed; the client
// reconnects). stop releases the watch.
func (s *Server) watchCredential(r *http.Request, rt Route, p Principal) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(r.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.cfg.StreamRecheck)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := s.stillAllowed(r.WithContext(ctx), rt, p); err != nil {
				if ctx.Err() == nil {
					s.logger(r).Info("an open stream ends: its credential no longer allows it", "actor", p.Actor(), "reason", bulwark.ErrorMessage(err))
				}
				cancel()
				return
			}
		}
	}()
	return ctx, func() { cancel(); <-done }
}

// stillAllowed checks again the credential of request r, which opened as
// p: nil when it would still authenticate as the same key or session, of
// the same tenant, allowed rt.
func (s *Server) stillAllowed(r *http.Request, rt Route, p Principal) error {
	const op = "server.stillAllowed"
	var np Principal
	var err error
	if p.KeyID != "" {
		np, err = s.keyPrincipal(r, false)
	} else {
		np, _, err = s.sessionPrincipal(r, false)
	}
	switch {
	case err != nil:
		return err
	case np.KeyID != p.KeyID || np.SessionID != p.SessionID || np.Tenant != p.Tenant:
		return bulwark.Errorf(bulwark.Unauthenticated, op, "the credential changed")
	case !np.Can(rt) || np.MustEnrol && !rt.Enrol:
		return bulwark.Errorf(bulwark.PermissionDenied, op, "your role no longer allows this")
	}
	return nil
}

// authFailed counts and audits a request whose credentials did not
// authenticate, and charges its client address: an address that keeps
// sending bad credentials is rate limited.
func (s *Server) authFailed(r *http.Request, err error) error {
	if bulwark.ErrorKind(err) != bulwark.Unauthenticated {
		return err // the store failed: not the client's fault
	}
	if hasCredentials(r) {
		s.sec.Inc(metrics.AuthFailed)
		// Counted per client and minute (auditRefusal).
		s.auditRefusal(r, audit.Record{Actor: "anonymous", Action: "auth.failed", Target: r.URL.Path, Outcome: audit.OutcomeDenied,
			Details: map[string]string{"client": clientAddr(r), "reason": bulwark.ErrorMessage(err)}})
	}
	if lerr := s.limitAddress(r); lerr != nil {
		return lerr
	}
	return err
}

// refuse counts, audits (at most once a minute for each kind and caller;
// for nobody known, one record a minute per client with the count) and
// returns a refusal.
func (s *Server) refuse(r *http.Request, p Principal, kind metrics.SecurityEvent, action string, err error) error {
	s.sec.Inc(kind)
	who := p.Actor()
	if who == "anonymous" {
		who = clientAddr(r)
	}
	if _, known := PrincipalFrom(r.Context()); !known || s.allowSample(r, action+"|"+who) {
		s.auditRefusal(r, audit.Record{TenantID: string(p.Tenant), Actor: p.Actor(), Action: action, Target: r.Method + " " + r.URL.Path,
			Outcome: audit.OutcomeDenied, Details: map[string]string{"client": clientAddr(r)}})
	}
	return err
}

func hasCredentials(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return true
	}
	_, err := r.Cookie(sessionCookie)
	return err == nil
}

// clientAddr is the address of the client, as limits and the audit log
// name it: the peer of the connection, or behind a trusted proxy the
// address it forwarded (see proxy.go). An IPv6 client is its /64.
func clientAddr(r *http.Request) string {
	a := clientOf(r).addr
	if !a.IsValid() {
		return r.RemoteAddr
	}
	if a.Is6() {
		// One IPv6 client usually holds a whole /64.
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// fromLoopback reports whether the request came from this machine, was
// not relayed by a proxy on it, and names this machine in its Host
// (localhost or a loopback address). A browser on this machine reading a
// page of another site whose name was rebound to 127.0.0.1 (DNS
// rebinding) connects from loopback too, but names that site's host.
func fromLoopback(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Unmap().IsLoopback() {
		return false
	}
	named := r.Host
	if h, _, err := net.SplitHostPort(named); err == nil {
		named = h
	}
	if !isLoopbackHost(strings.Trim(named, "[]")) {
		return false
	}
	for _, h := range []string{"Forwarded", "X-Forwarded-For", "X-Real-Ip"} {
		if r.Header.Get(h) != "" {
			return false
		}
	}
	return true
}

// bearerToken returns the token of "Authorization: Bearer TOKEN".
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
