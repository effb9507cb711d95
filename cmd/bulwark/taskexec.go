package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/metrics"

	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/tool"
)

// taskSandbox backs run_shell and run_code of one task with the sandbox:
// a warm pool bound to the task's workspace, or, with BULWARK_SANDBOX=off,
// unsandboxed runs (warned every time). When the host cannot sandbox, exec
// is nil, so the code tools refuse, and problem says why.
type taskSandbox struct {
	spec    sandbox.Spec
	pool    *sandbox.Pool
	exec    func(ctx context.Context, cmd []string) (*tool.ExecResult, error)
	problem string
	// OnRun, when set, is told of every command that ran (for the audit log).
	OnRun func(cmd []string, r *sandbox.Result)
	// OnEgress, when set, is told of every connection the sandbox's proxy
	// allowed or refused. Set it before the first command.
	OnEgress func(egress.Event)
}

// newTaskSandbox prepares the sandbox of one task: spec.Workspace is the
// task's folder; empty AllowExec and AllowDomains take the process's
// defaults (BULWARK_ALLOWED_COMMANDS, BULWARK_ALLOWED_DOMAINS).
func newTaskSandbox(spec sandbox.Spec) *taskSandbox {
	if len(spec.AllowDomains) == 0 {
		spec.AllowDomains = sandbox.SplitList(env("BULWARK_ALLOWED_DOMAINS"))
	}
	ts := &taskSandbox{spec: spec}
	ts.spec.OnEgress = func(e egress.Event) {
		if !e.Allowed {
			metrics.Security.Inc(metrics.EgressDenied)
		}
		if f := ts.OnEgress; f != nil {
			f(e)
		}
	}
	if sandbox.Disabled() {
		ts.exec = ts.run(func(ctx context.Context, cmd []string) (*sandbox.Result, error) {
			return sandbox.Run(ctx, ts.spec, cmd)
		})
		return ts
	}
	if r := sandbox.Check(); !r.OK() {
		ts.problem = r.Problem()
		return ts
	}
	pool, err := sandbox.NewPool(ts.spec, 1)
	if err != nil {
		ts.problem = userMessage(err)
		return ts
	}
	ts.pool = pool
	ts.exec = ts.run(func(ctx context.Context, cmd []string) (*sandbox.Result, error) {
		return pool.Run(ctx, cmd, nil)
	})
	return ts
}

func (ts *taskSandbox) Close() {
	if ts.pool != nil {
		ts.pool.Close()
	}
}

// run adapts a sandbox runner to tool.Env.Exec.
func (ts *taskSandbox) run(f func(context.Context, []string) (*sandbox.Result, error)) func(context.Context, []string) (*tool.ExecResult, error) {
	timeout := ts.spec.Timeout
	if timeout <= 0 {
		timeout, _ = envDuration("BULWARK_MAX_EXECUTION_TIME", sandbox.DefaultTimeout)
	}
	return func(ctx context.Context, cmd []string) (*tool.ExecResult, error) {
		r, err := f(ctx, cmd)
		if err != nil {
			return nil, err
		}
		countSandbox(r)
		if ts.OnRun != nil {
			ts.OnRun(cmd, r)
		}
		out := &tool.ExecResult{ExitCode: r.ExitCode, Stdout: r.Stdout, Stderr: r.Stderr, Duration: r.Duration,
			TimedOut: r.TimedOut, Timeout: timeout, LimitHit: r.LimitHit}
		for _, d := range r.Denials {
			out.Denied = append(out.Denied, denial(d))
		}
		return out, nil
	}
}

func denial(e egress.Event) string {
	return fmt.Sprintf("%s:%s (%s)", e.Host, e.Port, e.Reason)
}

// countSandbox adds what a sandboxed command ran into to the security counters.
func countSandbox(r *sandbox.Result) {
	if r.TimedOut || len(r.LimitHit) > 0 {
		metrics.Security.Inc(metrics.SandboxLimit)
	}
}

// egressRecord is the audit record of one connection the sandbox's proxy
// allowed or refused.
func egressRecord(tenant, taskID string, e egress.Event) audit.Record {
	outcome, action := audit.OutcomeOK, "egress.allow"
	if !e.Allowed {
		outcome, action = audit.OutcomeDenied, "egress.deny"
	}
	return audit.Record{TenantID: tenant, Actor: "sandbox", Action: action, Target: taskID, Outcome: outcome,
		Details: map[string]string{"host": e.Host, "port": e.Port, "reason": e.Reason}}
}

// sandboxRecord is the audit record of one sandboxed command.
func sandboxRecord(tenant, taskID string, cmd []string, r *sandbox.Result) audit.Record {
	d := map[string]string{
		"command":  strings.Join(cmd, " "),
		"exit":     strconv.Itoa(r.ExitCode),
		"duration": r.Duration.String(),
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
	outcome := audit.OutcomeOK
	if r.ExitCode != 0 || r.TimedOut {
		outcome = audit.OutcomeError
	}
	return audit.Record{TenantID: tenant, Actor: "cli", Action: "sandbox.run", Target: taskID, Outcome: outcome, Details: d}
}
