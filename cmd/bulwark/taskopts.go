package main

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/taskenv"
)

// The process's environment is read here, for taskenv, which reads none.

// fetchDial replaces fetch_url's dialer in tests that serve pages on
// loopback; production leaves it nil (the SSRF-checking egress dialer).
var fetchDial egress.DialFunc

// mcpDial replaces the dialer of MCP servers' URLs in tests; production
// leaves it nil.
var mcpDial egress.DialFunc

// sandboxOptions reads the operator's sandbox settings: BULWARK_SANDBOX,
// BULWARK_WORKSPACE_EXEC, BULWARK_MAX_EXECUTION_TIME, the write limits
// (sandboxWriteLimits), and, where the task
// names none, BULWARK_ALLOWED_DOMAINS (AllowExec empty: the sandbox's own
// default, BULWARK_ALLOWED_COMMANDS).
func sandboxOptions(allowExec, allowDomains []string) taskenv.SandboxOptions {
	if len(allowDomains) == 0 {
		allowDomains = sandbox.SplitList(env("BULWARK_ALLOWED_DOMAINS"))
	}
	timeout, _ := envDuration("BULWARK_MAX_EXECUTION_TIME", sandbox.DefaultTimeout)
	w, _ := sandboxWriteLimits()
	return taskenv.SandboxOptions{Off: sandbox.Disabled(), WorkspaceExec: workspaceExec(), Timeout: timeout,
		AllowExec: allowExec, AllowDomains: allowDomains,
		MaxFileSize: w.fileSize, WorkspaceSize: w.wsSize, WorkspaceFiles: w.wsFiles,
		WriteExecMemory: w.wxMemory}
}

// writeLimits are the bounds on what sandboxed commands write; 0 takes
// the sandbox's default.
type writeLimits struct {
	fileSize, wsSize, wsFiles int64
	wxMemory                  string // sandbox.WXAuto, WXDeny or WXAllow
}

// sandboxWriteLimits reads BULWARK_SANDBOX_MAX_FILE_SIZE (the largest file
// a command writes), BULWARK_WORKSPACE_MAX_SIZE and
// BULWARK_WORKSPACE_MAX_FILES (what a task's workspace may hold while a
// command runs), and BULWARK_SANDBOX_WX_MEMORY (auto, deny or allow:
// whether commands may have memory written and executed, see
// sandbox.Spec.WriteExecMemory).
func sandboxWriteLimits() (writeLimits, error) {
	var w writeLimits
	switch v := strings.ToLower(strings.TrimSpace(env("BULWARK_SANDBOX_WX_MEMORY"))); v {
	case "", "auto":
	case sandbox.WXDeny, sandbox.WXAllow:
		w.wxMemory = v
	default:
		return writeLimits{}, usagef("BULWARK_SANDBOX_WX_MEMORY=%q: want auto, deny or allow", v)
	}
	for _, v := range []struct {
		name string
		to   *int64
	}{{"BULWARK_SANDBOX_MAX_FILE_SIZE", &w.fileSize}, {"BULWARK_WORKSPACE_MAX_SIZE", &w.wsSize}} {
		if s := env(v.name); s != "" {
			n, err := sandbox.ParseSize(s)
			if err != nil || n <= 0 {
				return writeLimits{}, usagef("%s=%q: want a size such as 1GiB", v.name, s)
			}
			*v.to = n
		}
	}
	if s := env("BULWARK_WORKSPACE_MAX_FILES"); s != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n <= 0 {
			return writeLimits{}, usagef("BULWARK_WORKSPACE_MAX_FILES=%q: want a whole number such as 100000", s)
		}
		w.wsFiles = n
	}
	return w, nil
}

// warnSandboxLimits says, at start, that BULWARK_SANDBOX_LIMITS=off runs
// sandboxed commands without their memory, process and CPU limits.
func warnSandboxLimits(w io.Writer) {
	if sandbox.LimitsOff() && !sandbox.Disabled() {
		fmt.Fprintln(w, "bulwark: "+sandbox.LimitsOffWarning)
	}
}

// secretTools reads BULWARK_SECRET_TOOLS: the tools that may use secrets.
func secretTools() []string {
	return sandbox.SplitList(envOr("BULWARK_SECRET_TOOLS", "run_shell,run_code"))
}

// workspaceExec reads BULWARK_WORKSPACE_EXEC: "on" makes task workspaces
// executable, which widens the command allowlist to whatever the agent
// writes, and is logged as a warning (once per process); "off" or unset
// keeps them noexec. Any other value keeps them noexec too (fail closed),
// and doctor reports it.
func workspaceExec() bool {
	on, ok := parseOnOff(env("BULWARK_WORKSPACE_EXEC"))
	if ok && on {
		workspaceExecWarned.Do(func() { slog.Warn(sandbox.WorkspaceExecWarning) })
	}
	return ok && on
}

var workspaceExecWarned sync.Once

// parseOnOff reads an on/off switch: on/true/1 or off/false/0 (any case),
// empty for off; ok is false for anything else.
func parseOnOff(v string) (on, ok bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true", "1":
		return true, true
	case "", "off", "false", "0":
		return false, true
	}
	return false, false
}

// checkPolicyRule refuses a tenant's policy rule that can never match.
var checkPolicyRule = taskenv.CheckPolicyRule

// checkExecutionTime refuses a BULWARK_MAX_EXECUTION_TIME that does not
// parse ("60" meant as seconds), which sandboxOptions would otherwise
// replace with the default without a word.
func checkExecutionTime() error {
	_, err := envDuration("BULWARK_MAX_EXECUTION_TIME", sandbox.DefaultTimeout)
	return err
}

// checkSandboxSettings refuses sandbox settings that do not parse, which
// sandboxOptions would otherwise replace with the defaults without a word:
// BULWARK_MAX_EXECUTION_TIME and the write limits.
func checkSandboxSettings() error {
	if err := checkExecutionTime(); err != nil {
		return err
	}
	_, err := sandboxWriteLimits()
	return err
}
