package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Attacks on the spare init (spare_linux.go): what it holds from its fork
// until a sandbox takes it must not differ from what a fresh init would
// have at that sandbox's start.

// A spare's mount namespace is a copy of the host's at the spare's fork,
// and the init binds from it what the host resolved in its own view (the
// allowed programs over the root tree, every source when it builds its
// root itself). A mount the host makes after the spare's fork, on a host
// whose mounts do not propagate (private, as in most containers), is
// not in that copy: a sandbox started after it must still run what the
// host sees and checked, not what was there before.
func TestSpareSeesTheHostsMountsOfNow(t *testing.T) {
	bothRoots(t, func(t *testing.T) {
		base, err := os.MkdirTemp("/var/tmp", "bulwark-spare-mnt-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(base) })
		os.Chmod(base, 0o755)
		// base a private mount of its own: the tmpfs below reaches no
		// other namespace, whatever the host's propagation.
		if err := unix.Mount(base, base, "", unix.MS_BIND, ""); err != nil {
			t.Skipf("cannot bind-mount: %v", err)
		}
		t.Cleanup(func() { unix.Unmount(base, unix.MNT_DETACH) })
		if err := unix.Mount("", base, "", unix.MS_PRIVATE, ""); err != nil {
			t.Fatal(err)
		}
		ro := filepath.Join(base, "ro")
		prog := filepath.Join(ro, "prog.sh")
		if err := os.Mkdir(ro, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(prog, []byte("#!/bin/sh\necho before-the-mount\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		dropSpare() // the next one is forked with base mounted
		s := awaitSpare(t)
		if err := unix.Mount("tmpfs", ro, "tmpfs", 0, "mode=0755,size=64k"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmount(ro, unix.MNT_DETACH) })
		if err := os.WriteFile(prog, []byte("#!/bin/sh\necho the-hosts-view\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		spec := Spec{ReadOnly: []string{ro}, AllowExec: []string{"sh", prog}, Timeout: 20 * time.Second}
		res := mustRun(t, spec, prog)
		if got := strings.TrimSpace(string(res.Stdout)); got != "the-hosts-view" {
			t.Errorf("a sandbox started after the host mounted over %s ran %q (stderr %q), want the-hosts-view (the spare was %d)", ro, got, res.Stderr, s.b.pid)
		}
		// And a spare made since serves again.
		b := beginSpared(t, spec)
		b.cleanup()
	})
}
