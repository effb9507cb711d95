package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/bulwark-agents/bulwark"
)

// Side is which credentials a route accepts; see the package comment.
type Side uint8

const (
	// Public routes take no credentials (any sent are ignored) and are
	// rate limited per client address.
	Public Side = iota + 1
	// API routes take only "Authorization: Bearer" API keys; cookies are
	// never read.
	API
	// Browser routes take only the session cookie (or, with no Role, no
	// credentials at all, as login); a bearer key is refused. Their
	// state-changing requests pass the CSRF check.
	Browser
	// BrowserOrAPI routes take either: a request with a bearer key is
	// served as API, one without as Browser.
	BrowserOrAPI
)

var sideNames = [...]string{Public: "public", API: "api", Browser: "browser", BrowserOrAPI: "browser-or-api"}

func (s Side) String() string {
	if int(s) < len(sideNames) && sideNames[s] != "" {
		return sideNames[s]
	}
	return fmt.Sprintf("side(%d)", s)
}

// HandlerFunc serves one route. It returns an error instead of writing
// one: the router writes it as JSON with the status of its kind (see
// writeError), so a handler returns bulwark.Errorf(bulwark.NotFound, ...)
// and never chooses a status for an error itself. A handler that has
// started its response returns nil.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Route is one row of the route table: the mux is built from the table,
// and the security tests iterate over it, so a route cannot be served
// without being checked.
//
// To add a route, append a Route to a table (builtinRoutes, or a
// taskRoutes in handlers_tasks.go listed in build's tables) or pass it to
// Server.Handle before Handler is called:
//
//	{Method: "GET", Pattern: "/api/v1/tasks/{id}", Role: bulwark.RoleViewer,
//	 Side: BrowserOrAPI, Scope: "tasks", Handler: s.getTask}
//
// The handler reads the caller with PrincipalFrom(r.Context()) and passes
// its Tenant to every store call, so an id of another tenant is NotFound
// (404), never 403. Then add the route's case to the matrix in
// routes_test.go: the test fails for a route without one.
type Route struct {
	Method  string // GET, POST, PUT, PATCH or DELETE
	Pattern string // a ServeMux path pattern: "/api/v1/keys/{id}"
	// Role is the least role that may call the route: a tenant role, or
	// bulwark.RoleOperator for the operator's routes. Empty: no
	// authentication (Public routes, and login).
	Role bulwark.Role
	Side Side
	// Scope, if set, is the API key scope the route belongs to ("tasks",
	// "keys", ...): a key with scopes may call only routes of those
	// scopes. A key without scopes may call every route its role allows.
	Scope string
	// MaxBody is the most bytes of request body read; 0 means
	// DefaultMaxBody. Uploads set their own.
	MaxBody int64
	// Stream marks a long-lived response (Server-Sent Events): the
	// handler extends its own write deadline with http.ResponseController.
	Stream bool
	// Enrol opens the route to a session whose user must first turn on a
	// second factor (the tenant requires one, Principal.MustEnrol): the
	// enrolment routes, who am I, and logout. Every other route refuses
	// such a session.
	Enrol   bool
	Handler HandlerFunc
}

// DefaultMaxBody is the most bytes of request body a route reads unless
// it sets MaxBody: enough for any JSON document of the API.
const DefaultMaxBody = 1 << 20

// String is "METHOD PATTERN", as the mux writes it.
func (rt Route) String() string { return rt.Method + " " + rt.Pattern }

