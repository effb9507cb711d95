package sandbox

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
	"golang.org/x/sys/unix"
)

// withTreePins points the pins at a folder of the test's own, root's and
// 0700, for the rest of the test, and drops its pins at the end.
func withTreePins(t *testing.T) string {
	t.Helper()
	requireRootTrees(t)
	dir := filepath.Join(t.TempDir(), "trees")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := treePins
	treePins = treePinner{dir: dir}
	t.Cleanup(func() {
		treePins = old
		names, _ := filepath.Glob(filepath.Join(dir, "*"))
		for _, n := range names {
			for unix.Unmount(n, unix.MNT_DETACH) == nil {
			}
		}
	})
	return dir
}

// cliTree is the root tree of a new one-shot process (the CLI's): the
// process's state of trees is as at its start. It reports whether the
// tree came from a pin.
func cliTree(t *testing.T, s initproc.TreeSpec) (reused bool) {
	t.Helper()
	rootTrees.Lock()
	rootTrees.built = false
	rootTrees.Unlock()
	n := treePinReuses.Load()
	fd := rootTreeFor(s, true)
	if fd < 0 {
		t.Fatal("no root tree")
	}
	unix.Close(fd)
	waitTreePins()
	return treePinReuses.Load() != n
}

// pinnedFile reports whether the pin of s is a mount namespace's file.
func pinnedFile(t *testing.T, s initproc.TreeSpec) bool {
	t.Helper()
	fd, err := unix.Open(filepath.Join(treePins.dir, pinName(s)), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return isMountNamespace(fd)
}

// A second one-shot process takes the tree the first pinned, and a third
// too; a process that is not one-shot neither pins nor takes pins.
func TestTreePinReused(t *testing.T) {
	withTreePins(t)
	ro, _ := hostDirs(t)
	spec := initproc.TreeSpec{ReadOnly: []string{ro}}
	if cliTree(t, spec) {
		t.Fatal("the first process's tree came from a pin")
	}
	if !pinnedFile(t, spec) {
		t.Fatal("the first process pinned no tree")
	}
	for i := 0; i < 2; i++ {
		if !cliTree(t, spec) {
			t.Fatalf("process %d built its tree though the pinned one is current", i+2)
		}
	}
	if n, dir := PinnedTrees(); n != 1 || dir != treePins.dir {
		t.Errorf("PinnedTrees() = %d, %q, want 1, %q", n, dir, treePins.dir)
	}
	// Not one-shot: no pin is taken.
	rootTrees.Lock()
	rootTrees.built = false
	rootTrees.Unlock()
	n := treePinReuses.Load()
	if fd := rootTreeFor(spec, false); fd >= 0 {
		unix.Close(fd)
	}
	if treePinReuses.Load() != n {
		t.Error("a process that is not one-shot took a pinned tree")
	}
}

// A sandbox on a tree from a pin has the very mounts of one whose init
// built its root itself.
func TestTreePinMountsAsBuilt(t *testing.T) {
	withTreePins(t)
	ro, _ := hostDirs(t)
	spec := Spec{ReadOnly: []string{ro}}
	var own []string
	withoutRootTrees(t, func() { own = mountTable(t, spec) })
	pinTreesAlways = true
	t.Cleanup(func() { pinTreesAlways = false })
	for i := 0; i < 2; i++ {
		rootTrees.Lock()
		rootTrees.built = false
		rootTrees.Unlock()
		n := treePinReuses.Load()
		got := mountTable(t, spec)
		waitTreePins()
		if reused := treePinReuses.Load() != n; reused != (i == 1) {
			t.Fatalf("sandbox %d: tree from a pin %v, want %v", i+1, reused, i == 1)
		}
		if !slices.Equal(own, got) {
			t.Errorf("sandbox %d: mounts differ\ninit's own root:\n%s\ntree:\n%s", i+1, strings.Join(own, "\n"), strings.Join(got, "\n"))
		}
	}
}

// A pinned tree is not used once a source is another file: a read-only
// folder or a library replaced.
func TestTreePinRebuiltWhenASourceChanges(t *testing.T) {
	withTreePins(t)
	base := t.TempDir()
	ro := filepath.Join(base, "ro")
	lib := filepath.Join(base, "lib.so")
	os.Mkdir(ro, 0o755)
	os.WriteFile(lib, []byte("one"), 0o644)
	spec := initproc.TreeSpec{ExecLibs: []string{lib}, ReadOnly: []string{ro}}
	replace := []func(){
		func() {
			os.WriteFile(lib+".new", []byte("two"), 0o644)
			os.Rename(lib+".new", lib)
		},
		func() {
			os.Rename(ro, ro+".old")
			os.Mkdir(ro, 0o755)
		},
	}
	cliTree(t, spec)
	for i, f := range replace {
		if !cliTree(t, spec) {
			t.Fatalf("step %d: the pinned tree was not used before the change", i)
		}
		f()
		if cliTree(t, spec) {
			t.Errorf("step %d: the pinned tree was used after a source was replaced", i)
		}
	}
}

// A pinned tree is not used once the host's mounts changed (a mount under
// a bound folder, then its removal), and pins of the old mounts are
// dropped when a tree is pinned again.
func TestTreePinRebuiltWhenHostMountsChange(t *testing.T) {
	withTreePins(t)
	ro := t.TempDir()
	os.Mkdir(filepath.Join(ro, "sub"), 0o755)
	spec := initproc.TreeSpec{ReadOnly: []string{ro}}
	other := initproc.TreeSpec{ReadOnly: []string{"/nonexistent-bulwark-test"}}
	cliTree(t, spec)
	cliTree(t, other)
	if !cliTree(t, spec) {
		t.Fatal("the pinned tree was not used before the change")
	}
	if err := unix.Mount("tmpfs", filepath.Join(ro, "sub"), "tmpfs", 0, "size=4k"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	if cliTree(t, spec) {
		t.Error("the pinned tree was used after a mount was added under a bound folder")
	}
	if pinnedFile(t, other) {
		t.Error("a pin of the old mounts was kept")
	}
	if !cliTree(t, spec) {
		t.Error("the tree pinned after the change was not used")
	}
	unix.Unmount(filepath.Join(ro, "sub"), unix.MNT_DETACH)
	if cliTree(t, spec) {
		t.Error("the pinned tree was used after a mount was removed")
	}
}

// What is at a pin's place and was not made by a pinning process is not
// used: a file, another mount namespace, a folder not root's alone.
func TestTreePinForeignRefused(t *testing.T) {
	dir := withTreePins(t)
	spec := initproc.TreeSpec{ReadOnly: []string{"/nonexistent-bulwark-test"}}
	pin := filepath.Join(dir, pinName(spec))

	if err := os.WriteFile(pin, []byte("planted"), 0o400); err != nil {
		t.Fatal(err)
	}
	if cliTree(t, spec) {
		t.Error("a planted file was used as a pin")
	}

	// Another mount namespace (a copy of this one), bound there.
	for unix.Unmount(pin, unix.MNT_DETACH) == nil {
	}
	os.Remove(pin)
	os.WriteFile(pin, nil, 0o400)
	nsFd := foreignNamespace(t)
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(nsFd), pin, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind a namespace: %v", err)
	}
	unix.Close(nsFd)
	if cliTree(t, spec) {
		t.Error("a foreign mount namespace was used as a pin")
	}

	// A pin of another tree, bound at this one's place.
	for unix.Unmount(pin, unix.MNT_DETACH) == nil {
	}
	other := initproc.TreeSpec{ReadOnly: []string{"/nonexistent-bulwark-other"}}
	cliTree(t, other)
	if err := unix.Mount(filepath.Join(dir, pinName(other)), pin, "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind another pin: %v", err)
	}
	if cliTree(t, spec) {
		t.Error("another tree's pin was used")
	}

	// A folder others may enter: neither used nor pinned into.
	for unix.Unmount(pin, unix.MNT_DETACH) == nil {
	}
	cliTree(t, spec)
	if !cliTree(t, spec) {
		t.Fatal("the pinned tree was not used")
	}
	os.Chmod(dir, 0o755)
	if cliTree(t, spec) {
		t.Error("a pin in a folder with mode 0755 was used")
	}

	// A folder in a folder others may write (they could move it, or put
	// another in its place): neither used nor pinned into.
	os.Chmod(dir, 0o700)
	if !cliTree(t, spec) {
		t.Fatal("the pinned tree was not used")
	}
	up := filepath.Dir(dir)
	os.Chmod(up, 0o777)
	defer os.Chmod(up, 0o700)
	if cliTree(t, spec) {
		t.Error("a pin in a folder others may write was used")
	}
	if _, err := treePins.openDir(true); err == nil {
		t.Error("the pins' folder was opened in a folder others may write")
	}
}

