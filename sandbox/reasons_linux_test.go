package sandbox

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/internal/sigsysprobe"
)

// A command that cannot start says why on its stderr, and the Result
// carries it: not "exit 126" with nothing to go on.
func TestStartFailureReasons(t *testing.T) {
	requireSandbox(t)
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "tool.sh"), []byte("#!/bin/bash\necho ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cmd      []string
		exit     int
		want     []string
		whyLabel string
		refused  bool // Result.NotAllowed: the sandbox's policy refused it
	}{
		{[]string{"python3", "-c", "print(1)"}, 126, []string{"sandbox: python3: not on the sandbox's command allowlist", "BULWARK_ALLOWED_COMMANDS"}, "off the allowlist", true},
		{[]string{"/usr/bin/python3", "-c", "print(1)"}, 126, []string{"not on the sandbox's command allowlist", "BULWARK_ALLOWED_COMMANDS"}, "off the allowlist, by path", true},
		{[]string{"no-such-program"}, 127, []string{"sandbox: no-such-program: command not found"}, "not found", false},
		{[]string{"/usr/bin/no-such-program"}, 127, []string{"sandbox: /usr/bin/no-such-program: command not found"}, "not found, by path", false},
		{[]string{"/workspace/tool.sh"}, 126, []string{"mounted noexec", "BULWARK_WORKSPACE_EXEC=on"}, "in the workspace", true},
		{[]string{"bash", "-c", "exit 126"}, 126, nil, "allowed, exits 126", false},
	}
	for _, tt := range tests {
		res := mustRun(t, Spec{Workspace: ws, AllowExec: []string{"bash"}}, tt.cmd...)
		got := string(res.Stderr)
		if res.ExitCode != tt.exit {
			t.Errorf("%s: Run(%q) exit %d, want %d", tt.whyLabel, tt.cmd, res.ExitCode, tt.exit)
		}
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: Run(%q) stderr = %q, want it to contain %q", tt.whyLabel, tt.cmd, got, w)
			}
		}
		if res.NotAllowed != tt.refused {
			t.Errorf("%s: Run(%q) NotAllowed = %v, want %v", tt.whyLabel, tt.cmd, res.NotAllowed, tt.refused)
		}
	}
}

// A process the seccomp filter kills (a system call through the i386 ABI,
// int 0x80, from a 64-bit process; on a host that runs no i386 system
// calls, a process killed by SIGSYS as the filter kills: see sigsysprobe)
// is counted in SyscallKilled when the init reaps it (the command, or an
// orphan); a command that ends normally counts none.
func TestSyscallKilledCounted(t *testing.T) {
	requireSandbox(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the i386 ABI probe is x86-64 code")
	}
	program := sigsysprobe.Program(t)
	// The i386 probe runs machine code it wrote: it needs W^X off.
	res := py(t, Spec{Workspace: t.TempDir(), WriteExecMemory: WXAllow}, program)
	if strings.Contains(string(res.Stdout), sigsysprobe.Escaped) {
		t.Fatalf("the i386 system call ran: %s", res.Stdout)
	}
	if res.SyscallKilled != 1 || res.ExitCode != 128+int(unix.SIGSYS) {
		t.Errorf("SyscallKilled = %d, exit %d (stderr %q); want 1 and %d", res.SyscallKilled, res.ExitCode, res.Stderr, 128+int(unix.SIGSYS))
	}
	// An orphan, too: the init reaps it. (A child its parent waits for is
	// reaped by the parent, and not seen: a shell reports it on stderr.)
	res = mustRun(t, Spec{Workspace: t.TempDir(), AllowExec: []string{"python3", "bash", "sleep"}, WriteExecMemory: WXAllow},
		"bash", "-c", `(python3 -c "$0" &); sleep 1`, program)
	if res.SyscallKilled != 1 {
		t.Errorf("an orphan: SyscallKilled = %d, want 1 (stdout %q, stderr %q)", res.SyscallKilled, res.Stdout, res.Stderr)
	}
	if res := mustRun(t, Spec{Workspace: t.TempDir(), AllowExec: []string{"bash"}}, "bash", "-c", "exit 3"); res.SyscallKilled != 0 {
		t.Errorf("a normal command: SyscallKilled = %d, want 0", res.SyscallKilled)
	}
}

// A program that the command itself tries to run (bash -c, as run_shell
// does; Python's subprocess) and that the sandbox refuses gets the same
// reason on stderr, not only the shell's "Permission denied" (red team).
func TestInnerStartFailureReasons(t *testing.T) {
	requireSandbox(t)
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "tool.sh"), []byte("#!/bin/bash\necho ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		allow []string
		cmd   []string
		want  string
	}{
		{[]string{"bash"}, []string{"bash", "-c", "python3 -c 'print(1)'"}, "sandbox: /usr/bin/python3: not on the sandbox's command allowlist"},
		{[]string{"bash"}, []string{"bash", "-c", "./tool.sh"}, "sandbox: ./tool.sh: programs in the workspace cannot be run"},
		{[]string{"python3"}, []string{"python3", "-c", "import subprocess; subprocess.run(['ls'])"}, "sandbox: ls: not on the sandbox's command allowlist"},
	}
	for _, tt := range tests {
		res := mustRun(t, Spec{Workspace: ws, AllowExec: tt.allow}, tt.cmd...)
		if got := string(res.Stderr); !strings.Contains(got, tt.want) || !strings.Contains(got, "BULWARK_") {
			t.Errorf("Run(%q) stderr = %q, want it to contain %q and how to allow it", tt.cmd, got, tt.want)
		}
	}
	// An allowed program that fails on its own gets no such line.
	res := mustRun(t, Spec{Workspace: ws, AllowExec: []string{"bash", "cat"}}, "bash", "-c", "cat /nonexistent /proc/1/environ; echo x > /proc/1/environ")
	if strings.Contains(string(res.Stderr), "sandbox:") {
		t.Errorf("an allowed program's own failure was explained as a refusal: %q", res.Stderr)
	}
}
