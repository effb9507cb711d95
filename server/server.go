// Package server is Bulwark's HTTP server: the route table and the
// middleware every route goes through (request ids, security headers,
// panic recovery, authentication by API key or session cookie, CSRF
// protection of the browser side, rate limits, role checks, JSON errors),
// the identity routes (login, keys, users, tenants), secrets, settings and
// the audit log. The task API is added on top of the same table (see
// Route and Server.Handle).
//
// # Two sides
//
// As Tailscale's safeweb, the server keeps API clients and browsers apart.
// A request that carries "Authorization: Bearer bwk_..." is an API request:
// its cookies are never read, it needs no CSRF protection (browsers cannot
// attach that header across origins), and its bodies must be JSON. A
// request without one is a browser request: it is authenticated by the
// __Host-bulwark_session cookie only, and every state-changing browser
// request passes http.CrossOriginProtection. Each Route says which side(s)
// it serves (Side); a bearer key on a browser-only route and a cookie on an
// API-only route are refused.
//
// # Cookies over plain HTTP
//
// The session cookie is always __Host- prefixed and Secure, even behind
// --insecure-http: it is never downgraded. Browsers keep Secure cookies
// set over plain HTTP only on origins they consider secure, which Chrome
// and Firefox grant to http://localhost (use that name, not 127.0.0.1, to
// log in to a loopback server without TLS). On any other plain-HTTP
// address browsers drop the cookie, so browser login needs TLS; API keys
// work either way.
package server

import (
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/secret"
)

// Runtime is what the server needs from the task runtime (package
// runner): exactly the methods it calls. Every method takes the tenant of
// the caller, and an id of another tenant is NotFound.
type Runtime interface {
	// Submit stores a new task, queued, and queues it (a task over the
	// tenant's quota waits); actor names the caller for the audit log.
	Submit(ctx context.Context, tenant bulwark.TenantID, actor string, t bulwark.Task) (bulwark.Task, error)
	// Tasks returns a page of the tenant's tasks, newest first.
	Tasks(ctx context.Context, tenant bulwark.TenantID, q bulwark.TaskQuery) (bulwark.TaskPage, error)
	// Position is a queued task's place in the queue, from 1; 0 when it
	// is not waiting there.
	Position(tenant bulwark.TenantID, id string) int
	// Cancel stops a task (Conflict once it has ended).
	Cancel(ctx context.Context, tenant bulwark.TenantID, actor, id string) error
	// Send delivers a person's message to a running task.
	Send(ctx context.Context, tenant bulwark.TenantID, id, text string) error
	// Approvals returns the approvals a task waits for; Decide answers one.
	Approvals(ctx context.Context, tenant bulwark.TenantID, id string) ([]bulwark.Approval, error)
	Decide(ctx context.Context, tenant bulwark.TenantID, actor, id, approvalID string, allow bool) error
	// Subscribe streams the events of a task after seq after, stored
	// first and then live, each once and in order; the channel closes
	// when the task ends, ctx ends or the subscriber falls behind.
	Subscribe(ctx context.Context, tenant bulwark.TenantID, id string, after int64) (<-chan bulwark.Event, error)
	// Files, ReadFile and PutFile reach a task's files: in its workspace
	// while it runs, sealed in the store after.
	Files(ctx context.Context, tenant bulwark.TenantID, id string) ([]bulwark.Artifact, error)
	ReadFile(ctx context.Context, tenant bulwark.TenantID, id, name string) (bulwark.Artifact, []byte, error)
	PutFile(ctx context.Context, tenant bulwark.TenantID, id, name string, data []byte) (bulwark.Artifact, error)
	// StorageUsed is how many bytes of files the tenant keeps.
	StorageUsed(ctx context.Context, tenant bulwark.TenantID) (int64, error)
	// Shutdown stops taking tasks and waits, until ctx ends, for the
	// running ones to stop or be checkpointed. The server calls it once,
	// after it has stopped accepting requests.
	Shutdown(ctx context.Context) error
}

