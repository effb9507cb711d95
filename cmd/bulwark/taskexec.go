package main

import (
	"context"
	"fmt"

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
}

func newTaskSandbox(workspaceDir string) *taskSandbox {
	ts := &taskSandbox{spec: sandbox.Spec{
		Workspace:    workspaceDir,
		AllowDomains: sandbox.SplitList(env("BULWARK_ALLOWED_DOMAINS")),
	}}
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
