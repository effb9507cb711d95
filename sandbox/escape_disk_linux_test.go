package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The workspace is a host folder: a command must not fill the host's disk
// through it, with one large file or with many.

// One file stops at Spec.MaxFileSize, whatever writes it: a program that
// SIGXFSZ kills (head), one that ignores the signal and gets EFBIG
// (Python), a sparse file grown by truncate; the Result and stderr say
// which limit it was.
func TestLimitFileSize(t *testing.T) {
	requireSandbox(t)
	const limit = 1 << 20
	tests := []struct {
		name string
		cmd  []string
	}{
		{"head", []string{"bash", "-c", "head -c 8M /dev/zero > big"}},
		{"python", []string{"python3", "-c", "open('big', 'wb').write(b'x' * (8 << 20))"}},
		{"truncate", []string{"truncate", "-s", "10G", "big"}},
		{"tmp", []string{"python3", "-c", "open('/tmp/big', 'wb').write(b'x' * (8 << 20)); print('ESCAPED')"}},
	}
	for _, tt := range tests {
		ws := t.TempDir()
		res := mustRun(t, Spec{Workspace: ws, MaxFileSize: limit, AllowExec: []string{"bash", "head", "python3", "truncate"}}, tt.cmd...)
		if res.ExitCode == 0 || strings.Contains(string(res.Stdout), "ESCAPED") {
			t.Errorf("%s: a file past the limit was written: exit %d, stdout %q, stderr %q", tt.name, res.ExitCode, res.Stdout, res.Stderr)
		}
		if st, err := os.Stat(filepath.Join(ws, "big")); err == nil && st.Size() > limit {
			t.Errorf("%s: the host holds a %d-byte file, past the %d-byte limit", tt.name, st.Size(), limit)
		}
		if !res.hit("file size") || !strings.Contains(string(res.Stderr), "file size limit") {
			t.Errorf("%s: LimitHit %v, stderr %q; want the file size limit named", tt.name, res.LimitHit, res.Stderr)
		}
	}
	// Under the limit, a file is written as ever, and no limit is named.
	ws := t.TempDir()
	res := mustRun(t, Spec{Workspace: ws, MaxFileSize: limit, AllowExec: []string{"bash", "head"}}, "bash", "-c", "head -c 512K /dev/zero > small")
	if st, err := os.Stat(filepath.Join(ws, "small")); res.ExitCode != 0 || err != nil || st.Size() != 512<<10 || len(res.LimitHit) > 0 {
		t.Errorf("a file under the limit: exit %d, LimitHit %v, stderr %q, stat %v", res.ExitCode, res.LimitHit, res.Stderr, err)
	}
}

// The workspace as a whole stops near Spec.WorkspaceSize: files each
// under the file size limit, written one after the other, get the
// command killed, and the host keeps far less than was written.
func TestLimitWorkspaceSize(t *testing.T) {
	requireSandbox(t)
	ws := t.TempDir()
	const limit = 8 << 20
	// 256 MiB in 1 MiB files, each flushed, a little at a time.
	res := py(t, Spec{Workspace: ws, WorkspaceSize: limit}, `
import os, time
for i in range(256):
    with open("f%d" % i, "wb") as f:
        f.write(b"x" * (1 << 20))
        f.flush()
        os.fsync(f.fileno())
    time.sleep(0.005)
print("ESCAPED wrote 256 MiB")
`)
	used, _, err := diskUsage(ws)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Stdout), "ESCAPED") || !res.hit("workspace") {
		t.Errorf("workspace filled: exit %d, LimitHit %v, host usage %d bytes, stdout %q", res.ExitCode, res.LimitHit, used.bytes, res.Stdout)
	}
	if used.bytes > 64<<20 {
		t.Errorf("the host holds %d bytes of the workspace, want it near the %d-byte limit", used.bytes, limit)
	}
	if !strings.Contains(string(res.Stderr), "past its limit") || !strings.Contains(res.Failure(0), "workspace") {
		t.Errorf("stderr %q, Failure %q: want the workspace limit named", res.Stderr, res.Failure(0))
	}
}

// Many empty files fill no blocks but take inodes: they stop near
// Spec.WorkspaceFiles.
func TestLimitWorkspaceFiles(t *testing.T) {
	requireSandbox(t)
	ws := t.TempDir()
	const limit = 200
	res := py(t, Spec{Workspace: ws, WorkspaceFiles: limit}, `
import os, time
os.mkdir("d")
for i in range(20000):
    open("d/%d" % i, "w").close()
    if i % 50 == 0:
        time.sleep(0.005)
print("ESCAPED made 20000 files")
`)
	used, _, err := diskUsage(ws)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Stdout), "ESCAPED") || !res.hit("workspace") {
		t.Errorf("workspace flooded with files: exit %d, LimitHit %v, %d files on the host", res.ExitCode, res.LimitHit, used.files)
	}
	if used.files > 5000 {
		t.Errorf("the host holds %d files of the workspace, want them near the limit of %d", used.files, limit)
	}
}

