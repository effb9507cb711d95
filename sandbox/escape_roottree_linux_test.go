package sandbox

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Attacks on the shared root tree (roottree_linux.go): every sandbox of a
// root host gets a clone of one detached tree, whose tmpfs root and /dev
// are one superblock for all of them. Each test runs with the tree (where
// the kernel builds one) and, for comparison, with the init's own build.

// sharedMount makes dir a tmpfs mount of its own that is shared (as
// systemd makes every mount of a host), unmounted at the end.
func sharedMount(t *testing.T, dir string) {
	t.Helper()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "mode=0755,size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatalf("make %s shared: %v", dir, err)
	}
}

// mountsUnder lists the host's mount points at or under dir.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// On a host whose mounts are shared (systemd's default), the tree's binds
// must not stay peers of the host's mounts: a mount the host makes under
// a read-only folder later must not appear in a running sandbox, the
// mounts a sandbox's init makes (its allowed programs, bound over the
// tree) must not appear on the host, and no mount of the sandbox is
// shared with or a slave of another (mountinfo's optional fields), as
// with the init's own build, which makes every mount private first. A
// sandbox started after the host's mount has it, as with the own build.
func TestRootTreeNoPropagation(t *testing.T) {
	requireSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a shared mount")
	}
	base, err := os.MkdirTemp("/var/tmp", "bulwark-ro-prop-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	ro := filepath.Join(base, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	sharedMount(t, ro)
	if err := os.Mkdir(filepath.Join(ro, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	prog := filepath.Join(ro, "prog.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho prog\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tree := range []bool{true, false} {
		name := "tree"
		if !tree {
			name = "own"
		}
		t.Run(name, func(t *testing.T) {
			run := func() {
				before := mountsUnder(t, ro)
				spec := Spec{ReadOnly: []string{ro}, AllowExec: []string{"sh", "cat", prog}}
				p := mustStart(t, context.Background(), spec, "sh", "-c",
					"read x; cat "+ro+"/sub/marker 2>/dev/null && echo SEEN-HOST-MOUNT; grep -E ' (shared|master):' /proc/self/mountinfo && echo PROPAGATES; echo done")
				// The host mounts under the read-only folder while the
				// sandbox runs.
				sub := filepath.Join(ro, "sub")
				if err := unix.Mount("tmpfs", sub, "tmpfs", 0, "mode=0755,size=64k"); err != nil {
					t.Fatal(err)
				}
				os.WriteFile(filepath.Join(sub, "marker"), []byte("host-mount-canary\n"), 0o644)
				if got := mountsUnder(t, ro); len(got) != len(before)+1 {
					t.Errorf("while a sandbox runs the host has the mounts %q under the read-only folder, want %q and %s", got, before, sub)
				}
				p.Stdin().Write([]byte("go\n"))
				p.Stdin().Close()
				out, _ := io.ReadAll(p.Stdout())
				p.Wait()
				// A sandbox started after the host's mount has it, as
				// an init building its root itself binds it (the tree
				// is built again).
				if res := mustRun(t, spec, "cat", ro+"/sub/marker"); !strings.Contains(string(res.Stdout), "host-mount-canary") {
					t.Errorf("a sandbox started after the host mounted under the read-only folder does not see it: %q %q", res.Stdout, res.Stderr)
				}
				unix.Unmount(sub, unix.MNT_DETACH)
				if s := string(out); strings.Contains(s, "SEEN-HOST-MOUNT") || strings.Contains(s, "canary") || strings.Contains(s, "PROPAGATES") || !strings.Contains(s, "done") {
					t.Errorf("a sandbox's mounts are tied to the host's:\n%s", s)
				}
				if got := mountsUnder(t, ro); len(got) != len(before) {
					t.Errorf("after a sandbox the host has the mounts %q under the read-only folder, want %q", got, before)
				}
			}
			if tree {
				requireRootTrees(t)
				run()
			} else {
				withoutRootTrees(t, run)
			}
		})
	}
}

// bothRoots runs f as a subtest with the root tree (where this host builds
// one) and with the init's own build.
func bothRoots(t *testing.T, f func(t *testing.T)) {
	t.Run("tree", func(t *testing.T) { requireRootTrees(t); f(t) })
	t.Run("own", func(t *testing.T) { withoutRootTrees(t, func() { f(t) }) })
}

// treeAttack is a Python attack on the root's read-only mounts: create,
// chmod and mkdir in /, /etc, /run, /dev and a read-only folder (RO);
// remount them read-write with mount(2), mount_setattr(2) and fspick(2)
// + fsconfig(2) (the tmpfs superblock every sandbox's root shares); and
// all of it again after unshare(CLONE_NEWUSER|CLONE_NEWNS), where the
// process would have every capability over its new mount namespace.
const treeAttack = `
import os, ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
RO = "@RO@"
def report(ok, what):
    print(("ESCAPED " if ok else "BLOCKED ") + what, flush=True)
class MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]
AT_FDCWD, MS_REMOUNT, MS_BIND, AT_RECURSIVE = -100, 32, 4096, 0x8000
SYS_fsconfig, SYS_fspick, SYS_mount_setattr = 431, 433, 442
TARGETS = ["/", "/etc", "/run", "/dev", "/usr", RO]
def writes(tag):
    for d in TARGETS:
        p = os.path.join(d, "bulwark-tree-marker")
        try:
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)); report(True, tag + " create " + p)
        except OSError as e:
            report(False, "%s create %s: %s" % (tag, p, e.strerror))
        try:
            os.mkdir(os.path.join(d, "bulwark-tree-dir")); report(True, tag + " mkdir in " + d)
        except OSError as e:
            report(False, "%s mkdir in %s: %s" % (tag, d, e.strerror))
        try:
            os.chmod(d, 0o777); report(True, tag + " chmod " + d)
        except OSError as e:
            report(False, "%s chmod %s: %s" % (tag, d, e.strerror))
    for p in ["/etc/passwd", "/etc/hosts", "/dev/null"]:
        try:
            os.chmod(p, 0o777); report(True, tag + " chmod " + p)
        except OSError as e:
            report(False, "%s chmod %s: %s" % (tag, p, e.strerror))
def remounts(tag):
    for d in TARGETS:
        r = libc.mount(None, d.encode(), None, MS_REMOUNT | MS_BIND, None)
        report(r == 0, "%s remount rw %s: %s" % (tag, d, os.strerror(ctypes.get_errno())))
        a = MountAttr(0, 1, 0, 0)  # clear MOUNT_ATTR_RDONLY
        r = libc.syscall(SYS_mount_setattr, AT_FDCWD, d.encode(), AT_RECURSIVE, ctypes.byref(a), ctypes.sizeof(a))
        report(r == 0, "%s mount_setattr rw %s: %s" % (tag, d, os.strerror(ctypes.get_errno())))
        fd = libc.syscall(SYS_fspick, AT_FDCWD, d.encode(), 0)
        if fd < 0:
            report(False, "%s fspick %s: %s" % (tag, d, os.strerror(ctypes.get_errno())))
            continue
        libc.syscall(SYS_fsconfig, fd, 0, b"rw", None, 0)  # FSCONFIG_SET_FLAG
        r = libc.syscall(SYS_fsconfig, fd, 7, None, None, 0)  # FSCONFIG_CMD_RECONFIGURE
        report(r == 0, "%s reconfigure rw %s: %s" % (tag, d, os.strerror(ctypes.get_errno())))
        os.close(fd)
writes("plain")
remounts("plain")
writes("after-remount")
if libc.unshare(0x10000000 | 0x00020000) == 0:
    print("unshared", flush=True)
    remounts("userns")
    writes("userns")
else:
    report(False, "unshare: " + os.strerror(ctypes.get_errno()))
`

// From inside, nothing of the root can be written, made or chmodded, nor
// remounted read-write by any interface, even from a user namespace of
// the sandbox's own; and the read-only folder on the host is unchanged.
func TestRootTreeWriteAndRemount(t *testing.T) {
	requireSandbox(t)
	ro, _ := hostDirs(t)
	bothRoots(t, func(t *testing.T) {
		res := py(t, Spec{ReadOnly: []string{ro}}, strings.ReplaceAll(treeAttack, "@RO@", ro))
		assertContained(t, res, 60)
		if !strings.Contains(string(res.Stdout), "BLOCKED plain remount rw /:") {
			t.Errorf("the attack did not run to its end:\n%s\n%s", res.Stdout, res.Stderr)
		}
		ents, _ := os.ReadDir(ro)
		st, _ := os.Stat(ro)
		if len(ents) != 2 || st.Mode().Perm() != 0o755 {
			t.Errorf("the read-only folder changed: %d entries, mode %v", len(ents), st.Mode())
		}
	})
}

// Two sandboxes at once, on clones of one tree (one tmpfs superblock for
// their roots and /dev): the first leaves markers wherever it can (/tmp
// and /dev/shm are its own and writable; /, /run, /dev, /etc are not), the
// second, running at the same time, must see none of them, nor the first
// its own.
func TestRootTreeSandboxesApart(t *testing.T) {
	requireSandbox(t)
	bothRoots(t, func(t *testing.T) {
		places := []string{"/tmp", "/dev/shm", "/", "/run", "/dev", "/etc", "/workspace"}
		spec := Spec{AllowExec: []string{"sh", "cat", "ls"}}
		var leave, look strings.Builder
		for _, p := range places {
			m := filepath.Join(p, "bulwark-other-marker")
			leave.WriteString("echo first > " + m + " 2>/dev/null && echo LEFT " + m + "; ")
			look.WriteString("cat " + m + " 2>/dev/null && echo SEEN " + m + "; ")
		}
		first := mustStart(t, context.Background(), spec, "sh", "-c", leave.String()+"echo ready; read x; echo done")
		firstOut := readLines(t, first.Stdout())
		var left []string
		for {
			line := firstOut.next()
			if line == "ready" {
				break
			}
			left = append(left, line)
		}
		if want := []string{"LEFT /tmp/bulwark-other-marker", "LEFT /dev/shm/bulwark-other-marker", "LEFT /workspace/bulwark-other-marker"}; strings.Join(left, ";") != strings.Join(want, ";") {
			t.Errorf("the first sandbox left %q; want %q (only its own /tmp, /dev/shm, workspace)", left, want)
		}
		second := mustRun(t, spec, "sh", "-c", look.String()+"ls -a / /tmp /dev/shm /run; echo looked")
		if s := string(second.Stdout); strings.Contains(s, "SEEN") || strings.Contains(s, "first") || strings.Contains(s, "marker") || !strings.Contains(s, "looked") {
			t.Errorf("the second sandbox sees the first's markers:\n%s\n%s", s, second.Stderr)
		}
		first.Stdin().Write([]byte("go\n"))
		if line := firstOut.next(); line != "done" {
			t.Errorf("first sandbox: %q", line)
		}
		// Gone before the second's check that nothing is left runs.
		first.Stdin().Close()
		first.Wait()
	})
}

// A tree bound from a read-only path that is, or is under, a symlink is
// not used once the link points elsewhere (swapped by rename, as tools
// update links atomically).
func TestRootTreeRebuiltWhenALinkSwaps(t *testing.T) {
	requireSandbox(t)
	base, err := os.MkdirTemp("/var/tmp", "bulwark-ro-link-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	for _, d := range []string{"a", "b"} {
		os.Mkdir(filepath.Join(base, d), 0o755)
		os.WriteFile(filepath.Join(base, d, "f"), []byte(d), 0o644)
		os.Mkdir(filepath.Join(base, d, "sub"), 0o755)
		os.WriteFile(filepath.Join(base, d, "sub", "f"), []byte(d), 0o644)
	}
	link := filepath.Join(base, "ro")
	if err := os.Symlink("a", link); err != nil {
		t.Fatal(err)
	}
	// The link is the read-only path, or a folder above it.
	for _, ro := range []string{link, filepath.Join(link, "sub")} {
		bothRoots(t, func(t *testing.T) {
			os.Remove(link + ".new")
			os.Symlink("a", link+".new")
			os.Rename(link+".new", link)
			spec := Spec{ReadOnly: []string{ro}, AllowExec: []string{"cat"}}
			read := func() string {
				res, err := Run(context.Background(), spec, []string{"cat", ro + "/f"})
				if err != nil {
					return "refused: " + err.Error()
				}
				return string(res.Stdout) + string(res.Stderr)
			}
			if first := read(); first != "a" {
				t.Fatalf("set-up: read %q, want a", first)
			}
			if err := os.Symlink("b", link+".new"); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(link+".new", link); err != nil {
				t.Fatal(err)
			}
			if got := read(); got != "b" {
				t.Errorf("after the link was swapped the sandbox read %q, want b", got)
			}
		})
	}
}

// The host keeps no descriptor per sandbox: 50 sandboxes on the tree
// leave this process with the descriptors it had after the first.
func TestRootTreeNoDescriptorLeak(t *testing.T) {
	requireSandbox(t)
	fds := func() []string {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		var l []string
		for _, e := range ents {
			d, _ := os.Readlink("/proc/self/fd/" + e.Name())
			l = append(l, e.Name()+"="+d)
		}
		return l
	}
	bothRoots(t, func(t *testing.T) {
		spec := Spec{AllowExec: []string{"true"}}
		mustRun(t, spec, "true")
		time.Sleep(100 * time.Millisecond)
		before := fds()
		for range 50 {
			if res := mustRun(t, spec, "true"); res.ExitCode != 0 {
				t.Fatalf("exit %d: %s", res.ExitCode, res.Stderr)
			}
		}
		// The namespaces of the last sandboxes are held until a
		// cleanup in the background frees them (holdNamespaces).
		after := fds()
		for try := 0; try < 50 && len(after) > len(before); try++ {
			time.Sleep(100 * time.Millisecond)
			after = fds()
		}
		if len(after) > len(before) {
			t.Errorf("descriptors before 50 sandboxes:\n%q\nafter:\n%q", before, after)
		}
	})
}

// A sandbox leaves the host's mounts as they were, so the next sandbox
// gets a clone of the same tree, even when the read-only folder is a
// shared mount and holds an allowed program (whose bind, a peer of the
// host's mount, used to land on the host, a mount change that made every
// start build the tree anew).
func TestRootTreeKeptAcrossSandboxes(t *testing.T) {
	requireRootTrees(t)
	base, err := os.MkdirTemp("/var/tmp", "bulwark-ro-kept-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	ro := filepath.Join(base, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	sharedMount(t, ro)
	prog := filepath.Join(ro, "prog.sh")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho prog\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{ReadOnly: []string{ro}, AllowExec: []string{"sh", prog}}
	tree := func() *rootTree {
		if res := mustRun(t, spec, "sh", "-c", "echo ok"); res.ExitCode != 0 {
			t.Fatalf("exit %d: %s", res.ExitCode, res.Stderr)
		}
		rootTrees.Lock()
		defer rootTrees.Unlock()
		for _, rt := range rootTrees.trees {
			for _, s := range rt.sources {
				if s.Path == ro {
					return rt
				}
			}
		}
		t.Fatal("no tree binds the read-only folder")
		return nil
	}
	first := tree()
	if again := tree(); again != first {
		t.Error("the tree was built again after a sandbox: the sandbox changed the host's mounts")
	}
}