// Config is what New needs. Store is required; the rest have defaults.
type Config struct {
	Store bulwark.Store
	// Audit records security-relevant actions; nil records nothing
	// (BULWARK_AUDIT=off).
	Audit *audit.Log
	// AuditStore is read by GET /api/v1/audit and .../verify, with
	// AuditKey (the checkpoint signing key's public half) for verify. Nil:
	// those routes answer 503.
	AuditStore audit.Store
	AuditKey   ed25519.PublicKey
	// Redactor masks every message a client or the log sees; tenant
	// secrets set through the API are registered with it. Nil: a new one.
	Redactor *secret.Redactor
	// Runtime runs tasks; nil: the task routes answer 503.
	Runtime Runtime
	// MaxFileSize caps uploads, in bytes (BULWARK_MAX_FILE_SIZE); 0 means
	// DefaultMaxFileSize.
	MaxFileSize int64
	// AllowedFileTypes are the extensions, with their dot, that uploads
	// may have (BULWARK_ALLOWED_FILE_TYPES); nil means DefaultFileTypes.
	AllowedFileTypes []string
	// StorageQuota caps the bytes of files one tenant keeps
	// (BULWARK_STORAGE_QUOTA); 0 means DefaultStorageQuota.
	StorageQuota int64
	// DefaultModel is the model spec for tenants that have configured none.
	DefaultModel string
	// RateLimitOff turns rate limiting off (BULWARK_RATE_LIMIT=off). The
	// limits to count failed logins still apply.
	RateLimitOff bool
	// RateLimits are the default limits of every tenant; a tenant's
	// settings override them. Zero fields take DefaultRateLimits.
	RateLimits bulwark.RateLimitSettings
	// MetricsToken, when set, lets a request with "Authorization: Bearer
	// TOKEN" read /metrics from any address (BULWARK_METRICS_TOKEN).
	MetricsToken string
	// TrustedOrigins are extra origins ("https://ui.example.com") whose
	// cross-origin browser requests are allowed.
	TrustedOrigins []string
	// Password sets the argon2id cost of new password hashes; zero takes
	// DefaultPasswordParams. Tests lower it.
	Password PasswordParams
	// Logger logs; nil: slog.Default().
	Logger *slog.Logger
	// Security counts refusals; nil: metrics.Security.
	Security *metrics.SecurityCounters
	// Now is the clock; nil: time.Now. Tests move it.
	Now func() time.Time
}

// Server is Bulwark's HTTP server. Make one with New, add routes with
// Handle, then serve Handler (or call ListenAndServe).
type Server struct {
	cfg   Config
	store bulwark.Store
	log   *slog.Logger
	red   *secret.Redactor
	sec   *metrics.SecurityCounters
	now   func() time.Time

	mu      sync.Mutex
	routes  []Route
	handler http.Handler // built at the first Handler call

	csrf      *http.CrossOriginProtection
	limits    *limiterSet    // request rate limits: per key, per tenant, per address
	samples   *limiterSet    // at most one audit record a minute per refusal kind and client
	throttle  *loginThrottle // failed logins per account and per address
	dummyHash string         // hashed against for unknown users
	settings  *settingsCache
	tasks     *taskState // the task routes' own state (handlers_tasks.go)
}

// New returns a Server for cfg with the built-in routes.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, red: cfg.Redactor, sec: cfg.Security, now: cfg.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.red == nil {
		s.red = secret.NewRedactor()
	}
	if s.sec == nil {
		s.sec = metrics.Security
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.cfg.Password == (PasswordParams{}) {
		s.cfg.Password = DefaultPasswordParams
	}
	s.cfg.RateLimits = withDefaultRates(cfg.RateLimits, DefaultRateLimits)
	s.csrf = http.NewCrossOriginProtection()
	for _, o := range cfg.TrustedOrigins {
		if err := s.csrf.AddTrustedOrigin(o); err != nil {
			return nil, err
		}
	}
	s.limits = newLimiterSet(s.now, maxLimiters, limiterIdle)
	s.samples = newLimiterSet(s.now, maxLimiters, limiterIdle)
	s.throttle = newLoginThrottle(s.now)
	s.settings = newSettingsCache(s.now)
	h, err := HashPassword("not a password: the hash unknown users are checked against", s.cfg.Password)
	if err != nil {
		return nil, err
	}
	s.dummyHash = h
	s.tasks = newTaskState(&s.cfg)
	if err := s.Handle(s.builtinRoutes()...); err != nil {
		return nil, err
	}
	if err := s.Handle(append(s.taskRoutes(), s.apRoutes()...)...); err != nil {
		return nil, err
	}
	if err := s.handlePages(); err != nil { // the web UI: pages.go
		return nil, err
	}
	return s, nil
}

// Handle adds routes to the server's table, so that files and packages
// other than this one (the task API, the Agent Protocol, the web UI) can
// add theirs. It must be called before the first call of Handler; a route
// that is not valid (see Route) or whose method and pattern are taken is
// an error.
func (s *Server) Handle(routes ...Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handler != nil {
		return errors.New("server: Handle after Handler")
	}
	for _, rt := range routes {
		if err := rt.check(); err != nil {
			return err
		}
		for _, old := range s.routes {
			if old.Method == rt.Method && old.Pattern == rt.Pattern {
				return errors.New("server: route " + rt.String() + " added twice")
			}
		}
		s.routes = append(s.routes, rt)
	}
	return nil
}

// Routes returns a copy of the route table.
func (s *Server) Routes() []Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Route(nil), s.routes...)
}

// Handler returns the server's handler: every route of the table behind
// the middleware. The table is fixed at the first call.
func (s *Server) Handler() http.Handler {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handler == nil {
		s.handler = s.build()
	}
	return s.handler
}

// logger returns the server's logger with the request's id.
func (s *Server) logger(r *http.Request) *slog.Logger {
	return s.log.With("request_id", RequestID(r.Context()))
}
