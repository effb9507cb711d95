package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
)

const sandboxUsage = `Usage:
  bulwark sandbox exec [FLAGS] -- CMD [ARG...]
  bulwark sandbox check [--json]

exec runs one command in a fresh sandbox, as the agent's run_shell and
run_code do: only allowed commands (--allow-exec, else
BULWARK_ALLOWED_COMMANDS), no network unless --net proxy with allowed
domains, within time, memory, process and CPU limits. check says whether
this host has what the sandbox needs (user namespaces, cgroups, seccomp,
Landlock) and proves it by running a command; not as root, it also says
who Bulwark runs as, its subordinate ids, and what that gives up.

Not root, the limits need a cgroup the user may write: BULWARK_CGROUP names
one (relative to each hierarchy's root), else the process's own serves if
writable (systemd Delegate=yes); BULWARK_SANDBOX_LIMITS=off runs without
them, warned.

Example:
  bulwark sandbox exec --allow-exec python3 -- python3 -c 'print(2+2)'`

func runSandbox(ctx context.Context, args []string, s stdio) int {
	if code, done := helpRequested(args, sandboxUsage, s); done {
		return code
	}
	switch args[0] {
	case "exec":
		return sandboxExec(ctx, args[1:], s)
	case "check":
		return sandboxCheck(ctx, args[1:], s)
	}
	return fail(s, usagef("sandbox: unknown subcommand %q: exec or check (see 'bulwark help sandbox')", args[0]))
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// sandboxExecSpec parses the exec flags into a Spec and the command.
func sandboxExecSpec(args []string, s stdio) (sandbox.Spec, []string, error) {
	fs := newFlagSet("sandbox exec", sandboxUsage)
	var (
		spec    sandbox.Spec
		allow   = fs.String("allow-exec", "", "comma-separated commands the sandbox may run (default BULWARK_ALLOWED_COMMANDS)")
		netMode = fs.String("net", "none", "none or proxy")
		domains listFlag
		timeout = fs.String("timeout", "", "wall-clock limit (default BULWARK_MAX_EXECUTION_TIME, 30s)")
		memory  = fs.String("memory", "512MiB", "memory limit")
		pids    = fs.Int("pids", sandbox.DefaultPids, "process limit")
		cpu     = fs.String("cpu", "1.0", "CPU share (1.0 = one core)")
		debug   = fs.Bool("debug", false, "print to stderr when each phase of the sandbox ended, from this process's start")
	)
	fs.StringVar(&spec.Workspace, "workspace", "", "folder bound read-write at /workspace (default: a fresh temporary one)")
	fs.Var(&domains, "allow-domain", "a domain the proxy lets through (repeatable; implies --net proxy)")
	if err := fs.parse(args, s); err != nil {
		return spec, nil, err
	}
	cmd := fs.Args()
	if len(cmd) == 0 {
		return spec, nil, usagef("sandbox exec: no command given (bulwark sandbox exec [FLAGS] -- CMD [ARG...])")
	}
	if *allow != "" {
		spec.AllowExec = sandbox.SplitList(*allow)
	}
	spec.Net = sandbox.NetMode(*netMode)
	if spec.Net != sandbox.NetNone && spec.Net != sandbox.NetProxy {
		return spec, nil, usagef("sandbox exec: --net %q: want none or proxy", *netMode)
	}
	spec.AllowDomains = domains
	if spec.Net == sandbox.NetProxy && len(domains) == 0 {
		return spec, nil, usagef("sandbox exec: --net proxy needs at least one --allow-domain")
	}
	if *timeout != "" {
		d, err := parseDurationFlag(*timeout)
		if err == nil && d <= 0 {
			err = fmt.Errorf("it must be positive")
		}
		if err != nil {
			return spec, nil, usagef("sandbox exec: --timeout %q: %v", *timeout, err)
		}
		spec.Timeout = d
	}
	m, err := sandbox.ParseSize(*memory)
	if err != nil {
		return spec, nil, usagef("sandbox exec: --memory: %v", err)
	}
	spec.Memory = m
	spec.Pids = *pids
	c, err := strconv.ParseFloat(*cpu, 64)
	if err != nil || c <= 0 {
		return spec, nil, usagef("sandbox exec: --cpu %q: want a positive fraction like 0.5", *cpu)
	}
	spec.CPU = c
	if spec.Workspace != "" {
		st, err := os.Stat(spec.Workspace)
		if err != nil || !st.IsDir() {
			return spec, nil, usagef("sandbox exec: --workspace %q is not a folder", spec.Workspace)
		}
	}
	spec.WorkspaceExec = workspaceExec()
	if *debug {
		spec.Trace = &sandbox.Trace{}
	}
	spec.Stdin, spec.Stdout, spec.Stderr = s.in, s.out, s.err
	spec.OnEgress = func(e egress.Event) {
		if !e.Allowed {
			fmt.Fprintf(s.err, "bulwark: sandbox: egress to %s:%s refused: %s\n", e.Host, e.Port, e.Reason)
		}
	}
	return spec, cmd, nil
}

func sandboxExec(ctx context.Context, args []string, s stdio) int {
	spec, cmd, err := sandboxExecSpec(args, s)
	if err != nil {
		return fail(s, err)
	}
	spec.Trace.Mark("cli: package inits, main, flags parsed")
	defer printTrace(s, spec.Trace)
	if sandbox.Disabled() {
		fmt.Fprintf(s.err, "bulwark: %s\n", sandbox.UnsandboxedWarning)
	}
	restore := keepTerminal(s.in, s.out, s.err)
	res, err := sandbox.Run(ctx, spec, cmd)
	restore()
	if err != nil {
		return fail(s, err)
	}
	timeout := spec.Timeout
	if timeout == 0 {
		timeout = sandbox.DefaultTimeout
		if d, err := time.ParseDuration(os.Getenv("BULWARK_MAX_EXECUTION_TIME")); err == nil && d > 0 {
			timeout = d
		}
	}
	if msg := res.Failure(timeout); msg != "" {
		fmt.Fprintf(s.err, "bulwark: %s\n", msg)
		switch {
		case res.TimedOut:
			return 124
		case res.ExitCode > 0:
			return res.ExitCode
		}
		return exitFailed
	}
	for _, l := range res.LimitHit {
		if l == "output" {
			fmt.Fprintf(s.err, "bulwark: sandbox: output truncated at the %d-byte limit\n", sandbox.DefaultOutputLimit)
		}
	}
	if res.ExitCode < 0 {
		return exitFailed
	}
	return res.ExitCode
}

func sandboxCheck(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("sandbox check", sandboxUsage)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.parse(args, s); err != nil {
		return fail(s, err)
	}
	r := sandbox.Check()
	r.Warnings = append(r.Warnings, sandbox.UIDRangeClashes()...)
	probe := ""
	if r.OK() {
		// Prove it: build a real sandbox and run one command in it.
		res, err := sandbox.Run(ctx, sandbox.Spec{AllowExec: []string{"true"}, Timeout: 10 * time.Second}, []string{"true"})
		switch {
		case err != nil:
			probe = "a test sandbox failed: " + errorLine(err)
		case res.ExitCode != 0:
			probe = fmt.Sprintf("a test command in the sandbox exited %d: %s", res.ExitCode, strings.TrimSpace(string(res.Stderr)))
		}
		if probe != "" {
			r.Missing = append(r.Missing, probe)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		enc.Encode(r)
	} else {
		yes := func(b bool) string {
			if b {
				return "yes"
			}
			return "NO"
		}
		fmt.Fprintf(s.out, "user:             %s\n", r.User)
		if !r.Root {
			ids := r.SubordinateIDs
			if ids == "" {
				ids = "NONE"
			}
			fmt.Fprintf(s.out, "subordinate ids:  %s\n", ids)
		}
		fmt.Fprintf(s.out, "user namespaces:  %s\n", yes(r.UserNamespaces))
		fmt.Fprintf(s.out, "landlock ABI:     %d\n", r.LandlockABI)
		fmt.Fprintf(s.out, "seccomp:          %s\n", yes(r.Seccomp))
		for _, c := range r.Cgroups {
			where := "MISSING"
			if c.Version > 0 {
				where = fmt.Sprintf("cgroup v%d at %s", c.Version, c.Parent)
			}
			fmt.Fprintf(s.out, "cgroup %-10s %s\n", c.Name+":", where)
		}
		fmt.Fprintf(s.out, "init:             %s\n", r.Init)
		if r.Root {
			fmt.Fprintf(s.out, "root trees:       %s\n", pinnedTreesLine(sandbox.PinnedTrees()))
		}
		if r.LimitsOff {
			fmt.Fprintf(s.out, "limits:           OFF (%s=off)\n", sandbox.LimitsVar)
		}
		if r.OK() {
			fmt.Fprintln(s.out, "sandbox:          ready (a test sandbox ran)")
		}
		if r.Isolation != "" {
			fmt.Fprintf(s.out, "not root:         %s\n", r.Isolation)
		}
		for _, w := range r.Warnings {
			fmt.Fprintf(s.out, "warning:          %s\n", w)
		}
		for _, m := range r.Missing {
			fmt.Fprintf(s.out, "missing:          %s\n", m)
		}
	}
	if !r.OK() {
		if sandbox.Disabled() {
			fmt.Fprintf(s.err, "bulwark: %s\n", sandbox.UnsandboxedWarning)
		}
		return exitFailed
	}
	return exitOK
}

func errorLine(err error) string {
	var ue usageError
	if errors.As(err, &ue) {
		return ue.msg
	}
	return userMessage(err)
}

// printTrace writes the phases of t, in milliseconds since the Go runtime
// started this process; nothing when t is nil.
func printTrace(s stdio, t *sandbox.Trace) {
	if t == nil {
		return
	}
	t0 := processStart()
	fmt.Fprintf(s.err, "bulwark: sandbox trace, ms since the Go runtime started this process (the kernel's execve and the loading of the binary come before):\n")
	fmt.Fprintf(s.err, "%9s %9s  %s\n", "at", "+", "phase ended")
	prev := t0
	for _, p := range t.Phases() {
		fmt.Fprintf(s.err, "%9.3f %9.3f  %s\n", ms(p.At-t0), ms(p.At-prev), p.Name)
		prev = p.At
	}
}

// processStart is when the Go runtime of this process started, on the
// sandbox trace's clock: the time package's start, which its monotonic
// readings count from ("m=+0.0123" in Time.String).
func processStart() time.Duration {
	now := sandbox.Monotonic()
	str := time.Now().String()
	i := strings.LastIndex(str, " m=")
	if i < 0 {
		return now
	}
	sec, err := strconv.ParseFloat(str[i+3:], 64)
	if err != nil {
		return now
	}
	return now - time.Duration(sec*float64(time.Second))
}

// pinnedTreesLine says how many root trees are pinned for later runs of
// `sandbox exec` and how to drop them.
func pinnedTreesLine(n int, dir string) string {
	if n == 0 {
		return "none pinned (" + dir + ")"
	}
	return fmt.Sprintf("%d pinned in %s for later sandbox exec runs (umount %s/* drops them)", n, dir, dir)
}