func (rt Route) check() error {
	bad := func(why string) error { return fmt.Errorf("server: route %s: %s", rt, why) }
	switch rt.Method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return bad("unsupported method")
	}
	switch {
	case !strings.HasPrefix(rt.Pattern, "/") || strings.ContainsAny(rt.Pattern, " \t"):
		return bad("the pattern must be a path")
	case rt.Handler == nil:
		return bad("no handler")
	case rt.Side < Public || rt.Side > BrowserOrAPI:
		return bad("no side")
	case rt.Side == Public && rt.Role != "":
		return bad("a public route has no role")
	case rt.Side != Public && rt.Side != Browser && rt.Role == "":
		return bad("an authenticated route needs a role")
	case rt.Role != "" && !rt.Role.Valid() && rt.Role != bulwark.RoleOperator:
		return bad("unknown role " + string(rt.Role))
	case rt.Role == bulwark.RoleOperator && rt.Side != API:
		return bad("operator routes are API routes")
	case rt.MaxBody < 0:
		return bad("negative MaxBody")
	}
	return nil
}

// builtinRoutes is the table of this package's routes.
func (s *Server) builtinRoutes() []Route {
	const (
		viewer   = bulwark.RoleViewer
		admin    = bulwark.RoleAdmin
		operator = bulwark.RoleOperator
	)
	return []Route{
		{Method: "GET", Pattern: "/healthz", Side: Public, Handler: s.healthz},
		{Method: "GET", Pattern: "/readyz", Side: Public, Handler: s.readyz},
		{Method: "GET", Pattern: "/metrics", Side: Public, Handler: s.metrics},
		{Method: "GET", Pattern: "/api/v1/openapi.json", Side: Public, Handler: s.openAPI},

		{Method: "POST", Pattern: "/api/v1/login", Side: Browser, Handler: s.login},
		{Method: "POST", Pattern: "/api/v1/logout", Side: Browser, Role: viewer, Enrol: true, Handler: s.logout},
		{Method: "POST", Pattern: "/api/v1/logout-all", Side: Browser, Role: viewer, Enrol: true, Handler: s.logoutAll},
		{Method: "GET", Pattern: "/api/v1/me", Side: BrowserOrAPI, Role: viewer, Enrol: true, Handler: s.me},
		{Method: "POST", Pattern: "/api/v1/me/totp", Side: Browser, Role: viewer, Enrol: true, Handler: s.beginTOTP},
		{Method: "POST", Pattern: "/api/v1/me/totp/confirm", Side: Browser, Role: viewer, Enrol: true, Handler: s.confirmTOTP},
		{Method: "GET", Pattern: "/api/v1/me/totp/qr", Side: Browser, Role: viewer, Enrol: true, Handler: s.totpQR},
		{Method: "DELETE", Pattern: "/api/v1/me/totp", Side: Browser, Role: viewer, Handler: s.deleteMyTOTP},

		{Method: "GET", Pattern: "/api/v1/keys", Side: BrowserOrAPI, Role: admin, Scope: "keys", Handler: s.listKeys},
		{Method: "POST", Pattern: "/api/v1/keys", Side: BrowserOrAPI, Role: admin, Scope: "keys", Handler: s.createKey},
		{Method: "DELETE", Pattern: "/api/v1/keys/{id}", Side: BrowserOrAPI, Role: admin, Scope: "keys", Handler: s.deleteKey},
		{Method: "POST", Pattern: "/api/v1/keys/{id}/rotate", Side: BrowserOrAPI, Role: admin, Scope: "keys", Handler: s.rotateKey},

		{Method: "GET", Pattern: "/api/v1/secrets", Side: BrowserOrAPI, Role: admin, Scope: "secrets", Handler: s.listSecrets},
		{Method: "PUT", Pattern: "/api/v1/secrets/{name}", Side: BrowserOrAPI, Role: admin, Scope: "secrets", MaxBody: 128 << 10, Handler: s.putSecret},
		{Method: "DELETE", Pattern: "/api/v1/secrets/{name}", Side: BrowserOrAPI, Role: admin, Scope: "secrets", Handler: s.deleteSecret},

		{Method: "GET", Pattern: "/api/v1/skills", Side: BrowserOrAPI, Role: viewer, Scope: "settings", Handler: s.listSkills},
		{Method: "POST", Pattern: "/api/v1/skills", Side: BrowserOrAPI, Role: admin, Scope: "settings", MaxBody: maxSkillBody, Handler: s.createSkill},
		{Method: "GET", Pattern: "/api/v1/skills/{name}", Side: BrowserOrAPI, Role: viewer, Scope: "settings", Handler: s.getSkill},
		{Method: "PUT", Pattern: "/api/v1/skills/{name}", Side: BrowserOrAPI, Role: admin, Scope: "settings", MaxBody: maxSkillBody, Handler: s.putSkill},
		{Method: "DELETE", Pattern: "/api/v1/skills/{name}", Side: BrowserOrAPI, Role: admin, Scope: "settings", Handler: s.deleteSkill},

		{Method: "GET", Pattern: "/api/v1/users", Side: BrowserOrAPI, Role: admin, Scope: "users", Handler: s.listUsers},
		{Method: "POST", Pattern: "/api/v1/users", Side: BrowserOrAPI, Role: admin, Scope: "users", Handler: s.createUser},
		{Method: "PATCH", Pattern: "/api/v1/users/{id}", Side: BrowserOrAPI, Role: admin, Scope: "users", Handler: s.patchUser},
		{Method: "DELETE", Pattern: "/api/v1/users/{id}", Side: BrowserOrAPI, Role: admin, Scope: "users", Handler: s.deleteUser},
		{Method: "DELETE", Pattern: "/api/v1/users/{id}/totp", Side: BrowserOrAPI, Role: admin, Scope: "users", Handler: s.resetUserTOTP},

		{Method: "GET", Pattern: "/api/v1/tenants", Side: API, Role: operator, Handler: s.listTenants},
		{Method: "POST", Pattern: "/api/v1/tenants", Side: API, Role: operator, Handler: s.createTenant},
		{Method: "GET", Pattern: "/api/v1/operator/security", Side: API, Role: operator, Handler: s.operatorSecurity},

		{Method: "GET", Pattern: "/api/v1/settings", Side: BrowserOrAPI, Role: viewer, Scope: "settings", Handler: s.getSettings},
		{Method: "PUT", Pattern: "/api/v1/settings", Side: BrowserOrAPI, Role: admin, Scope: "settings", Handler: s.putSettings},

		{Method: "GET", Pattern: "/api/v1/audit", Side: BrowserOrAPI, Role: admin, Scope: "audit", Handler: s.listAudit},
		{Method: "GET", Pattern: "/api/v1/audit/verify", Side: BrowserOrAPI, Role: admin, Scope: "audit", Handler: s.verifyAudit},
		{Method: "GET", Pattern: "/api/v1/security", Side: BrowserOrAPI, Role: admin, Scope: "audit", Handler: s.securityOverview},
	}
}

