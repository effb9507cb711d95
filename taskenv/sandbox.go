package taskenv

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/tool"
)

// SandboxOptions are the operator's sandbox settings, read by the caller
// (cmd/bulwark reads them from the environment).
type SandboxOptions struct {
	// Off runs commands without a sandbox (BULWARK_SANDBOX=off), each run
	// marked unsandboxed in its result and audit record.
	Off bool
	// WorkspaceExec makes the workspace executable (BULWARK_WORKSPACE_EXEC=on).
	WorkspaceExec bool
	// Timeout bounds each command; 0: sandbox.DefaultTimeout.
	Timeout time.Duration
	// AllowExec and AllowDomains are the command and domain allowlists;
	// empty takes the sandbox's defaults.
	AllowExec, AllowDomains []string
	// MaxFileSize, WorkspaceSize and WorkspaceFiles bound what commands
	// write (sandbox.Spec); 0 takes the sandbox's defaults.
	MaxFileSize, WorkspaceSize, WorkspaceFiles int64
	// WriteExecMemory is sandbox.Spec.WriteExecMemory: "" (auto), deny or allow.
	WriteExecMemory string
}

// sandboxCheck is sandbox.Check; tests make it report a host that cannot
// sandbox.
var sandboxCheck = sandbox.Check

// taskSandbox backs run_shell and run_code of one task with the sandbox:
// a warm pool bound to the task's workspace, or, with SandboxOptions.Off,
// unsandboxed runs. When the host cannot sandbox, exec is nil, so the code
// tools refuse, and problem says why.
type taskSandbox struct {
	spec    sandbox.Spec
	pool    *sandbox.Pool
	exec    func(ctx context.Context, cmd []string) (*tool.ExecResult, error)
	problem string
	tenant  string
	// onRun is told of every command that ran (for the audit log); an
	// error refuses every later command: a task whose commands cannot be
	// audited runs no more of them (fail closed).
	onRun func(cmd []string, r *sandbox.Result) error
	// onEgress is told of every connection the sandbox's proxy allowed or
	// refused.
	onEgress  func(egress.Event) error
	auditDown atomic.Bool
}

// newTaskSandbox prepares the sandbox of one task in workspace dir, whose
// paths matching a pattern of hide (code.HiddenFiles of the task's
// policy) each command finds covered (sandbox.Spec.Hide); onRun and
// onEgress (nil: none) are told of its commands and connections (a warm
// pool may start its proxy at once, so they are set here).
func newTaskSandbox(o SandboxOptions, dir string, hide []string, intercept *egress.Intercept, tenant string,
	onRun func([]string, *sandbox.Result) error, onEgress func(egress.Event) error) *taskSandbox {
	spec := sandbox.Spec{Workspace: dir, Hide: hide, AllowExec: o.AllowExec, AllowDomains: o.AllowDomains,
		Intercept: intercept, WorkspaceExec: o.WorkspaceExec, Timeout: o.Timeout,
		MaxFileSize: o.MaxFileSize, WorkspaceSize: o.WorkspaceSize, WorkspaceFiles: o.WorkspaceFiles,
		WriteExecMemory: o.WriteExecMemory}
	ts := &taskSandbox{spec: spec, tenant: tenant, onRun: onRun, onEgress: onEgress}
	ts.spec.OnEgress = func(e egress.Event) {
		switch {
		case !e.Allowed && e.Secret != "":
			metrics.Security.Inc(metrics.SecretRefused)
		case !e.Allowed:
			metrics.Security.Inc(metrics.EgressDenied)
		}
		if f := ts.onEgress; f != nil {
			if err := f(e); err != nil {
				ts.auditDown.Store(true)
			}
		}
	}
	if o.Off {
		ts.exec = ts.run(func(ctx context.Context, cmd []string, out sandbox.Output) (*sandbox.Result, error) {
			spec := ts.spec
			spec.Output = out
			return sandbox.Run(ctx, spec, cmd)
		})
		return ts
	}
	if r := sandboxCheck(); !r.OK() {
		ts.problem = r.Problem()
		return ts
	}
	pool, err := sandbox.NewPool(ts.spec, 1)
	if err != nil {
		ts.problem = bulwark.ErrorMessage(err)
		return ts
	}
	ts.pool = pool
	ts.exec = ts.run(func(ctx context.Context, cmd []string, out sandbox.Output) (*sandbox.Result, error) {
		return pool.RunOutput(ctx, cmd, nil, out)
	})
	return ts
}

func (ts *taskSandbox) Close() {
	if ts.pool != nil {
		ts.pool.Close()
	}
}

// run adapts a sandbox runner to tool.Env.Exec: the output goes as it
// comes to the tool.OutputFunc of the call's context, if any.
func (ts *taskSandbox) run(f func(context.Context, []string, sandbox.Output) (*sandbox.Result, error)) func(context.Context, []string) (*tool.ExecResult, error) {
	timeout := ts.spec.Timeout
	if timeout <= 0 {
		timeout = sandbox.DefaultTimeout
	}
	return func(ctx context.Context, cmd []string) (*tool.ExecResult, error) {
		if ts.auditDown.Load() {
			return nil, bulwark.Errorf(bulwark.Unavailable, "sandbox.run", "the audit log cannot record commands, so no more are run in this task")
		}
		var live sandbox.Output
		if o := tool.OutputOf(ctx); o != nil {
			live = sandbox.Output(o)
		}
		r, err := f(ctx, cmd, live)
		if err != nil && !(r != nil && bulwark.ErrorKind(err) == bulwark.Canceled) {
			return nil, err
		}
		// A command stopped with its task still hands back what it printed
		// (with the Canceled error), so that its result is kept.
		countSandbox(r, ts.tenant)
		if ts.onRun != nil {
			if err := ts.onRun(cmd, r); err != nil {
				ts.auditDown.Store(true)
				slog.Error("audit record of a sandboxed command not written", "err", err)
			}
		}
		out := &tool.ExecResult{ExitCode: r.ExitCode, Stdout: r.Stdout, Stderr: r.Stderr, Duration: r.Duration,
			TimedOut: r.TimedOut, Timeout: timeout, LimitHit: r.LimitHit}
		for _, d := range r.Denials {
			out.Denied = append(out.Denied, denial(d))
		}
		return out, err
	}
}

func denial(e egress.Event) string {
	return fmt.Sprintf("%s:%s (%s)", e.Host, e.Port, e.Reason)
}

// countSandbox adds what a sandboxed command ran into to the security
// counters: its limits, a command the sandbox refused to start
// (sandbox_denied), processes the seccomp filter killed (syscall_denied;
// see sandbox.Result.SyscallKilled for what can be seen), and the run
// itself (bulwark_sandbox_runs_total).
func countSandbox(r *sandbox.Result, tenant string) {
	metrics.CountSandboxRun(tenant)
	if r.TimedOut || len(r.LimitHit) > 0 {
		metrics.Security.Inc(metrics.SandboxLimit)
	}
	if r.NotAllowed {
		metrics.Security.IncTenant(metrics.SandboxDenied, tenant)
	}
	for range r.SyscallKilled {
		metrics.Security.IncTenant(metrics.SyscallDenied, tenant)
	}
}
