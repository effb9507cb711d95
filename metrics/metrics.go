// Package metrics holds Bulwark's Prometheus registry and the counters of
// security events that operators alert on: failed logins, sandbox denials,
// rate limiting, injection flags and the like. /metrics serves Handler.
package metrics

import (
	"net/http"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	reg      prometheus.Registerer
	once     sync.Once
	vec      *prometheus.CounterVec
	byTenant *prometheus.CounterVec
}

// NewSecurityCounters registers bulwark_security_events_total with reg,
// every kind at zero.
func NewSecurityCounters(reg prometheus.Registerer) *SecurityCounters {
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
func newSecurityVecs(reg prometheus.Registerer) (*prometheus.CounterVec, *prometheus.CounterVec) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_security_events_total",
		Help: "Security-relevant events by kind: failed authentication, sandbox denials and limits, denied syscalls and routes, rate limiting, injection flags, ...",
	}, []string{"kind"})
	byTenant := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_tenant_security_events_total",
		Help: "Security-relevant events of one tenant, by kind and tenant id: secrets masked in what the tenant is shown, ...",
	}, []string{"kind", "tenant"})
	reg.MustRegister(vec, byTenant)
	for _, k := range AllSecurityEvents {
		vec.WithLabelValues(string(k))
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
	c.byTenant.WithLabelValues(string(k), tenant).Inc()
}

// TenantCounter returns the counter of k for tenant, for tests and for
// reading a value.
func (c *SecurityCounters) TenantCounter(k SecurityEvent, tenant string) prometheus.Counter {
	c.register()
	return c.byTenant.WithLabelValues(string(k), tenant)
}

// Inc counts one event of kind k.
func (c *SecurityCounters) Inc(k SecurityEvent) {
	c.register()
	c.vec.WithLabelValues(string(k)).Inc()
}

// Counter returns the counter of k, for tests and for reading a value.
func (c *SecurityCounters) Counter(k SecurityEvent) prometheus.Counter {
	c.register()
	return c.vec.WithLabelValues(string(k))
}

// Add counts n events of kind k.
func (c *SecurityCounters) Add(k SecurityEvent, n int) {
	c.register()
	c.vec.WithLabelValues(string(k)).Add(float64(n))
}

// Registry is Bulwark's registry: the security counters, and the Go
// runtime and process collectors (Handler registers them, and the
// counters, on first call). Other packages register their metrics here.
var Registry = prometheus.NewRegistry()

// Security counts security events in Registry:
// metrics.Security.Inc(metrics.AuthFailed). Its counters are registered on
// first use, or by Handler, whichever comes first.
var Security = &SecurityCounters{reg: Registry}

// registerCollectors registers the Go runtime and process collectors and
// the security counters with Registry, once: not at init, because the
// CLI's short commands (version, help) link this package and never serve
// /metrics.
var registerCollectors = sync.OnceFunc(func() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	Registry.MustRegister(AuditExport.Exported, AuditExport.Dropped, AuditExport.Failed, SandboxRuns)
	Security.register()
})

// Handler serves Registry in the Prometheus exposition format.
func Handler() http.Handler {
	registerCollectors()
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry})
}
