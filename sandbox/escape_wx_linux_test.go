package sandbox

import (
	"os"
	"path/filepath"
	"runtime"
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

# 6. Executable first, in shared memory, then a second view of the same
# pages made by mremap (old_size 0 duplicates a shared mapping) and
# made writable: dropping execute is never refused.
libc.mremap.restype = ctypes.c_void_p
libc.mremap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int]
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
x = libc.mmap(None, 4096, R | X, mmap.MAP_SHARED | mmap.MAP_ANONYMOUS, -1, 0)
if x not in (None, FAILED):
    w = libc.mremap(x, 0, 4096, 1)
    if w not in (None, FAILED) and libc.mprotect(w, 4096, R | W) == 0:
        ctypes.memmove(w, code, len(code))
run("shared RX, mremap alias made writable", x)

# 7. The same, the second view a fork's: the child makes its copy of the
# shared mapping writable and writes.
x = libc.mmap(None, 4096, R | X, mmap.MAP_SHARED | mmap.MAP_ANONYMOUS, -1, 0)
if x not in (None, FAILED):
    pid = os.fork()
    if pid == 0:
        if libc.mprotect(x, 4096, R | W) == 0:
            ctypes.memmove(x, code, len(code))
        os._exit(0)
    os.waitpid(pid, 0)
run("shared RX, written by a fork", x)

# 8. MAP_SHARED_VALIDATE, the other shared type.
x = libc.mmap(None, 4096, R | X, 0x03 | mmap.MAP_ANONYMOUS, -1, 0)
if x not in (None, FAILED):
    w = libc.mremap(x, 0, 4096, 1)
    if w not in (None, FAILED) and libc.mprotect(w, 4096, R | W) == 0:
        ctypes.memmove(w, code, len(code))
run("MAP_SHARED_VALIDATE RX alias", x)

# ctypes callbacks (libffi closures) need such memory too, or a memfd
# mapped twice: they fail, the cost of W^X for Python.
try:
    ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int)(lambda v: v + 1)
    print("callback made")
except MemoryError:
    print("no callback")