// Scopes are the API key scopes routes belong to.
var Scopes = []string{"tasks", "keys", "secrets", "users", "settings", "audit"}

// build makes the handler: a mux of every route, each wrapped by route,
// behind the middleware every response goes through.
func (s *Server) build() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.String(), s.route(rt))
	}
	return s.base(s.unmatched(mux))
}

// unmatched answers requests no route matches with a JSON 404 (or 405,
// with Allow, for a path served with other methods), instead of the mux's
// plain text.
func (s *Server) unmatched(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		h, _ := mux.Handler(r)
		probe := &statusProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.code == http.StatusMethodNotAllowed {
			w.Header().Set("Allow", probe.header.Get("Allow"))
			s.writeError(w, r, bulwark.Errorf(bulwark.Invalid, "server", "this path does not take this method (it takes %s)", probe.header.Get("Allow")), http.StatusMethodNotAllowed)
			return
		}
		s.writeError(w, r, bulwark.Errorf(bulwark.NotFound, "server", "no such route"), 0)
	})
}

// statusProbe records what the mux's own not-found handler would answer.
type statusProbe struct {
	header http.Header
	code   int
}

func (p *statusProbe) Header() http.Header         { return p.header }
func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }
func (p *statusProbe) WriteHeader(code int)        { p.code = code }
