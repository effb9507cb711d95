package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
	"golang.org/x/sys/unix"
)

// requireRootTrees skips unless this host builds root trees (root, Linux
// 6.15 or later).
func requireRootTrees(t *testing.T) {
	t.Helper()
	requireSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("root trees are built by a host that is root")
	}
	fd := rootTreeFor(initproc.TreeSpec{}, false)
	if fd < 0 {
		t.Skip("this kernel cannot mount onto a detached tree (Linux 6.15)")
	}
	unix.Close(fd)
}

// withoutRootTrees runs f with the root trees off: every init builds its
// root itself.
func withoutRootTrees(t *testing.T, f func()) {
	t.Helper()
	rootTrees.Lock()
	rootTreesOff = true
	rootTrees.Unlock()
	defer func() {
		rootTrees.Lock()
		rootTreesOff = false
		rootTrees.Unlock()
	}()
	f()
}

// mountTable is the sandbox's mounts as its command sees them: each
// mount point with its mount options and file system type, sorted.
func mountTable(t *testing.T, spec Spec) []string {
	t.Helper()
	spec.AllowExec = []string{"cat"}
	res := mustRun(t, spec, "cat", "/proc/self/mountinfo")
	if res.ExitCode != 0 {
		t.Fatalf("cat mountinfo: exit %d: %s", res.ExitCode, res.Stderr)
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
		f := strings.Fields(line)
		sep := slices.Index(f, "-")
		if len(f) < 6 || sep < 0 || sep+1 >= len(f) {
			t.Fatalf("mountinfo line %q", line)
		}
		out = append(out, f[4]+" "+f[5]+" "+f[sep+1])
	}
	slices.Sort(out)
	return out
}

// A sandbox on a clone of the host's root tree has the very mounts, with
// the same options, that an init building its root itself makes.
func TestRootTreeMountsAsBuilt(t *testing.T) {
	requireRootTrees(t)
	ro, _ := hostDirs(t)
	spec := Spec{ReadOnly: []string{ro}}
	var own []string
	withoutRootTrees(t, func() { own = mountTable(t, spec) })
	tree := mountTable(t, spec)
	if !slices.Equal(own, tree) {
		t.Errorf("mounts differ\ninit's own root:\n%s\nroot tree:\n%s", strings.Join(own, "\n"), strings.Join(tree, "\n"))
	}
	if !slices.Contains(tree, ro+" ro,nosuid,nodev,noexec,relatime ext4") && !slices.ContainsFunc(tree, func(l string) bool { return strings.HasPrefix(l, ro+" ro,nosuid,nodev,noexec") }) {
		t.Errorf("the read-only path is not mounted read-only and noexec:\n%s", strings.Join(tree, "\n"))
	}
}

