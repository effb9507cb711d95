package initproc

import (
	"path"
	"slices"
)

// Write-or-execute memory (W^X). The allowlist controls execve only: a
// process that can map memory writable and executable, or write memory
// and then make it executable, runs any machine code it likes (Python's
// ctypes needs nothing more), a program off the allowlist loaded by hand
// included. Where W^X holds, the command's processes cannot: the kernel's
// memory-deny-write-execute (prctl PR_SET_MDWE, Linux 6.3) refuses a
// mapping both writable and executable and any change that makes a
// mapping executable, for the command and everything it runs (it is
// inherited and cannot be undone), and the seccomp filter refuses mmap,
// mprotect and pkey_mprotect asking for both, and shmat with SHM_EXEC (a
// System V segment attached twice, once writable and once executable,
// would alias the two). The other aliases are closed already: memfd_create
// fails, /tmp, /dev/shm, /dev and the workspace are noexec, the system
// folders read-only, and Landlock grants no write to /proc (/proc/self/mem
// writes through page protections).
//
// JIT compilers need such memory: V8 (node, deno) aborts at its first
// compiled function, the JVM at its start. So W^X holds by default only
// where the allowlist names none of JITRuntimes; WXDeny makes it hold
// anyway (node then needs --jitless, java does not run), WXAllow never.

// The values of Config.WriteExec.
const (
	WXAuto  = ""      // deny unless a JIT runtime is allowed
	WXDeny  = "deny"  // always deny
	WXAllow = "allow" // never deny
)

// JITRuntimes are the program names (of an allowlist entry, or of the
// real file it resolves to) known to need memory that is written and
// then executed.
var JITRuntimes = []string{
	"node", "nodejs", "deno", "bun", "java", "javac", "jshell", "jrunscript", "kotlin",
	"scala", "clojure", "dotnet", "mono", "pypy", "pypy3", "luajit", "julia", "qjs",
	"electron", "chromium", "chrome", "firefox", "qemu-x86_64", "valgrind", "erl", "beam.smp",
}

// DenyWriteExec decides W^X for the mode asked and the allowlist: its
// entries as given, those of them installed (installed reports whether
// one resolves to a file), and the real files they resolved to. An entry
// that names a JIT runtime turns W^X off only where it is installed: one
// that runs nothing ("deno" on a host without it) would leave every
// allowed program free to run machine code it wrote.
func DenyWriteExec(mode string, names, real []string, installed func(string) bool) bool {
	switch mode {
	case WXDeny:
		return true
	case WXAllow:
		return false
	}
	for _, n := range real {
		if slices.Contains(JITRuntimes, path.Base(n)) {
			return false
		}
	}
	for _, n := range names {
		if slices.Contains(JITRuntimes, path.Base(n)) && installed(n) {
			return false
		}
	}
	return true
}