// A pin is bound into the folder that was opened and checked, through its
// descriptor: the folder moved away and another put at its path after the
// check does not get it.
func TestTreePinBoundThroughTheCheckedFolder(t *testing.T) {
	dir := withTreePins(t)
	spec := initproc.TreeSpec{ReadOnly: []string{"/nonexistent-bulwark-test"}}
	fd, err := treePins.openDir(false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	moved := dir + ".checked"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	name := pinName(spec)
	f, err := os.Create(filepath.Join(moved, name))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.WriteFile(filepath.Join(dir, name), nil, 0o400)
	ns := foreignNamespace(t)
	defer unix.Close(ns)
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(ns), inDir(fd, name), "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(filepath.Join(moved, name), unix.MNT_DETACH)
	if !isPinMountAt(t, filepath.Join(moved, name)) {
		t.Error("the checked folder did not get the mount")
	}
	if isPinMountAt(t, filepath.Join(dir, name)) {
		t.Error("the folder put at the path after the check got the mount")
	}
	treePins.drop(fd, name)
	if isPinMountAt(t, filepath.Join(moved, name)) {
		t.Error("drop did not unmount the pin in the checked folder")
	}
}

// isPinMountAt reports whether path is a mount namespace's file.
func isPinMountAt(t *testing.T, path string) bool {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	return isMountNamespace(fd)
}

// foreignNamespace is a new mount namespace, a copy of this process's.
func foreignNamespace(t *testing.T) int {
	t.Helper()
	fd := -1
	onDiscardedThread(func() {
		if unix.Unshare(unix.CLONE_FS|unix.CLONE_NEWNS) == nil {
			fd, _ = unix.Open("/proc/thread-self/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		}
	})
	if fd < 0 {
		t.Fatal("cannot make a mount namespace")
	}
	return fd
}

// The pinned namespace holds a tmpfs root, the description and the tree,
// and none of the host's mounts.
func TestTreePinNamespaceHoldsOnlyTheTree(t *testing.T) {
	withTreePins(t)
	spec := initproc.TreeSpec{ReadOnly: []string{"/nonexistent-bulwark-test"}}
	cliTree(t, spec)
	ns, err := unix.Open(filepath.Join(treePins.dir, pinName(spec)), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ns)
	_, listing := inNamespace(ns, func() (int, []byte) {
		return 0, []byte(strings.Join(listMounts(), "\n"))
	})
	mounts := strings.Split(string(listing), "\n")
	roots := 0
	for _, m := range mounts {
		switch {
		case m == "/ tmpfs":
			roots++
		case strings.HasPrefix(m, "/tree ") || strings.HasPrefix(m, "/tree/"):
		default:
			t.Errorf("the pinned namespace holds %q, outside the tree", m)
		}
	}
	if roots != 1 || !slices.Contains(mounts, "/tree tmpfs") || !slices.Contains(mounts, "/tree/usr other") || len(mounts) < 10 {
		t.Errorf("the pinned namespace is not a tmpfs root with the tree; its mounts:\n%s", listing)
	}
}

// listMounts are this thread's namespace's mounts, "point fstype-magic"
// (tmpfs for a tmpfs), in the order of their ids.
func listMounts() []string {
	buf := make([]uint64, 1024)
	req := mntIDReq{size: uint32(unsafe.Sizeof(mntIDReq{})), id: lsmtRoot}
	n, _, errno := unix.Syscall6(unix.SYS_LISTMOUNT, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	if errno != 0 {
		return []string{"listmount: " + errno.Error()}
	}
	var out []string
	sm := make([]byte, 8192)
	for _, id := range buf[:n] {
		req := mntIDReq{size: uint32(unsafe.Sizeof(mntIDReq{})), id: id, param: statmountSBBasic | statmountMntBasic | statmountMntPoint}
		if _, _, errno := unix.Syscall6(unix.SYS_STATMOUNT, uintptr(unsafe.Pointer(&req)), uintptr(unsafe.Pointer(&sm[0])), uintptr(len(sm)), 0, 0, 0); errno != 0 {
			out = append(out, "statmount: "+errno.Error())
			continue
		}
		size := int(binary.NativeEndian.Uint32(sm[smSize:]))
		point := cString(sm[smStrings+int(binary.NativeEndian.Uint32(sm[smMntPoint:])) : size])
		kind := "other"
		if binary.NativeEndian.Uint64(sm[smMagic:]) == unix.TMPFS_MAGIC {
			kind = "tmpfs"
		}
		out = append(out, point+" "+kind)
	}
	return out
}

// The host mounts' digest leaves out the pins, in each folder it is given
// (the one in use and the default one: a CLI's pins while tests use their
// own folder), and a bind of a folder itself; nothing else.
var pinMountTests = []struct {
	point, dir string
	magic      uint64
	want       bool
}{
	{"/run/t/abc", "/run/t", unix.NSFS_MAGIC, true},
	{"/run/t", "/run/t", unix.TMPFS_MAGIC, true},
	{"/run/t/abc", "/run/t", unix.TMPFS_MAGIC, false},
	{"/run/tx/abc", "/run/t", unix.NSFS_MAGIC, false},
	{"/run", "/run/t", unix.TMPFS_MAGIC, false},
}

func TestIsPinMount(t *testing.T) {
	requireRootTrees(t)
	a, b := withTreePins(t), filepath.Join(t.TempDir(), "b")
	os.Mkdir(b, 0o700)
	before, ok := hostMounts(a, b)
	if !ok {
		t.Skip("no listmount")
	}
	ns := foreignNamespace(t)
	defer unix.Close(ns)
	os.WriteFile(b+"/pin", nil, 0o400)
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(ns), b+"/pin", "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(b+"/pin", unix.MNT_DETACH)
	if after, _ := hostMounts(a, b); after != before {
		t.Error("a pin in the second folder changed the digest")
	}
	if after, _ := hostMounts(a); after == before {
		t.Error("a namespace bound outside the folder left the digest alone")
	}
	for _, c := range pinMountTests {
		if got := isPinMount(c.point, c.dir, c.magic); got != c.want {
			t.Errorf("isPinMount(%q, %q, %#x) = %v, want %v", c.point, c.dir, c.magic, got, c.want)
		}
	}
	if treePinDir != "/run/bulwark/trees" {
		t.Errorf("treePinDir = %q, the folder `sandbox check` and the docs name is /run/bulwark/trees", treePinDir)
	}
}

// The threads that enter a pin's namespace are never the main thread,
// which the runtime would keep (parked) in that namespace: /proc/self
// shows the main thread's namespaces, and mountsChanged watches
// /proc/self/mountinfo.
func TestTreePinThreadsLeaveTheMainThreadAlone(t *testing.T) {
	requireRootTrees(t)
	var before unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &before); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300; i++ {
		unix.Close(foreignNamespace(t))
		var now unix.Stat_t
		if err := unix.Stat("/proc/self/ns/mnt", &now); err != nil {
			t.Fatal(err)
		}
		if now.Ino != before.Ino {
			t.Fatalf("after %d namespaces made on discarded threads, the main thread is in another mount namespace", i+1)
		}
	}
}
