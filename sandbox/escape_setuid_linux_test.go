package sandbox

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seccomp: no system call gives a file the setuid or setgid bit. The
// workspace is an id-mapped mount of a host folder: a file the command
// owns is, on the host's disk, the folder owner's (root's, where Bulwark
// runs as root), and the mount's nosuid holds only inside the sandbox. A
// setuid copy of python3 left there would make any host user who can
// reach it root (or the Bulwark user). Every way to set the bits, by
// chmod or at creation, fails; an ordinary chmod still works.
func TestEscapeSetuidFiles(t *testing.T) {
	requireSandbox(t)
	ws := t.TempDir()
	res := py(t, Spec{Workspace: ws}, `
import ctypes, errno, os, shutil, struct
libc = ctypes.CDLL(None, use_errno=True)
shutil.copy("/usr/bin/python3", "/workspace/py")
def sc(*a):
    ctypes.set_errno(0)
    r = libc.syscall(*[ctypes.c_char_p(x) if isinstance(x, bytes) else ctypes.c_long(x) for x in a])
    return r, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno())
def check(label, path, r, e):
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = 0
    bad = mode & 0o6000
    print("ESCAPED" if bad else "BLOCKED", label, r, e, oct(mode))
AT = -100
for bits in (0o4755, 0o2755):
    fd = os.open("/workspace/py", os.O_RDONLY)
    check("chmod %o" % bits, "/workspace/py", *sc(90, b"/workspace/py", bits))
    check("fchmod %o" % bits, "/workspace/py", *sc(91, fd, bits))
    check("fchmodat %o" % bits, "/workspace/py", *sc(268, AT, b"/workspace/py", bits))
    check("fchmodat2 %o" % bits, "/workspace/py", *sc(452, AT, b"/workspace/py", bits, 0))
    os.close(fd)
    n = "/workspace/o%o" % bits
    check("open %o" % bits, n + "a", *sc(2, n.encode() + b"a", os.O_CREAT | os.O_WRONLY, bits))
    check("openat %o" % bits, n + "b", *sc(257, AT, n.encode() + b"b", os.O_CREAT | os.O_WRONLY, bits))
    check("creat %o" % bits, n + "c", *sc(85, n.encode() + b"c", bits))
    check("mknod %o" % bits, n + "d", *sc(133, n.encode() + b"d", 0o100000 | bits, 0))
    check("mknodat %o" % bits, n + "e", *sc(259, AT, n.encode() + b"e", 0o100000 | bits, 0))
    how = ctypes.create_string_buffer(struct.pack("<QQQ", os.O_CREAT | os.O_WRONLY, bits, 0))
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(437), ctypes.c_long(AT), ctypes.c_char_p(n.encode() + b"f"), how, ctypes.c_long(24))
    check("openat2 %o" % bits, n + "f", r, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
    r, e = sc(257, AT, b"/workspace", os.O_TMPFILE | os.O_WRONLY, bits)
    if r >= 0:
        r2, e2 = sc(265, r, b"", AT, n.encode() + b"g", 0x1000)
        check("O_TMPFILE %o" % bits, n + "g", r2, e2)
    else:
        print("BLOCKED O_TMPFILE %o" % bits, r, e)
os.chmod("/workspace/py", 0o700)
print("control chmod", oct(os.stat("/workspace/py").st_mode & 0o7777))
`)
	assertContained(t, res, 22)
	if !strings.Contains(string(res.Stdout), "control chmod 0o700") {
		t.Errorf("an ordinary chmod failed: %s %s", res.Stdout, res.Stderr)
	}
	filepath.WalkDir(ws, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := os.Lstat(p); err == nil && info.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 && p != ws {
			t.Errorf("the sandbox left a setuid/setgid file on the host: %s %v", p, info.Mode())
		}
		return nil
	})
}
