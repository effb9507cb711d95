package sandbox

import (
	"strings"
	"testing"
)

// wxAttack tries every way Python's ctypes has to get memory it wrote
// executed, and runs "mov eax, 42; ret" from it when one works.
const wxAttack = `
import ctypes, mmap, os
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.shmat.restype = ctypes.c_void_p
code = b"\xb8\x2a\x00\x00\x00\xc3"
R, W, X = mmap.PROT_READ, mmap.PROT_WRITE, mmap.PROT_EXEC
FAILED = ctypes.c_void_p(-1).value

def run(name, addr):
    if addr in (None, 0, FAILED):
        print("BLOCKED", name, os.strerror(ctypes.get_errno()))
        return
    if ctypes.CFUNCTYPE(ctypes.c_int)(addr)() == 42:
        print("ESCAPED", name, "ran machine code")

# 1. mmap writable and executable at once (Python's own mmap module).
try:
    m = mmap.mmap(-1, 4096, prot=R | W | X)
    m.write(code)
    run("mmap module RWX", ctypes.addressof(ctypes.c_char.from_buffer(m)))
except OSError as e:
    print("BLOCKED mmap module RWX", e.strerror)

# 2. The same through libc.
a = libc.mmap(None, 4096, R | W | X, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
if a not in (None, FAILED):
    ctypes.memmove(a, code, len(code))
run("libc mmap RWX", a)

# 3. Written, then made executable.
a = libc.mmap(None, 4096, R | W, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
ctypes.memmove(a, code, len(code))
run("mprotect RW to RX", a if libc.mprotect(ctypes.c_void_p(a), 4096, R | X) == 0 else None)

# 4. Executable first, then written through a second, writable view:
# a System V segment attached twice.
shm = libc.shmget(0, 4096, 0o1600)
w = libc.shmat(shm, None, 0)
ctypes.memmove(w, code, len(code))
run("shmat SHM_EXEC alias", libc.shmat(shm, None, 0o100000 | 0o10000))

# 5. Executable first, written through /proc/self/mem (which writes
# through page protections).
a = libc.mmap(None, 4096, R | X, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
try:
    with open("/proc/self/mem", "r+b", buffering=0) as f:
        f.seek(a)
        f.write(code)
    run("/proc/self/mem", a)
except OSError as e:
    print("BLOCKED /proc/self/mem", e.strerror)

# ctypes callbacks (libffi closures) need such memory too, or a memfd
# mapped twice: they fail, the cost of W^X for Python.
try:
    ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda v: v + 1)
    print("callback made")
except MemoryError:
    print("no callback")
print("python goes on")
`

// Where the allowlist names no JIT runtime, no process of the command can
// run machine code it wrote (W^X): the allowlist, which controls execve
// only, cannot be bypassed by loading code by hand.
func TestEscapeWriteExecMemory(t *testing.T) {
	requireSandbox(t)
	res := py(t, Spec{Workspace: t.TempDir()}, wxAttack)
	assertContained(t, res, 5)
	if !strings.Contains(string(res.Stdout), "python goes on") {
		t.Errorf("python broke under W^X: stdout %q, stderr %q", res.Stdout, res.Stderr)
	}
	// WXDeny holds whatever the allowlist names.
	res = py(t, Spec{Workspace: t.TempDir(), WriteExecMemory: WXDeny, AllowExec: []string{"python3", "node"}}, wxAttack)
	assertContained(t, res, 5)
	// A JIT runtime named but not installed runs nothing and turns
	// nothing off (it did: "deno" on the allowlist freed python3).
	for _, jit := range JITRuntimes() {
		if lookPath(jit) == "" {
			res = py(t, Spec{Workspace: t.TempDir(), AllowExec: []string{"python3", jit}}, wxAttack)
			assertContained(t, res, 5)
			break
		}
	}
}

// JIT runtimes need memory they write and execute: with one on the
// allowlist (node is on the default one), W^X is off and node compiles;
// with W^X forced, node runs only without its JIT.
func TestWriteExecMemoryJIT(t *testing.T) {
	requireSandbox(t)
	if lookPath("node") == "" {
		t.Skip("node is not installed")
	}
	// A loop hot enough for V8's compilers.
	const hot = "let s = 0; for (let i = 0; i < 3e6; i++) s += i % 7; console.log('sum', s)"
	res := mustRun(t, Spec{Workspace: t.TempDir(), AllowExec: []string{"node"}}, "node", "-e", hot)
	if res.ExitCode != 0 || !strings.Contains(string(res.Stdout), "sum") {
		t.Errorf("node with W^X off (auto): exit %d, stdout %q, stderr %.300q", res.ExitCode, res.Stdout, res.Stderr)
	}
	// The evidence that W^X breaks a JIT: V8 aborts.
	res = mustRun(t, Spec{Workspace: t.TempDir(), AllowExec: []string{"node"}, WriteExecMemory: WXDeny}, "node", "-e", hot)
	if res.ExitCode == 0 {
		t.Errorf("node's JIT ran under W^X: stdout %q", res.Stdout)
	}
	res = mustRun(t, Spec{Workspace: t.TempDir(), AllowExec: []string{"node"}, WriteExecMemory: WXDeny, Env: []string{"NODE_OPTIONS=--jitless"}}, "node", "-e", hot)
	if res.ExitCode != 0 || !strings.Contains(string(res.Stdout), "sum") {
		t.Errorf("node --jitless under W^X: exit %d, stdout %q, stderr %.300q", res.ExitCode, res.Stdout, res.Stderr)
	}
}
