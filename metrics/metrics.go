// Package metrics holds Bulwark's Prometheus registry and the counters of
// security events that operators alert on: failed logins, sandbox denials,
// rate limiting, injection flags and the like. /metrics serves Handler, in
// the Prometheus text exposition format (version 0.0.4), which this
// package writes itself: the Prometheus client library's package inits
// (its default registry, procfs' regexps, protobuf, runtime/metrics,
// expvar) cost every start of the binary, the sandbox's init included.
package metrics

import (
	"net/http"
	"sync"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// SecurityEvent is a kind of security event; it is the value of the
// "kind" label of bulwark_security_events_total.
type SecurityEvent string

// The security events counted. Every kind is exported from the start, at
// zero, so that alerts on rates work before the first event.
const (
	AuthFailed        SecurityEvent = "auth_failed"        // bad password, API key or session
	SandboxDenied     SecurityEvent = "sandbox_denied"     // a command the sandbox refused to start (off the allowlist, in a noexec folder): taskenv
	SandboxLimit      SecurityEvent = "sandbox_limit"      // a sandbox hit its memory, pids, CPU, output or time limit
	SyscallDenied     SecurityEvent = "syscall_denied"     // a sandboxed process the seccomp filter killed (SIGSYS seen by the init; errno refusals are invisible): taskenv
	ForbiddenRoute    SecurityEvent = "forbidden_route"    // a route outside the caller's role or tenant
	EgressDenied      SecurityEvent = "egress_denied"      // a connection to a host off the allowlist (SSRF included)
	UploadRejected    SecurityEvent = "upload_rejected"    // an upload of a forbidden type, size or name
	PathEscape        SecurityEvent = "path_escape"        // a file tool's path that tried to leave the workspace (workspace.ErrEscape): taskenv
	ResourceExhausted SecurityEvent = "resource_exhausted" // a quota or budget ran out: task budgets (CountEvent), concurrency and storage quotas, shared key budget
	RateLimited       SecurityEvent = "rate_limited"       // a request refused by a rate limit
	InjectionFlagged  SecurityEvent = "injection_flagged"  // untrusted content scored as prompt injection
	ApprovalDenied    SecurityEvent = "approval_denied"    // a person denied a risky action
	PolicyDenied      SecurityEvent = "policy_denied"      // a tool call refused by policy
	SecretMasked      SecurityEvent = "secret_masked"      // a task output or an API response in which a tenant's secret was masked
	SecretRefused     SecurityEvent = "secret_refused"     // a secret's placeholder sent to a host it is not bound to (or over plain HTTP)
	AuditFailure      SecurityEvent = "audit_failure"      // the audit log could not record an action
	CSRFRejected      SecurityEvent = "csrf_rejected"      // a cross-origin state-changing request refused
)

// AllSecurityEvents lists every SecurityEvent.
var AllSecurityEvents = []SecurityEvent{
	AuthFailed, SandboxDenied, SandboxLimit, SyscallDenied, ForbiddenRoute, EgressDenied,
	UploadRejected, PathEscape, ResourceExhausted, RateLimited, InjectionFlagged,
	ApprovalDenied, PolicyDenied, SecretMasked, AuditFailure, CSRFRejected, SecretRefused,
}

// SecurityCounters counts security events by kind, and some of them also
// by tenant (IncTenant).
type SecurityCounters struct {
	// reg is where the counters go; they are made and registered on first
	// use (once), so that a process that counts nothing pays nothing at
	// start-up.
	reg      *Registry
	once     sync.Once
	vec      *CounterVec
	byTenant *CounterVec
}

// NewSecurityCounters registers bulwark_security_events_total with reg,
// every kind at zero.
func NewSecurityCounters(reg *Registry) *SecurityCounters {
	c := &SecurityCounters{reg: reg}
	c.register()
	return c
}

// register makes the counters and registers them with c.reg, once.
func (c *SecurityCounters) register() {
	c.once.Do(func() { c.vec, c.byTenant = newSecurityVecs(c.reg) })
}

// newSecurityVecs registers bulwark_security_events_total and its
// per-tenant twin with reg, every kind at zero.
func newSecurityVecs(reg *Registry) (*CounterVec, *CounterVec) {
	vec := NewCounterVec("bulwark_security_events_total",
		"Security-relevant events by kind: failed authentication, sandbox denials and limits, denied syscalls and routes, rate limiting, injection flags, ...",
		"kind")
	byTenant := NewCounterVec("bulwark_tenant_security_events_total",
		"Security-relevant events of one tenant, by kind and tenant id: secrets masked in what the tenant is shown, ...",
		"kind", "tenant")
	reg.MustRegister(vec, byTenant)
	for _, k := range AllSecurityEvents {
		vec.With(string(k))
	}
	return vec, byTenant
}

// IncTenant counts one event of kind k of tenant (an id; "" for a
// request of no tenant), in the total of k and in the tenant's count.
func (c *SecurityCounters) IncTenant(k SecurityEvent, tenant string) {
	c.Inc(k)
	c.register()
	if tenant == "" {
		tenant = "none"
	}
	c.byTenant.With(string(k), tenant).Inc()
}

// TenantCounter returns the counter of k for tenant, for tests and for
// reading a value.
func (c *SecurityCounters) TenantCounter(k SecurityEvent, tenant string) *Counter {
	c.register()
	return c.byTenant.With(string(k), tenant)
}

// Inc counts one event of kind k.
func (c *SecurityCounters) Inc(k SecurityEvent) {
	c.register()
	c.vec.With(string(k)).Inc()
}

// Counter returns the counter of k, for tests and for reading a value.
func (c *SecurityCounters) Counter(k SecurityEvent) *Counter {
	c.register()
	return c.vec.With(string(k))
}

// Add counts n events of kind k; n must not be negative.
func (c *SecurityCounters) Add(k SecurityEvent, n int) {
	c.register()
	c.vec.With(string(k)).Add(n)
}

// Default is Bulwark's registry: the security counters, and the Go
// runtime and process collectors (Handler registers them, and the
// counters, on first call). Other packages register their metrics here.
var Default = &Registry{}

// Security counts security events in Default:
// metrics.Security.Inc(metrics.AuthFailed). Its counters are registered on
// first use, or by Handler, whichever comes first.
var Security = &SecurityCounters{reg: Default}

// registerCollectors registers the Go runtime and process collectors and
// the security counters with Default, once: not at init, because the
// CLI's short commands (version, help) link this package and never serve
// /metrics.
func registerCollectors() { collectorsRegistered.Get() }

// collectorsRegistered is a literal: a package-level sync.OnceFunc would be
// a call, made by the package's init.
var collectorsRegistered = lazy.Value[bool]{New: func() bool {
	Default.MustRegister(newGoCollector(), newProcessCollector())
	Default.MustRegister(AuditExport.Exported, AuditExport.Dropped, AuditExport.Failed, SandboxRuns, handlerErrors)
	handlerErrors.With("encoding")
	handlerErrors.With("gathering")
	Security.register()
	return true
}}

// handlerErrors counts the scrapes of /metrics that went wrong, under the
// name and causes of the Prometheus client's handler, which Bulwark served
// before writing the format itself: "gathering", a family that could not
// be read (a /proc file), left out of the scrape; "encoding", a response
// that could not be written. It counts for every Registry of this package
// (Bulwark serves one, Default).
var handlerErrors = &CounterVec{
	desc: desc{
		name: "promhttp_metric_handler_errors_total",
		help: "Total number of internal errors encountered by the promhttp metric handler.",
	},
	labels: []string{"cause"},
}

// gatherFailed counts a family left out of a scrape.
func gatherFailed() { handlerErrors.With("gathering").Inc() }

// Handler serves Default in the Prometheus text exposition format
// (ContentType).
func Handler() http.Handler {
	registerCollectors()
	return Default.Handler()
}
