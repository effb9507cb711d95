package sandbox

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
// with the init's own build, which makes every mount private first.
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
