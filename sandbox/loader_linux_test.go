package sandbox

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The attacks here start programs off the allowlist without execve's
// Landlock check: through the dynamic loader, which maps a program itself
// and must be executable for any dynamic program to run, and through
// memfds, which sit on no mount of the sandbox.

// findProgram returns an ELF program under root (prefer first, when it is
// one) that is not inside skip, or "" when the host has none.
func findProgram(root, prefer string, skip []string) string {
	if prefer != "" && classifyELF(prefer) == elfProgram {
		return prefer
	}
	found := ""
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found != "" {
			return filepath.SkipDir
		}
		if d.IsDir() && inIslands(p, skip) {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && classifyELF(p) == elfProgram {
			found = p
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// The noexec system folders with library folders laid over them, and the
// programs in those masked again: ld.so maps no program off the allowlist,
// whether it is in /usr/lib, /usr/libexec or a library folder, started from
// bash, from python's subprocess or os.execv, or copied to a writable folder.
func TestEscapeLoader(t *testing.T) {
	requireSandbox(t)
	ld := ""
	if l := loaders(); len(l) > 0 {
		ld = l[0]
	}
	if ld == "" {
		t.Skip("no dynamic loader on this host")
	}
	plan := currentExecPlan()
	var inIsland string
	for _, d := range plan.Islands {
		if inIsland = findProgram(d, "", nil); inIsland != "" {
			break
		}
	}
	targets := []struct{ label, path string }{
		{"/usr/lib program", findProgram("/usr/lib", "/usr/lib/git-core/git", plan.Islands)},
		{"/usr/libexec program", findProgram("/usr/libexec", "", nil)},
		{"/usr/local/lib program", findProgram("/usr/local/lib", "", plan.Islands)},
		{"program in a library folder", inIsland},
		{"/usr/bin program", "/usr/bin/id"},
	}
	var list strings.Builder
	want := 0
	for _, tg := range targets {
		fmt.Fprintf(&list, "    (%q, %q),\n", tg.label, tg.path)
		want++ // "none on this host"
		if tg.path != "" {
			want += 3 + 3 - 1 // three ways to start it, and a copy in three folders
		}
	}
	res := py(t, Spec{}, fmt.Sprintf(`
import os, shutil, subprocess
LD = %q
targets = [
%s]
def report(label, code, err):
    # A program that starts at all has escaped, whatever its exit status;
    # only the loader's failure to map it counts as blocked.
    blocked = code == 127 and b"failed to map" in err
    print("BLOCKED" if blocked else "ESCAPED", label, code, err[:100])
def via_subprocess(label, prog):
    r = subprocess.run([LD, prog, "--version"], capture_output=True)
    report(label + " (subprocess)", r.returncode, r.stderr)
def via_bash(label, prog):
    r = subprocess.run(["bash", "-c", '"$0" "$1" --version', LD, prog], capture_output=True)
    report(label + " (bash)", r.returncode, r.stderr)
def via_execv(label, prog):
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.dup2(wr, 1); os.dup2(wr, 2)
        try:
            os.execv(LD, [LD, prog, "--version"])
        finally:
            os._exit(126)
    os.close(wr)
    err = b""
    while True:
        b = os.read(rd, 4096)
        if not b:
            break
        err += b
    _, status = os.waitpid(pid, 0)
    report(label + " (os.execv)", os.waitstatus_to_exitcode(status), err)
for label, prog in targets:
    if not prog:
        print("BLOCKED", label, "none on this host")
        continue
    via_subprocess(label, prog)
    via_bash(label, prog)
    via_execv(label, prog)
for label, prog in targets:
    if prog:
        for d in ("/workspace", "/tmp", "/dev/shm"):
            copy = d + "/copy-" + os.path.basename(prog)
            shutil.copy(prog, copy)
            via_subprocess("copy of %%s in %%s" %% (label, d), copy)
`, ld, list.String()))
	assertContained(t, res, want)
}

// seccomp (memfd_create fails with ENOSYS): a memfd, which is on no mount of
// the sandbox and under no Landlock rule, cannot carry a program's bytes to
// fexecve or to ld.so.
func TestEscapeMemfd(t *testing.T) {
	requireSandbox(t)
	ld := "/lib64/ld-linux-x86-64.so.2"
	if l := loaders(); len(l) > 0 {
		ld = l[0]
	}
	res := py(t, Spec{}, fmt.Sprintf(`
import os, subprocess
data = open("/usr/bin/id", "rb").read()
for flags, label in ((0, "plain"), (0x10, "MFD_EXEC"), (0x8, "MFD_NOEXEC_SEAL")):
    try:
        fd = os.memfd_create("x", flags)
    except OSError as e:
        print("BLOCKED memfd_create", label, e.strerror)
        print("BLOCKED fexecve", label, "(no memfd)")
        print("BLOCKED ld.so", label, "(no memfd)")
        continue
    os.write(fd, data)
    try:
        os.fchmod(fd, 0o755)
    except OSError:
        pass
    print("ESCAPED memfd_create", label)
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(fd, ["id"], {})
        except OSError as e:
            print("BLOCKED fexecve", label, e.strerror)
        os._exit(0)
    os.waitpid(pid, 0)
    r = subprocess.run([%q, "/proc/self/fd/%%d" %% fd], pass_fds=(fd,), capture_output=True)
    print("ESCAPED" if r.returncode == 0 else "BLOCKED", "ld.so", label, r.returncode, r.stdout[:60], r.stderr[:80])
`, ld))
	if strings.Contains(string(res.Stdout), "uid=") {
		t.Errorf("a program ran from a memfd: %s", res.Stdout)
	}
	assertContained(t, res, 9)
}

// memfd_secret makes, like memfd_create, a file on no mount of the
// sandbox; it stays allowed (nothing runs from it): fexecve of one and
// "ld.so /proc/self/fd/N" both fail. A program's bytes are written
// through a mapping, the only way into a secret memory file.
func TestEscapeSecretMem(t *testing.T) {
	requireSandbox(t)
	ld := "/lib64/ld-linux-x86-64.so.2"
	if l := loaders(); len(l) > 0 {
		ld = l[0]
	}
	res := py(t, Spec{}, fmt.Sprintf(`
import ctypes, errno, mmap, os, subprocess
libc = ctypes.CDLL(None, use_errno=True)
data = open("/usr/bin/true", "rb").read()
ctypes.set_errno(0)
fd = libc.syscall(447, 0)
if fd < 0:
    print("BLOCKED fexecve, no secret memory file:", errno.errorcode.get(ctypes.get_errno()))
    print("BLOCKED ld.so, no secret memory file")
else:
    size = (len(data) + 4095) & ~4095
    os.ftruncate(fd, size)
    m = mmap.mmap(fd, size)
    m[:len(data)] = data
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(fd, ["true"], {})
        except OSError as e:
            os.write(1, ("BLOCKED fexecve %%s\n" %% e.strerror).encode())
        os._exit(3)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 3:
        print("ESCAPED fexecve ran the program")
    r = subprocess.run([%q, "/proc/self/fd/%%d" %% fd], pass_fds=(fd,), capture_output=True)
    print("ESCAPED" if r.returncode == 0 else "BLOCKED", "ld.so", r.returncode, r.stderr[:80])
`, ld))
	assertContained(t, res, 2)
}

// Every mount that is not noexec holds no ELF program but the allowed ones:
// a sweep of the sandbox's whole executable surface, whatever the host has
// installed.
func TestExecutableMountsHoldOnlyAllowedPrograms(t *testing.T) {
	requireSandbox(t)
	var allowed []string
	for _, name := range []string{"python3", "bash"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s not installed", name)
		}
		// The sandbox runs the system's, found on its own PATH.
		if p2 := filepath.Join("/usr/bin", name); fileExists(p2) {
			p = p2
		}
		if real, err := filepath.EvalSymlinks(p); err == nil {
			allowed = append(allowed, real)
		}
	}
	res := py(t, Spec{}, fmt.Sprintf(`
import os, struct
allowed = {%s}
def program(path):
    try:
        with open(path, "rb") as f:
            h = f.read(64)
            if len(h) < 64 or h[:4] != b"\x7fELF" or h[4] != 2:
                return False
            typ, = struct.unpack_from("<H", h, 16)
            if typ == 2:
                return True
            if typ != 3:
                return False
            phoff, = struct.unpack_from("<Q", h, 32)
            phentsize, phnum = struct.unpack_from("<HH", h, 54)
            f.seek(phoff)
            ph = f.read(phentsize * phnum)
            interp, dyn = False, None
            for i in range(phnum):
                kind, = struct.unpack_from("<I", ph, i * phentsize)
                if kind == 3:
                    interp = True
                elif kind == 2:
                    off, = struct.unpack_from("<Q", ph, i * phentsize + 8)
                    size, = struct.unpack_from("<Q", ph, i * phentsize + 32)
                    dyn = (off, size)
            soname = pie = False
            if dyn:
                f.seek(dyn[0])
                d = f.read(min(dyn[1], 1 << 20))
                for j in range(0, len(d) - 15, 16):
                    tag, val = struct.unpack_from("<QQ", d, j)
                    if tag == 0:
                        break
                    if tag == 14:
                        soname = True
                    if tag == 0x6ffffffb and val & 0x08000000:
                        pie = True
            return pie or (interp and not soname)
    except OSError:
        return False
mounts = {}
for line in open("/proc/self/mountinfo"):
    f = line.split()
    mounts[f[4].replace("\\040", " ")] = "noexec" in f[5].split(",")
exec_mounts = [m for m, noexec in mounts.items() if not noexec]
files = 0
for m in exec_mounts:
    if os.path.isfile(m):
        if program(m) and m not in allowed:
            print("ESCAPED program on an executable mount", m)
        files += 1
        continue
    for root, dirs, names in os.walk(m):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in mounts]
        for n in names:
            p = os.path.join(root, n)
            if p in mounts or os.path.islink(p):
                continue
            files += 1
            if program(p) and p not in allowed:
                print("ESCAPED program on an executable mount", p)
print("BLOCKED", len(exec_mounts), "executable mounts,", files, "files, no other program")
`, pyStrings(allowed)))
	if testing.Verbose() {
		t.Logf("%s", res.Stderr)
	}
	assertContained(t, res, 1)
}

// pyStrings is a Python literal list of ss, without the brackets.
func pyStrings(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Landlock checks the file execve reaches, however it is named: by a
// descriptor (fexecve of an O_PATH or O_RDONLY one, execveat of a name
// in a folder's descriptor), by /proc/self/fd, by a symlink in /tmp, by
// the init's /proc/1/exe; a hard link into a writable folder crosses a
// mount and fails. The allowed python3 by /proc/self/exe runs (control).
func TestEscapeExecByDescriptorAndProc(t *testing.T) {
	requireSandbox(t)
	res := py(t, Spec{}, `
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def attempt(label, run):
    pid = os.fork()
    if pid == 0:
        try:
            run()
        except OSError as e:
            os.write(1, ("BLOCKED %s %s\n" % (label, e.strerror)).encode())
            os._exit(3)
        os._exit(4)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 3:
        print("ESCAPED", label, os.waitstatus_to_exitcode(status))
def execveat(dirfd, name, flags):
    argv = (ctypes.c_char_p * 2)(b"id", None)
    envp = (ctypes.c_char_p * 1)(None)
    ctypes.set_errno(0)
    libc.syscall(322, dirfd, name, argv, envp, flags)
    e = ctypes.get_errno()
    raise OSError(e, os.strerror(e))
attempt("fexecve O_PATH", lambda: os.execve(os.open("/usr/bin/id", os.O_PATH), ["id"], {}))
attempt("fexecve O_RDONLY", lambda: os.execve(os.open("/usr/bin/id", os.O_RDONLY), ["id"], {}))
attempt("execveat in /usr/bin", lambda: execveat(os.open("/usr/bin", os.O_PATH), b"id", 0))
attempt("execveat AT_EMPTY_PATH", lambda: execveat(os.open("/usr/bin/id", os.O_PATH), b"", 0x1000))
fd = os.open("/usr/bin/id", os.O_RDONLY)
attempt("/proc/self/fd", lambda: os.execv("/proc/self/fd/%d" % fd, ["id"]))
os.symlink("/usr/bin/id", "/tmp/id-link")
attempt("symlink in /tmp", lambda: os.execv("/tmp/id-link", ["id"]))
attempt("the init's /proc/1/exe", lambda: os.execv("/proc/1/exe", ["x", "version"]))
for d in ("/tmp", "/workspace"):
    try:
        os.link("/usr/bin/id", d + "/id-hard")
        print("ESCAPED hard link in", d)
    except OSError as e:
        print("BLOCKED hard link in", d, e.strerror)
pid = os.fork()
if pid == 0:
    os.execv("/proc/self/exe", ["python3", "-c", "print('control-ok')"])
os.waitpid(pid, 0)
`)
	if !strings.Contains(string(res.Stdout), "control-ok") {
		t.Errorf("the allowed python3 did not run by /proc/self/exe: %s %s", res.Stdout, res.Stderr)
	}
	assertContained(t, res, 9)
}
