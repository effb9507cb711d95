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
//
// # Several nodes
//
// Nodes behind one load balancer over one database are interchangeable.
// Sessions are read from the store at every request. API keys (with the
// role their user bounds them to) and tenants' rate limits are kept in
// memory only while the store's authentication version stays where it
// was when they were read (authcache.go, bulwark.AuthVersioner): the
// store moves it with every revocation, change or deletion of a user and
// change of settings, on any node, before the change is answered, so a
// logout, a revoked key, a role change, a deleted user or new rate limits
// on one node hold on every node at the next request.
// What limits requests (rate limits, failed logins, the Agent Protocol's
// step cursors, the locks over a check and its change) is kept where
// Config.Limiter, Throttle, Cursors and Locks say: in memory by default,
// in PostgreSQL (package pglimits) when nodes share the load. One cache
// is bounded instead: the secrets a tenant's answers are masked with
// (redactorTTL) change on other nodes within that time. The caps on open
// streams (StreamLimits) stay per node: they guard each node's own
// connections.
package server

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/limits"
	"github.com/bulwark-agents/bulwark/metrics"
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
	// Message delivers a person's message to a task: into its current
	// turn while it is queued, running or waiting, else as the start of a
	// new turn of its conversation, with limits (nil: the task's own) as
	// the new turn's budget; continued reports a new turn.
	Message(ctx context.Context, tenant bulwark.TenantID, actor, id, text string, limits *bulwark.Limits) (t bulwark.Task, continued bool, err error)
	// Resume continues a task that a restart interrupted (Conflict for
	// any other).
	Resume(ctx context.Context, tenant bulwark.TenantID, actor, id string) (bulwark.Task, error)
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
	// Audit records security-relevant actions, each in its tenant's
	// chain, and serves GET /api/v1/audit and .../verify from the
	// caller's chain; nil records nothing (BULWARK_AUDIT=off) and those
	// routes answer 503. Refusals of requests from nobody known are
	// counted per client and minute (see audit.Aggregator); the caller
	// closes Audit after ListenAndServe, which flushes them, returns.
	Audit *audit.Chains
	// Redactors mask what a response shows with the secrets of the
	// tenant it is for, and only those. Nil: built from Store.
	Redactors *TenantRedactors
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
	// CheckPolicyRule refuses a rule of a tenant's policy that can never
	// match (it names no tool, or a pattern its tool has no target for):
	// tool.CheckRule over every tool a task may be given. Its message must
	// not repeat the rule. Nil checks only the rule's form.
	CheckPolicyRule func(bulwark.Rule) error
	// CheckMCP refuses a tenant's MCP servers document (the mcp field of
	// its settings: {"mcpServers": {...}}, placeholders unfilled) that its
	// tasks could not use: an entry that is neither a command nor a URL, a
	// URL whose host is not public or not in allowedDomains (the tenant's
	// egress allowlist, as saved with it). PUT /api/v1/settings calls it
	// when the document is set, after its own checks of form and size,
	// and answers its error as 400 "mcp: " and its message, which must
	// name the server and the field and repeat no value. Nil: only the
	// form is checked here; the servers are checked when a task starts.
	CheckMCP func(doc []byte, allowedDomains []string) error
	// OperatorSkills are the operator's skills (BULWARK_SKILLS_DIR), which
	// GET /api/v1/skills lists beside the tenant's, and which win over a
	// tenant's skill of the same name (an upload is told so).
	OperatorSkills []OperatorSkill
	// DefaultModel is the model spec for tenants that have configured none.
	DefaultModel string
	// CheckModel refuses a model spec that a tenant may not use on this
	// server (an ollama model where the operator shares no local model
	// server with it), when the tenant saves it in its settings or names
	// it for a task, rather than when a task starts. Its message says
	// what to do. Nil: every well-formed spec is accepted.
	CheckModel func(ctx context.Context, tenant bulwark.TenantID, spec string) error
	// MaskDownloads passes the files downloaded from tasks through the
	// Redactor, as every other output, and leaves the hash of the file as
	// stored out of file lists: set when sandboxed code may hold secret
	// values (BULWARK_SECRETS_IN_SANDBOX=on).
	MaskDownloads bool
	// RateLimitOff turns rate limiting off (BULWARK_RATE_LIMIT=off). The
	// limits to count failed logins still apply.
	RateLimitOff bool
	// Limiter keeps the token buckets of the rate limits (per key or
	// session, per tenant, per client address, bad input, and the
	// sampling of refusals' audit records), Throttle the counts of failed
	// logins, Cursors the Agent Protocol's step cursors. Nil: each in
	// this process's memory, which is right for one node. Nodes that
	// share the load must share these too (package pglimits), else a
	// client gets each node's allowance and each node's guesses. When one
	// of them fails, the request it guards is refused with 503.
	Limiter  limits.Limiter
	Throttle limits.Throttle
	Cursors  limits.Cursors
	// Locks serialise, per tenant, a check and the change it allows:
	// storage quota and upload, "another owner remains" and a role change
	// or deletion. Nil: in this process's memory (one node); nodes that
	// share the load must share them too (package pglimits).
	Locks limits.Locker
	// Ready are more checks of GET /readyz beside the store's: each
	// names what it checks ("the task queue") and returns nil when it is
	// ready. A failing one makes the node not ready, saying which.
	Ready []ReadyCheck
	// RateLimits are the default limits of every tenant; a tenant's
	// settings override them. Zero fields take DefaultRateLimits.
	RateLimits bulwark.RateLimitSettings
	// Ceilings bound what a tenant's settings may ask for (concurrency,
	// rates, task budgets): PUT /api/v1/settings refuses a value above one,
	// and stored rates above one are clamped. Zero fields take
	// bulwark.DefaultCeilings.
	Ceilings bulwark.Ceilings
	// Taint is the operator's taint mode (BULWARK_TAINT): a tenant's
	// settings may choose it or a stricter one, never a weaker one (see
	// bulwark.Settings.Taint). Zero: detected.
	Taint bulwark.TaintMode
	// MetricsToken, when set, lets a request with "Authorization: Bearer
	// TOKEN" read /metrics from any address (BULWARK_METRICS_TOKEN).
	MetricsToken string
	// TrustedProxies are the reverse proxies (BULWARK_TRUSTED_PROXIES)
	// whose X-Forwarded-For and X-Forwarded-Proto are believed: the
	// client's address is then the rightmost untrusted hop, and HSTS is
	// sent when the proxy was reached over HTTPS. Nil trusts none.
	TrustedProxies []netip.Prefix
	// StreamLimits cap open event streams and long polls; zero fields
	// take DefaultStreamLimits.
	StreamLimits StreamLimits
	// StreamRecheck is how often the credential of an open stream is
	// checked again, so that a revoked key, an ended session or a
	// deleted user ends it; zero: DefaultStreamRecheck.
	StreamRecheck time.Duration
	// TrustedOrigins are extra origins ("https://ui.example.com") whose
	// cross-origin browser requests are allowed.
	TrustedOrigins []string
	// DeviceKey signs device cookies (see device.go): at least 32 bytes,
	// kept across restarts and shared by every node so cookies stay
	// valid. Nil: a random key for this process.
	DeviceKey []byte
	// Password sets the argon2id cost of new password hashes; zero takes
	// DefaultPasswordParams. Tests lower it.
	Password PasswordParams
	// Logger logs; nil: slog.Default().
	Logger *slog.Logger
	// Security counts refusals; nil: metrics.Security.
	Security *metrics.SecurityCounters
	// MinScheduleInterval is the shortest time between two ticks of a
	// schedule (BULWARK_MIN_SCHEDULE_INTERVAL); 0 means
	// schedule.DefaultMinInterval.
	MinScheduleInterval time.Duration
	// Now is the clock; nil: time.Now. Tests move it.
	Now func() time.Time
}

