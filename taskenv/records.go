package taskenv

import (
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
)

// egressRecord is the audit record of one connection the sandbox's proxy
// allowed or refused.
func egressRecord(tenant, taskID string, e egress.Event) audit.Record {
	outcome, action := audit.OutcomeOK, "egress.allow"
	if !e.Allowed {
		outcome, action = audit.OutcomeDenied, "egress.deny"
	}
	d := map[string]string{"host": e.Host, "port": e.Port, "reason": e.Reason}
	if e.Secret != "" {
		// A secret put into a request, or its placeholder refused.
		action = "egress.secret_use"
		if !e.Allowed {
			action = "egress.secret_refused"
		}
		d["secret"] = e.Secret
	}
	return audit.Record{TenantID: tenant, Actor: "sandbox", Action: action, Target: taskID, Outcome: outcome, Details: d}
}

// sandboxRecord is the audit record of one sandboxed command.
func sandboxRecord(tenant, taskID string, cmd []string, r *sandbox.Result) audit.Record {
	f := audit.DescribeCommand(cmd) // never the command line: it is task content
	d := map[string]string{
		"program":     f.Target,
		"args_sha256": f.ArgsSHA256,
		"summary":     f.Summary,
		"exit":        strconv.Itoa(r.ExitCode),
		"duration":    r.Duration.String(),
	}
	if r.TimedOut {
		d["timed_out"] = "true"
	}
	if len(r.LimitHit) > 0 {
		d["limits_hit"] = strings.Join(r.LimitHit, ",")
	}
	if len(r.Denials) > 0 {
		var ds []string
		for _, e := range r.Denials {
			ds = append(ds, denial(e))
		}
		d["denied"] = strings.Join(ds, "; ")
	}
	if r.Unsandboxed {
		d["unsandboxed"] = "true"
	}
	if r.NotAllowed {
		d["not_allowed"] = "true"
	}
	if r.SyscallKilled > 0 {
		d["syscall_killed"] = strconv.Itoa(r.SyscallKilled)
	}
	outcome := audit.OutcomeOK
	switch {
	case r.NotAllowed:
		outcome = audit.OutcomeDenied
	case r.ExitCode != 0 || r.TimedOut:
		outcome = audit.OutcomeError
	}
	return audit.Record{TenantID: tenant, Actor: "sandbox", Action: "sandbox.run", Target: taskID, Outcome: outcome, Details: d}
}
