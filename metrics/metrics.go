// Package metrics holds Bulwark's Prometheus registry and the counters of
// security events that operators alert on: failed logins, sandbox denials,
// rate limiting, injection flags and the like. /metrics serves Handler.
package metrics

import (
	"net/http"

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
	SandboxDenied     SecurityEvent = "sandbox_denied"     // a command or path refused by the sandbox policy
	SandboxLimit      SecurityEvent = "sandbox_limit"      // a sandbox hit its memory, pids, CPU, output or time limit
	SyscallDenied     SecurityEvent = "syscall_denied"     // seccomp or Landlock refused a call: a privilege-escalation attempt
	ForbiddenRoute    SecurityEvent = "forbidden_route"    // a route outside the caller's role or tenant
	EgressDenied      SecurityEvent = "egress_denied"      // a connection to a host off the allowlist (SSRF included)
	UploadRejected    SecurityEvent = "upload_rejected"    // an upload of a forbidden type, size or name
	PathEscape        SecurityEvent = "path_escape"        // a path that tried to leave the workspace
	ResourceExhausted SecurityEvent = "resource_exhausted" // a quota or budget ran out
	RateLimited       SecurityEvent = "rate_limited"       // a request refused by a rate limit
	InjectionFlagged  SecurityEvent = "injection_flagged"  // untrusted content scored as prompt injection
	ApprovalDenied    SecurityEvent = "approval_denied"    // a person denied a risky action
	PolicyDenied      SecurityEvent = "policy_denied"      // a tool call refused by policy
	SecretMasked      SecurityEvent = "secret_masked"      // the redactor masked a secret in an output
	AuditFailure      SecurityEvent = "audit_failure"      // the audit log could not record an action
	CSRFRejected      SecurityEvent = "csrf_rejected"      // a cross-origin state-changing request refused
)

// AllSecurityEvents lists every SecurityEvent.
var AllSecurityEvents = []SecurityEvent{
	AuthFailed, SandboxDenied, SandboxLimit, SyscallDenied, ForbiddenRoute, EgressDenied,
	UploadRejected, PathEscape, ResourceExhausted, RateLimited, InjectionFlagged,
	ApprovalDenied, PolicyDenied, SecretMasked, AuditFailure, CSRFRejected,
}

// SecurityCounters counts security events by kind.
type SecurityCounters struct {
	vec *prometheus.CounterVec
}

// NewSecurityCounters registers bulwark_security_events_total with reg,
// every kind at zero.
func NewSecurityCounters(reg prometheus.Registerer) *SecurityCounters {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "bulwark_security_events_total",
		Help: "Security-relevant events by kind: failed authentication, sandbox denials and limits, denied syscalls and routes, rate limiting, injection flags, ...",
	}, []string{"kind"})
	reg.MustRegister(vec)
	for _, k := range AllSecurityEvents {
		vec.WithLabelValues(string(k))
	}
	return &SecurityCounters{vec: vec}
}

// Inc counts one event of kind k.
func (c *SecurityCounters) Inc(k SecurityEvent) { c.vec.WithLabelValues(string(k)).Inc() }

// Counter returns the counter of k, for tests and for reading a value.
func (c *SecurityCounters) Counter(k SecurityEvent) prometheus.Counter {
	return c.vec.WithLabelValues(string(k))
}

// Add counts n events of kind k.
func (c *SecurityCounters) Add(k SecurityEvent, n int) {
	c.vec.WithLabelValues(string(k)).Add(float64(n))
}

// Registry is Bulwark's registry: the security counters, and the Go
// runtime and process collectors. Other packages register their metrics
// here.
var Registry = prometheus.NewRegistry()

// Security counts security events in Registry:
// metrics.Security.Inc(metrics.AuthFailed).
var Security = NewSecurityCounters(Registry)

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}

// Handler serves Registry in the Prometheus exposition format.
func Handler() http.Handler {
	return promhttp.HandlerFor(Registry, promhttp.HandlerOpts{Registry: Registry})
}