// A kept tree is not used once a path it was built from is another file:
// a read-only folder replaced between two sandboxes shows its new content.
func TestRootTreeRebuiltWhenASourceChanges(t *testing.T) {
	requireRootTrees(t)
	base, err := os.MkdirTemp("/var/tmp", "bulwark-ro-tree-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	ro := filepath.Join(base, "ro")
	write := func(dir, content string) {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(ro, "first")
	spec := Spec{ReadOnly: []string{ro}, AllowExec: []string{"cat"}}
	read := func() string {
		res := mustRun(t, spec, "cat", ro+"/f")
		if res.ExitCode != 0 {
			t.Fatalf("cat: exit %d: %s", res.ExitCode, res.Stderr)
		}
		return string(res.Stdout)
	}
	if got := read(); got != "first" {
		t.Fatalf("read %q, want first", got)
	}
	// Replaced, not changed in place: the kept tree binds the old folder.
	write(ro+".new", "second")
	if err := os.RemoveAll(ro); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(ro+".new", ro); err != nil {
		t.Fatal(err)
	}
	if got := read(); got != "second" {
		t.Errorf("after the folder was replaced the sandbox read %q, want second", got)
	}
}

// A kept tree is not used once the host's mounts changed.
func TestRootTreeRebuiltWhenMountsChange(t *testing.T) {
	requireRootTrees(t)
	spec := initproc.TreeSpec{ReadOnly: []string{"/nonexistent-bulwark-test"}}
	tree := func() *rootTree {
		fd := rootTreeFor(spec, false)
		if fd < 0 {
			t.Fatal("no root tree")
		}
		unix.Close(fd)
		rootTrees.Lock()
		defer rootTrees.Unlock()
		return rootTrees.trees[treeKey(spec)]
	}
	first := tree()
	if again := tree(); again != first {
		t.Fatal("the tree was built again though nothing changed")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	unix.Unmount(dir, unix.MNT_DETACH)
	if again := tree(); again == first {
		t.Error("the tree was kept after the host's mounts changed")
	}
}

// An init that gets no tree builds its root itself: the sandbox works
// the same (the kernels before Linux 6.15).
func TestRootTreeOffInitBuildsItsRoot(t *testing.T) {
	requireSandbox(t)
	withoutRootTrees(t, func() {
		res := mustRun(t, Spec{AllowExec: []string{"cat"}}, "cat", "/etc/passwd")
		if res.ExitCode != 0 || !strings.Contains(string(res.Stdout), "sandbox:x:1000") {
			t.Errorf("exit %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
		}
	})
}

// With the egress proxy's trust files, the init of a root tree mounts a
// tmpfs of its own at /run for them: read-only, like the root it stands
// for in the init's own build, and holding the same files.
func TestRootTreeTrustFiles(t *testing.T) {
	requireRootTrees(t)
	ic, err := egress.NewIntercept(nil)
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{AllowExec: []string{"cat", "sh"}, AllowDomains: []string{"example.com"}, Net: NetProxy, Intercept: ic}
	run := func() (string, string) {
		res := mustRun(t, spec, "sh", "-c", "cat "+initproc.TrustCA+"; echo x > /run/bulwark/new 2>/dev/null && echo WRITABLE; cat /proc/self/mountinfo")
		if res.ExitCode != 0 {
			t.Fatalf("exit %d: %s", res.ExitCode, res.Stderr)
		}
		out := string(res.Stdout)
		var ro []string
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 5 && (f[4] == "/" || f[4] == "/run") {
				ro = append(ro, f[4]+" "+strings.Split(f[5], ",")[0])
			}
		}
		return out, strings.Join(ro, "; ")
	}
	var ownOut, ownRO string
	withoutRootTrees(t, func() { ownOut, ownRO = run() })
	out, ro := run()
	pem := string(ic.CA.CertPEM())
	for name, o := range map[string]string{"init's own root": ownOut, "root tree": out} {
		if !strings.HasPrefix(o, pem) {
			t.Errorf("%s: the task CA is not at %s:\n%s", name, initproc.TrustCA, o)
		}
		if strings.Contains(o, "WRITABLE") {
			t.Errorf("%s: /run/bulwark is writable", name)
		}
	}
	if ownRO != "/ ro" || ro != "/ ro; /run ro" {
		t.Errorf("read-only mounts: init's own root %q (want \"/ ro\"), root tree %q (want \"/ ro; /run ro\")", ownRO, ro)
	}
}

// A process's first root tree is handed to its sandbox's init as it was
// built, not kept, so that a one-shot process (the CLI's sandbox exec)
// has no tree of its own left to dissolve as it exits; its later
// sandboxes' trees are kept and cloned, as before. In a process of its
// own, this one having built trees already.
func TestFirstRootTreeHandedOver(t *testing.T) {
	if os.Getenv("BULWARK_TEST_FIRST_TREE") != "1" {
		requireRootTrees(t)
		c := exec.Command(os.Args[0], "-test.run=^TestFirstRootTreeHandedOver$", "-test.v")
		c.Env = append(os.Environ(), "BULWARK_TEST_FIRST_TREE=1")
		if out, err := c.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("in a process of its own: %v\n%s", err, out)
		}
		return
	}
	kept := func() []*rootTree {
		rootTrees.Lock()
		defer rootTrees.Unlock()
		var l []*rootTree
		for _, rt := range rootTrees.trees {
			l = append(l, rt)
		}
		return l
	}
	spec := Spec{AllowExec: []string{"cat"}}
	for i := 1; i <= 3; i++ {
		res := mustRun(t, spec, "cat", "/etc/passwd")
		if res.ExitCode != 0 || !strings.Contains(string(res.Stdout), "sandbox:x:1000") {
			t.Fatalf("sandbox %d: exit %d, stdout %q, stderr %q", i, res.ExitCode, res.Stdout, res.Stderr)
		}
		trees := kept()
		switch {
		case i == 1 && len(trees) != 0:
			t.Fatalf("%d trees kept after the process's first sandbox, want its tree handed over", len(trees))
		case i > 1 && len(trees) != 1:
			t.Fatalf("%d trees kept after sandbox %d, want 1", len(trees), i)
		}
	}
}