// Server is Bulwark's HTTP server. Make one with New, add routes with
// Handle, then serve Handler (or call ListenAndServe).
type Server struct {
	cfg   Config
	store bulwark.Store
	log   *slog.Logger
	red   *TenantRedactors
	sec   *metrics.SecurityCounters
	now   func() time.Time

	mu      sync.Mutex
	routes  []Route
	handler http.Handler // built at the first Handler call
	openapi openAPIDoc   // GET /api/v1/openapi.json, made from routes at its first request

	csrf      *http.CrossOriginProtection
	limits    limits.Limiter  // request rate limits: per key, per tenant, per address
	samples   limits.Limiter  // at most one audit record a minute per refusal kind and client
	badInput  limits.Limiter  // bodies that do not decode and secrets masked, per client (abuse.go)
	throttle  limits.Throttle // failed logins per account and per address
	loginWork *loginWork      // the dummy hashes that make every login's work the same (loginwork.go)
	// loginPad waits out the hashes a login without a tenant did not do
	// (checkLogin); a test replaces it to count them.
	loginPad func(ctx context.Context, units int, per time.Duration)
	// checkHash is VerifyPassword for logins; a test replaces it to see
	// which hashes a login checks.
	checkHash func(hash, pw string, p PasswordParams) (ok, rehash bool, err error)
	deviceKey []byte            // signs device cookies
	auth      *authCache        // keys and rate limits read from the store, while its version holds (authcache.go)
	tasks     *taskState        // the task routes' own state (handlers_tasks.go)
	views     *taskCache        // answers of GET /api/v1/tasks/{id}, while the task's version holds; nil: none kept (taskcache.go)
	unauth    *audit.Aggregator // refusals of unauthenticated requests; nil without Audit
	streams   *streamCounter
	// locks serialise checks and the changes they allow (locks.go): the
	// tenant's roles lock is held over changes of users' roles and
	// deletions of users, so that "another owner remains" (keepAnOwner)
	// still holds when the change is made (two owners removing each other
	// at once would leave none); its uploads lock over an upload's quota
	// check and write.
	locks limits.Locker
}