// A workspace already past its limit (files put there by other means)
// may be emptied, not grown.
func TestLimitWorkspaceAlreadyFull(t *testing.T) {
	requireSandbox(t)
	ws := t.TempDir()
	for i := range 4 {
		if err := os.WriteFile(filepath.Join(ws, fmt.Sprintf("old%d", i)), make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	spec := Spec{Workspace: ws, WorkspaceSize: 2 << 20, AllowExec: []string{"bash", "rm", "head", "sleep"}}
	res := mustRun(t, spec, "bash", "-c", "rm old0 old1 && sleep 0.2")
	if res.ExitCode != 0 || len(res.LimitHit) > 0 {
		t.Errorf("emptying a full workspace: exit %d, LimitHit %v, stderr %q", res.ExitCode, res.LimitHit, res.Stderr)
	}
	res = mustRun(t, spec, "bash", "-c", "head -c 4M /dev/zero > new && sleep 5")
	if !res.hit("workspace") || res.ExitCode == 0 {
		t.Errorf("growing a full workspace: exit %d, LimitHit %v, stderr %q", res.ExitCode, res.LimitHit, res.Stderr)
	}
}

// The walk that measures a workspace counts files once however many links
// they have, follows no symlink inside the workspace (a link to / is one
// entry, not the host), and takes the workspace itself through a symlink.
func TestDiskUsage(t *testing.T) {
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "a"), make([]byte, 64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(ws, "a"), filepath.Join(ws, "b")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", filepath.Join(ws, "root")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(ws, "d", "e"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "ws")
	if err := os.Symlink(ws, link); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{ws, link} {
		u, _, err := diskUsage(dir)
		if err != nil {
			t.Fatalf("diskUsage(%s): %v", dir, err)
		}
		// a (b is the same file), root, d, d/e
		if u.files != 4 || u.bytes < 64<<10 || u.bytes > 1<<20 {
			t.Errorf("diskUsage(%s) = %d files, %d bytes; want 4 files, 64KiB and some folders", dir, u.files, u.bytes)
		}
	}
}

// Files that have no name but are held (deleted while open, made with
// O_TMPFILE, mapped and then closed, held by a child after the parent let
// go) keep their blocks on the host's disk: they count against the
// workspace's bound as files with names do (red team, session 42: six
// deleted 250 MiB files went past the 1 GiB bound for the whole command).
func TestLimitWorkspaceHeldFiles(t *testing.T) {
	requireSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("held files are counted on a root host only: a host that is not root may not read its sandboxes' descriptors (DESIGN.md)")
	}
	const limit = 8 << 20
	for name, code := range map[string]string{
		"deleted while open": `
fds = []
for i in range(6):
    fd = os.open("h%d" % i, os.O_CREAT | os.O_RDWR, 0o600)
    os.unlink("h%d" % i)
    os.posix_fallocate(fd, 0, 4 << 20)
    fds.append(fd)
`,
		"O_TMPFILE": `
fds = []
for i in range(6):
    fd = os.open(".", os.O_TMPFILE | os.O_RDWR, 0o600)
    os.posix_fallocate(fd, 0, 4 << 20)
    fds.append(fd)
`,
		"mapped, then closed": `
import mmap
maps = []
for i in range(6):
    fd = os.open("m%d" % i, os.O_CREAT | os.O_RDWR, 0o600)
    os.posix_fallocate(fd, 0, 4 << 20)
    maps.append(mmap.mmap(fd, 4 << 20))
    os.close(fd)
    os.unlink("m%d" % i)
`,
		"held by a child": `
fds = []
for i in range(6):
    fd = os.open("c%d" % i, os.O_CREAT | os.O_RDWR, 0o600)
    os.unlink("c%d" % i)
    os.posix_fallocate(fd, 0, 4 << 20)
    fds.append(fd)
if os.fork() != 0:
    for fd in fds:
        os.close(fd)
    os.wait()
    sys.exit(0)
`,
	} {
		ws := t.TempDir()
		res := py(t, Spec{Workspace: ws, WorkspaceSize: limit}, "import os, sys, time\n"+code+`
print("holding", flush=True)
time.sleep(3)
print("ESCAPED held 24 MiB")
`)
		if strings.Contains(string(res.Stdout), "ESCAPED") || !res.hit("workspace") {
			t.Errorf("%s: 24 MiB held past the %d-byte bound: exit %d, LimitHit %v, stdout %q, stderr %q",
				name, limit, res.ExitCode, res.LimitHit, res.Stdout, res.Stderr)
		}
	}
	// Held files under the bound are let be.
	ws := t.TempDir()
	res := py(t, Spec{Workspace: ws, WorkspaceSize: limit}, `
import os
fd = os.open("small", os.O_CREAT | os.O_RDWR, 0o600)
os.unlink("small")
os.posix_fallocate(fd, 0, 1 << 20)
print("ok")
`)
	if res.ExitCode != 0 || len(res.LimitHit) > 0 {
		t.Errorf("a 1 MiB held file: exit %d, LimitHit %v, stderr %q", res.ExitCode, res.LimitHit, res.Stderr)
	}
}

// Files a command holds out of every count (each descriptor sent over a
// socket it never reads, the file unlinked and closed: the socket holds
// it, no process does) cannot keep the host's disk full: the guard kills
// the command once the file system lost more than the workspace explains
// and is nearly full (a red team kept a 40 GB disk full for a command's
// whole run). The workspace is on a small tmpfs of its own here.
func TestLimitWorkspaceFilesOutOfSight(t *testing.T) {
	requireSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("mounts a tmpfs for the workspace: root only")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=96m,mode=0755"); err != nil {
		t.Skipf("tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	ws := filepath.Join(dir, "ws")
	if err := os.Mkdir(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	res := py(t, Spec{Workspace: ws, WorkspaceSize: 8 << 20, Timeout: 20 * time.Second}, `
import os, socket, time
a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
hidden = 0
try:
    for i in range(1000):
        fd = os.open("h%d" % i, os.O_CREAT | os.O_RDWR, 0o600)
        os.write(fd, b"x" * (4 << 20))
        socket.send_fds(a, [b"x"], [fd])
        os.close(fd)
        os.unlink("h%d" % i)
        hidden += 4
except OSError as e:
    print("stopped:", e, flush=True)
print("hidden %d MiB" % hidden, flush=True)
time.sleep(15)
print("ESCAPED kept the disk full")
`)
	if strings.Contains(string(res.Stdout), "ESCAPED") || res.TimedOut || !res.hit("workspace") {
		t.Errorf("files held out of sight kept the disk full: exit %d, timed out %v, LimitHit %v, stdout %q, stderr %q",
			res.ExitCode, res.TimedOut, res.LimitHit, res.Stdout, res.Stderr)
	}
	if !strings.Contains(string(res.Stderr), "out of sight") {
		t.Errorf("stderr %q: want the reason named", res.Stderr)
	}
}

// fallocate, which reserves any number of blocks in one call, is refused
// (EOPNOTSUPP): posix_fallocate writes the blocks instead, at a pace the
// guard keeps up with. Allowed, one call put tens of GB in a workspace
// limited to 1 GiB between two of the guard's looks (a red team).
func TestLimitWorkspaceFallocate(t *testing.T) {
	requireSandbox(t)
	ws := t.TempDir()
	res := py(t, Spec{Workspace: ws, WorkspaceSize: 16 << 20}, `
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open("probe", os.O_CREAT | os.O_RDWR, 0o600)
r = libc.fallocate(fd, 0, ctypes.c_long(0), ctypes.c_long(1 << 20))
print("fallocate:", "refused" if r != 0 and ctypes.get_errno() == errno.EOPNOTSUPP else "ALLOWED (%d, %d)" % (r, ctypes.get_errno()), flush=True)
# Under the file size limit each (256 MiB), 800 MiB in all.
for i in range(4):
    fd = os.open("big%d" % i, os.O_CREAT | os.O_RDWR, 0o600)
    os.posix_fallocate(fd, 0, 200 << 20)
print("ESCAPED reserved 800 MiB")
`)
	if !strings.Contains(string(res.Stdout), "fallocate: refused") {
		t.Errorf("fallocate was not refused: stdout %q, stderr %q", res.Stdout, res.Stderr)
	}
	used, _, err := diskUsage(ws)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Stdout), "ESCAPED") || !res.hit("workspace") || used.bytes > 512<<20 {
		t.Errorf("posix_fallocate of 800 MiB under a 16 MiB bound: exit %d, LimitHit %v, %d bytes on the host, stdout %q",
			res.ExitCode, res.LimitHit, used.bytes, res.Stdout)
	}
}
