package metrics

// AuditExport counts what BULWARK_AUDIT_EXPORT did with the audit
// records it was given: written, dropped (its queue was full, the
// destination was down too long, or a record was too large for a UDP
// datagram), and writes that failed and were tried again. A dropped
// record stays in the audit log; `bulwark audit verify --export` shows the
// gaps. The counters are registered with Default by Handler.
var AuditExport = struct {
	Exported, Dropped, Failed *Counter
}{
	Exported: &Counter{desc: &desc{
		name: "bulwark_audit_export_records_total",
		help: "Audit records written to the audit export (BULWARK_AUDIT_EXPORT).",
	}},
	Dropped: &Counter{desc: &desc{
		name: "bulwark_audit_export_dropped_total",
		help: "Audit records left out of the audit export (queue full, destination down, too large); they stay in the audit log.",
	}},
	Failed: &Counter{desc: &desc{
		name: "bulwark_audit_export_failures_total",
		help: "Writes to the audit export that failed and were tried again (connection refused, timed out, closed).",
	}},
}

// SandboxRuns counts the commands and code run in sandboxes, by tenant,
// whatever their outcome: the baseline against which an alert sees
// unusual code execution (a tenant running far more than it usually
// does). Count with CountSandboxRun.
var SandboxRuns = &CounterVec{
	desc: desc{
		name: "bulwark_sandbox_runs_total",
		help: "Commands and code run in a sandbox (run_shell, run_code, ...), by tenant id.",
	},
	labels: []string{"tenant"},
}

// The counters above are composite literals, not NewCounter calls, so that
// the compiler lays them out statically: no code runs for them at init.

// CountSandboxRun counts one sandboxed run of tenant ("" counts as "none").
func CountSandboxRun(tenant string) {
	if tenant == "" {
		tenant = "none"
	}
	SandboxRuns.With(tenant).Inc()
}