// New returns a Server for cfg with the built-in routes.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	s := &Server{cfg: cfg, store: cfg.Store, log: cfg.Logger, red: cfg.Redactors, sec: cfg.Security, now: cfg.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.red == nil {
		s.red = NewTenantRedactors(cfg.Store, cfg.Now)
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
	if cfg.Limiter != nil { // shared: the keys of each use are apart by their prefixes
		s.limits, s.samples, s.badInput = cfg.Limiter, cfg.Limiter, cfg.Limiter
	} else { // in memory: a table each, so that a flood of one kind evicts no other
		s.limits = limits.NewMemoryLimiter(s.now, maxLimiters, limiterIdle)
		s.samples = limits.NewMemoryLimiter(s.now, maxLimiters, limiterIdle)
		s.badInput = limits.NewMemoryLimiter(s.now, maxLimiters, limiterIdle)
	}
	s.locks = cfg.Locks
	if s.locks == nil {
		s.locks = limits.NewMemoryLocker()
	}
	s.throttle = cfg.Throttle
	if s.throttle == nil {
		s.throttle = limits.NewMemoryThrottle(s.now, maxLimiters)
	}
	s.deviceKey = cfg.DeviceKey
	if len(s.deviceKey) < 32 {
		if len(s.deviceKey) > 0 {
			return nil, errors.New("server: Config.DeviceKey must be at least 32 bytes")
		}
		s.deviceKey = make([]byte, 32)
		rand.Read(s.deviceKey)
	}
	s.streams = newStreamCounter(cfg.StreamLimits)
	if s.cfg.StreamRecheck <= 0 {
		s.cfg.StreamRecheck = DefaultStreamRecheck
	}
	s.auth = newAuthCache(cfg.Store)
	if _, ok := cfg.Store.(bulwark.TaskVersioner); ok {
		s.views = newTaskCache()
	}
	lw, err := newLoginWork(s.cfg.Password)
	if err != nil {
		return nil, err
	}
	s.loginWork = lw
	s.loginPad = sleepPad
	s.checkHash = VerifyPassword
	cursors := cfg.Cursors
	if cursors == nil {
		cursors = limits.NewMemoryCursors(maxCursors)
	}
	s.tasks = newTaskState(&s.cfg, cursors)
	if cfg.Audit != nil {
		s.unauth = audit.NewAggregator(cfg.Audit, time.Minute, s.now, func(err error) {
			s.sec.Inc(metrics.AuditFailure)
			s.log.Error("audit record not written", "action", "aggregated refusals", "err", err)
		})
	}
	if err := s.Handle(s.builtinRoutes()...); err != nil {
		return nil, err
	}
	if err := s.Handle(append(append(append(append(s.taskRoutes(), s.apRoutes()...), s.mcpRoutes()...), s.scheduleRoutes()...), s.memoryRoutes()...)...); err != nil {
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

// ReadyCheck is one check of GET /readyz.
type ReadyCheck struct {
	Name  string
	Check func(context.Context) error
}
