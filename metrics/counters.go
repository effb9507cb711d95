package metrics

import "github.com/prometheus/client_golang/prometheus"

// AuditExport counts what BULWARK_AUDIT_EXPORT did with the audit
// records it was given: written, dropped (its queue was full, the
// destination was down too long, or a record was too large for a UDP
// datagram), and writes that failed and were tried again. A dropped
// record stays in the audit log; `bulwark audit verify --export` shows the
// gaps. The counters are registered with Registry by Handler.
var AuditExport = struct {
	Exported, Dropped, Failed prometheus.Counter
}{
	Exported: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulwark_audit_export_records_total",
		Help: "Audit records written to the audit export (BULWARK_AUDIT_EXPORT).",
	}),
	Dropped: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulwark_audit_export_dropped_total",
		Help: "Audit records left out of the audit export (queue full, destination down, too large); they stay in the audit log.",
	}),
	Failed: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "bulwark_audit_export_failures_total",
		Help: "Writes to the audit export that failed and were tried again (connection refused, timed out, closed).",
	}),
}

// SandboxRuns counts the commands and code run in sandboxes, by tenant,
// whatever their outcome: the baseline against which an alert sees
// unusual code execution (a tenant running far more than it usually
// does). Count with CountSandboxRun.
var SandboxRuns = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "bulwark_sandbox_runs_total",
	Help: "Commands and code run in a sandbox (run_shell, run_code, ...), by tenant id.",
}, []string{"tenant"})

// CountSandboxRun counts one sandboxed run of tenant ("" counts as "none").
func CountSandboxRun(tenant string) {
	if tenant == "" {
		tenant = "none"
	}
	SandboxRuns.WithLabelValues(tenant).Inc()
}