print("python goes on")
`

// wxAttacks is how many ways wxAttack tries.
const wxAttacks = 8

// Where the allowlist names no JIT runtime, no process of the command can
// run machine code it wrote (W^X): the allowlist, which controls execve
// only, cannot be bypassed by loading code by hand.
func TestEscapeWriteExecMemory(t *testing.T) {
	requireSandbox(t)
	res := py(t, Spec{Workspace: t.TempDir()}, wxAttack)
	assertContained(t, res, wxAttacks)
	if !strings.Contains(string(res.Stdout), "python goes on") {
		t.Errorf("python broke under W^X: stdout %q, stderr %q", res.Stdout, res.Stderr)
	}
	// WXDeny holds whatever the allowlist names.
	res = py(t, Spec{Workspace: t.TempDir(), WriteExecMemory: WXDeny, AllowExec: []string{"python3", "node"}}, wxAttack)
	assertContained(t, res, wxAttacks)
	// A JIT runtime named but not installed runs nothing and turns
	// nothing off (it did: "deno" on the allowlist freed python3).
	for _, jit := range JITRuntimes() {
		if lookPath(jit) == "" {
			res = py(t, Spec{Workspace: t.TempDir(), AllowExec: []string{"python3", jit}}, wxAttack)
			assertContained(t, res, wxAttacks)
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

// loadByHand runs a program without execve: its segments and the
// dynamic loader's are copied into memory that is executable, a stack
// and an auxiliary vector built, and the loader entered, which maps the
// program's libraries and runs it inside the python3 process. The
// executable memory is made as case 6 of wxAttack makes it (shared, and
// written through a second view); each step that fails raises.
const loadByHand = `
import ctypes, struct, sys, os
libc = ctypes.CDLL(None, use_errno=True)
vp, sz = ctypes.c_void_p, ctypes.c_size_t
libc.mmap.restype = vp; libc.mmap.argtypes = [vp, sz, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
libc.mremap.restype = vp; libc.mremap.argtypes = [vp, sz, sz, ctypes.c_int]
libc.mprotect.argtypes = [vp, sz, ctypes.c_int]
R, W, X = 1, 2, 4
SHARED, PRIVATE, FIXED, ANON = 1, 2, 0x10, 0x20
PG = 4096
def chk(v, what):
    if v in (None, 2**64 - 1): raise OSError(ctypes.get_errno(), what)
    return v
def exec_alias(addr, n, fixed):
    x = chk(libc.mmap(addr, n, R | X, SHARED | ANON | (FIXED if fixed else 0), -1, 0), "mmap RX shared")
    w = chk(libc.mremap(x, 0, n, 1), "mremap alias")
    if libc.mprotect(w, n, R | W): raise OSError(ctypes.get_errno(), "mprotect alias RW")
    return x, w
def load(path):
    data = open(path, "rb").read()
    e_entry, e_phoff = struct.unpack_from("<QQ", data, 24)
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    loads = []
    for i in range(e_phnum):
        p_type, p_flags, p_off, p_vaddr, _, p_filesz, p_memsz, _ = struct.unpack_from("<IIQQQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == 1: loads.append((p_flags, p_off, p_vaddr, p_filesz, p_memsz))
    span = (max(v + m for _, _, v, _, m in loads) + PG - 1) & ~(PG - 1)
    base = chk(libc.mmap(None, span, 0, PRIVATE | ANON, -1, 0), "reserve")
    for flags, off, vaddr, filesz, memsz in loads:
        start = base + (vaddr & ~(PG - 1)); end = (base + vaddr + memsz + PG - 1) & ~(PG - 1)
        if flags & 1:
            x, w = exec_alias(start, end - start, True)
            ctypes.memmove(w + (vaddr & (PG - 1)), data[off:off + filesz], filesz)
        else:
            chk(libc.mmap(start, end - start, R | W, PRIVATE | ANON | FIXED, -1, 0), "mmap data")
            ctypes.memmove(base + vaddr, data[off:off + filesz], filesz)
    return base, base + e_entry, base + e_phoff, e_phnum
args = sys.argv[1:]
pbase, pentry, pphdr, pphnum = load(args[0])
interp = [l for l in ("/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2") if os.path.exists(l)][0]
lbase, lentry, _, _ = load(interp)
STK = 1 << 20
stk = chk(libc.mmap(None, STK, R | W, PRIVATE | ANON, -1, 0), "stack")
top = stk + STK
def put(b):
    global top
    top -= len(b); ctypes.memmove(top, b, len(b)); return top
argv = [put(a.encode() + b"\0") for a in args]
envp = [put(b"PATH=/usr/bin:/bin\0")]
rnd = put(os.urandom(16)); execfn = put(args[0].encode() + b"\0")
aux = {}
raw = open("/proc/self/auxv", "rb").read()
for i in range(0, len(raw), 16):
    k, v = struct.unpack_from("<QQ", raw, i)
    if k: aux[k] = v
aux.update({3: pphdr, 4: 56, 5: pphnum, 7: lbase, 9: pentry, 25: rnd, 31: execfn})
words = [len(argv)] + argv + [0] + envp + [0]
for k, v in aux.items(): words += [k, v]
words += [0, 0]
top = (top - 8 * len(words)) & ~15
ctypes.memmove(top, struct.pack("<%dQ" % len(words), *words), 8 * len(words))
tx, tw = exec_alias(None, PG, False)
ctypes.memmove(tw, bytes([0x48, 0x89, 0xfc, 0x31, 0xd2, 0xff, 0xe6]), 7)  # mov rsp, rdi; xor edx, edx; jmp rsi
sys.stdout.flush()
ctypes.CFUNCTYPE(None, vp, vp)(tx)(top, lentry)
`

// A program off the allowlist does not run by being loaded by hand into
// an allowed interpreter under W^X (it did, through shared executable
// memory written through a second view). With W^X off the same loader
// runs it: the attack works where nothing stops it, so its failure under
// W^X is W^X's doing.
func TestEscapeProgramLoadedByHand(t *testing.T) {
	requireSandbox(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("the loader is written for x86-64")
	}
	const prog = "/usr/bin/id" // not on the allowlist below
	if _, err := os.Stat(prog); err != nil {
		t.Skipf("%s: %v", prog, err)
	}
	run := func(wx string) *Result {
		ws := t.TempDir()
		if err := os.WriteFile(filepath.Join(ws, "load.py"), []byte(loadByHand), 0o644); err != nil {
			t.Fatal(err)
		}
		return mustRun(t, Spec{Workspace: ws, AllowExec: []string{"python3"}, WriteExecMemory: wx}, "python3", "/workspace/load.py", prog, "-u")
	}
	if res := run(""); strings.Contains(string(res.Stdout), "1000") || res.ExitCode == 0 {
		t.Errorf("%s, not on the allowlist, ran loaded by hand under W^X: exit %d, stdout %q, stderr %.300q", prog, res.ExitCode, res.Stdout, res.Stderr)
	} else if !strings.Contains(string(res.Stderr), "mmap RX shared") {
		t.Errorf("the loader failed elsewhere than at its executable memory: stderr %.500q", res.Stderr)
	}
	if res := run(WXAllow); strings.TrimSpace(string(res.Stdout)) != "1000" {
		t.Errorf("with W^X off the loader did not run %s (the test would prove nothing): exit %d, stdout %q, stderr %.500q", prog, res.ExitCode, res.Stdout, res.Stderr)
	}
}
