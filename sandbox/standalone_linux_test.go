package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/sandbox/internal/initstamp"
)

// initSrc is a stand-in for the init's sources: two files, one test.
func initSrc(body string) fstest.MapFS {
	return fstest.MapFS{
		"internal/initproc/a.go":       {Data: []byte("package initproc\n" + body)},
		"internal/initproc/b_linux.go": {Data: []byte("package initproc\n")},
		"internal/initproc/a_test.go":  {Data: []byte("package initproc // tests do not count\n")},
		"internal/prefault/p.go":       {Data: []byte("package prefault\n")},
	}
}

// xsysIs stands in for ourXSys.
func xsysIs(v string) func() string { return func() string { return v } }

func stampOf(t *testing.T, src fstest.MapFS, goVersion, goarch, xsys string) []byte {
	t.Helper()
	s, err := initstamp.Of(src, initstamp.Dirs, goVersion, goarch)
	if err != nil {
		t.Fatal(err)
	}
	if xsys != "" {
		s += "x/sys " + xsys + "\n"
	}
	return []byte(s)
}

// The embedded init is started only when it was built from the sources,
// Go version, architecture and x/sys this binary has: a stale one would
// run other (older) restrictions than the code under review.
func TestStandaloneInitOnlyWhenFresh(t *testing.T) {
	exe := []byte("\x7fELF not really, never executed here")
	src := initSrc("// v1\n")
	fresh := stampOf(t, src, runtime.Version(), runtime.GOARCH, "v0.49.0")
	for _, c := range []struct {
		name  string
		bin   fstest.MapFS
		src   fstest.MapFS
		xsys  string
		taken bool
		why   string
	}{
		{"nothing generated", fstest.MapFS{"README.md": {}}, src, "v0.49.0", false, "go generate ./sandbox"},
		{"no stamp", fstest.MapFS{standaloneName: {Data: exe}}, src, "v0.49.0", false, "without its stamp"},
		{"fresh", fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: fresh}}, src, "v0.49.0", true, ""},
		{"x/sys not known (a test binary)", fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: fresh}}, src, "", true, ""},
		{"sources changed since", fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: fresh}}, initSrc("// v2\n"), "v0.49.0", false, "stale"},
		{"a file added since", fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: fresh}},
			func() fstest.MapFS {
				s := initSrc("// v1\n")
				s["internal/initproc/c.go"] = &fstest.MapFile{Data: []byte("package initproc\n")}
				return s
			}(), "v0.49.0", false, "stale"},
		{"the prefault package changed since", fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: fresh}},
			func() fstest.MapFS {
				s := initSrc("// v1\n")
				s["internal/prefault/p.go"] = &fstest.MapFile{Data: []byte("package prefault // v2\n")}
				return s
			}(), "v0.49.0", false, "stale"},
		{"another Go", fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: stampOf(t, src, "go1.25.0", runtime.GOARCH, "v0.49.0")}}, src, "v0.49.0", false, "stale"},
		{"another architecture", fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: stampOf(t, src, runtime.Version(), "arm64", "v0.49.0")}}, src, "v0.49.0", false, "stale"},
		{"other build flags", fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: bytes.Replace(fresh, []byte("heapKiB=512"), []byte("heapKiB=1024"), 1)}}, src, "v0.49.0", false, "stale"},
		{"another x/sys", fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: fresh}}, src, "v0.50.0", false, "x/sys"},
		{"stamp with more after it", fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: append(fresh, "extra\n"...)}}, src, "v0.49.0", false, "x/sys"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, why := standaloneInit(c.bin, c.src, xsysIs(c.xsys), "", "")
			if c.taken != (path != "") {
				t.Fatalf("standaloneInit = %q, %q; want taken %v", path, why, c.taken)
			}
			if !c.taken {
				if !strings.Contains(why, c.why) {
					t.Errorf("why = %q, want it to say %q", why, c.why)
				}
				return
			}
			fd, err := strconv.Atoi(strings.TrimPrefix(path, "/proc/self/fd/"))
			if err != nil {
				t.Fatalf("path %q", path)
			}
			defer unix.Close(fd)
			checkSealedExe(t, fd, exe)
		})
	}
}

// checkSealedExe checks that fd holds exe, read-only, sealed, numbered
// above a child's ExtraFiles and closed on exec.
func checkSealedExe(t *testing.T, fd int, exe []byte) {
	t.Helper()
	if fd < standaloneFd {
		t.Errorf("fd %d: a child's dup2 of ExtraFiles could land on it", fd)
	}
	if got, _ := os.ReadFile("/proc/self/fd/" + strconv.Itoa(fd)); !bytes.Equal(got, exe) {
		t.Errorf("the memory file holds %d bytes, not the init's %d", len(got), len(exe))
	}
	flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil || flags&unix.O_ACCMODE != unix.O_RDONLY {
		t.Errorf("fd flags %#x (%v): want read-only, or its execve fails with ETXTBSY", flags, err)
	}
	if fdf, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); fdf&unix.FD_CLOEXEC == 0 {
		t.Error("the memory file would be inherited by every child")
	}
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	want := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if err != nil || seals&want != want {
		t.Errorf("seals %#x (%v), want %#x", seals, err, want)
	}
	// Another descriptor of the same file cannot change it either.
	if w, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(fd), os.O_WRONLY, 0); err == nil {
		_, werr := w.Write([]byte("x"))
		w.Close()
		if werr == nil {
			t.Error("the sealed init could be written through /proc/self/fd")
		}
	}
}

// As root the init is kept in a file of root's beside the exec plan's
// cache: written once, then opened by every process (no 2.4 MB copy per
// process); a file or folder anybody else could have written is not
// used, nor one of another size.
func TestStandaloneInitCachedFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cached file is root's only")
	}
	exe := bytes.Repeat([]byte("init"), 50000)
	src := initSrc("// v1\n")
	bin := fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: stampOf(t, src, runtime.Version(), runtime.GOARCH, "")}}
	dir := filepath.Join(t.TempDir(), "bulwark")
	os.MkdirAll(dir, 0o700)
	// Five other versions' inits, written an hour apart: the three last
	// written stay (versions that run side by side do not remove each
	// other's at each start), the two oldest go.
	var others []string
	for i := range 5 {
		o := filepath.Join(dir, fmt.Sprintf("sandbox-init-%016x", i))
		os.WriteFile(o, []byte("an older version's init"), 0o555)
		at := time.Now().Add(-time.Duration(5-i) * time.Hour)
		os.Chtimes(o, at, at)
		others = append(others, o)
	}
	open := func() (int, string) {
		t.Helper()
		path, why := standaloneInit(bin, src, xsysIs(""), dir, "")
		if why != "" {
			t.Fatal(why)
		}
		fd, _ := strconv.Atoi(strings.TrimPrefix(path, "/proc/self/fd/"))
		t.Cleanup(func() { unix.Close(fd) })
		target, _ := os.Readlink(path)
		return fd, target
	}
	fd, first := open()
	if !strings.HasPrefix(first, dir+"/sandbox-init-") {
		t.Fatalf("the init was opened from %q, not a file in %s", first, dir)
	}
	if got, _ := os.ReadFile(first); !bytes.Equal(got, exe) {
		t.Fatal("the cached file does not hold the init")
	}
	for i, o := range others {
		_, err := os.Stat(o)
		if kept := i >= len(others)-3; kept != (err == nil) {
			t.Errorf("another version's cached init written %d hours ago: kept %v, want %v", len(others)-i, err == nil, kept)
		}
	}
	st, _ := os.Stat(first)
	if st.Mode().Perm() != 0o555 {
		t.Errorf("the cached init's mode is %v, want read and execute only", st.Mode().Perm())
	}
	if flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); flags&unix.O_ACCMODE != unix.O_RDONLY || fd < standaloneFd {
		t.Errorf("fd %d flags %#x: want read-only, numbered %d or above", fd, flags, standaloneFd)
	}
	before, _ := os.Stat(first)
	if _, again := open(); again != first {
		t.Fatalf("a second process opened %q, not the cached %q", again, first)
	}
	if after, _ := os.Stat(first); !os.SameFile(before, after) {
		t.Error("the cached init was written again instead of opened")
	}

	// Cut short (another size): written again.
	os.Chmod(first, 0o755)
	os.WriteFile(first, exe[:100], 0o755)
	if _, again := open(); again != first {
		t.Fatalf("opened %q", again)
	}
	if got, _ := os.ReadFile(first); !bytes.Equal(got, exe) {
		t.Error("a cached init of another size was used as it was")
	}

	// A folder others may write: not used, the memory file instead.
	os.Chmod(dir, 0o777)
	if _, other := open(); !strings.HasPrefix(other, "/memfd:") {
		t.Errorf("with a world-writable folder the init was opened from %q", other)
	}
	os.Chmod(dir, 0o700)

	// Not root's file: not used.
	os.Chown(first, 1234, 1234)
	if _, other := open(); other != first {
		t.Fatalf("opened %q", other)
	}
	if st, _ := os.Stat(first); st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Error("a cached init that is not root's was used")
	}
}

// As root a binary checks its embedded init against its sources once: a
// mark in the cache folder, named by the binary's file and the stamp,
// spares its later processes the hash (about 1 ms of a cold CLI). The
// mark of another binary, one that is not root's, or none at all, spares
// nothing.
func TestStandaloneInitCheckedOncePerBinary(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the cache folder is root's only")
	}
	exe := bytes.Repeat([]byte("init"), 1000)
	src := initSrc("// v1\n")
	// The sources of a build whose init is stale: refused by a check,
	// and so the way to see whether a check ran.
	changed := initSrc("// v2\n")
	bin := fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: stampOf(t, src, runtime.Version(), runtime.GOARCH, "")}}
	dir := filepath.Join(t.TempDir(), "bulwark")
	os.MkdirAll(dir, 0o700)
	// More marks of other binaries than are kept, written an hour apart.
	var others []string
	for i := range keptMarks + 2 {
		o := filepath.Join(dir, fmt.Sprintf("init-checked-%016x", i))
		os.WriteFile(o, nil, 0o400)
		at := time.Now().Add(-time.Duration(keptMarks+2-i) * time.Hour)
		os.Chtimes(o, at, at)
		others = append(others, o)
	}
	taken := func(src fstest.MapFS, self string) (bool, string) {
		t.Helper()
		path, why := standaloneInit(bin, src, xsysIs(""), dir, self)
		if path != "" {
			fd, _ := strconv.Atoi(strings.TrimPrefix(path, "/proc/self/fd/"))
			unix.Close(fd)
		}
		return path != "", why
	}
	if ok, why := taken(changed, "binary 1"); ok || !strings.Contains(why, "stale") {
		t.Fatalf("binary 1, never checked, its sources changed: taken %v (%q), want refused as stale", ok, why)
	}
	if ok, why := taken(src, "binary 1"); !ok {
		t.Fatalf("binary 1, fresh: refused (%q)", why)
	}
	mark := checkedMark(dir, bin[standaloneName+".stamp"].Data, "binary 1")
	if st, err := os.Stat(mark); err != nil || st.Mode().Perm() != 0o400 || st.Size() != 0 {
		t.Fatalf("binary 1's mark after its check: %v, %v; want an empty file, read-only", st, err)
	}
	for i, o := range others {
		_, err := os.Stat(o)
		if kept := i >= len(others)-keptMarks; kept != (err == nil) {
			t.Errorf("another binary's mark written %d hours ago: kept %v, want %v", len(others)-i, err == nil, kept)
		}
	}
	if ok, why := taken(changed, "binary 1"); !ok {
		t.Errorf("binary 1's next process checked its init again (%q)", why)
	}
	if ok, _ := taken(changed, "binary 2"); ok {
		t.Error("binary 2 was spared its check by binary 1's mark")
	}
	if ok, _ := taken(changed, ""); ok {
		t.Error("a binary with no name for its file was spared its check")
	}
	os.Chown(mark, 1234, 1234)
	if ok, _ := taken(changed, "binary 1"); ok {
		t.Error("a mark that is not root's spared the check")
	}
}

// A binary's file is named the same while it is the same file, and
// another file of the same content is named otherwise.
func TestFileIdentity(t *testing.T) {
	self := exeIdentity()
	if self == "" || exeIdentity() != self {
		t.Fatalf("exeIdentity() = %q, then %q", self, exeIdentity())
	}
	exe, err := os.ReadFile(selfExe)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(t.TempDir(), "copy")
	if err := os.WriteFile(copied, exe, 0o755); err != nil {
		t.Fatal(err)
	}
	if id := fileIdentity(copied); id == "" || id == self {
		t.Errorf("a copy of this binary is named %q, this binary %q", id, self)
	}
	if id := fileIdentity(filepath.Join(t.TempDir(), "missing")); id != "" {
		t.Errorf("a missing file is named %q", id)
	}
}

// In CI the standalone init is generated before the tests
// (BULWARK_TEST_STANDALONE_INIT=1), so the whole escape battery runs with
// it; this makes sure it did, and that a sandbox's init really is it.
func TestStandaloneInitInUse(t *testing.T) {
	if os.Getenv("BULWARK_TEST_STANDALONE_INIT") != "1" {
		t.Skip("BULWARK_TEST_STANDALONE_INIT=1 (after go generate ./sandbox) runs this")
	}
	if got := Check().Init; got != "the embedded standalone init" {
		t.Fatalf("Check().Init = %q: the sandbox tests ran with the binary re-executed", got)
	}
	requireSandbox(t)
	done := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), Spec{AllowExec: []string{"sleep"}, Timeout: 20 * time.Second}, []string{"sleep", "2"})
		done <- err
	}()
	exe := ""
	for deadline := time.Now().Add(15 * time.Second); exe == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		exe = initOf(os.Getpid())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	want, err := os.Readlink(initPath())
	if err != nil || exe != want || !strings.Contains(want, "sandbox-init") {
		t.Fatalf("the sandbox init runs %q, not the standalone init (%q, %v)", exe, want, err)
	}
}

// initOf returns the executable of a sandbox init that parent started, or
// "" when there is none yet.
func initOf(parent int) string {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmd, _ := os.ReadFile(p)
		if string(bytes.TrimRight(cmd, "\x00")) != initArg {
			continue
		}
		dir := filepath.Dir(p)
		status, _ := os.ReadFile(filepath.Join(dir, "status"))
		if !strings.Contains(string(status), "\nPPid:\t"+strconv.Itoa(parent)+"\n") {
			continue
		}
		if exe, err := os.Readlink(filepath.Join(dir, "exe")); err == nil {
			return exe
		}
	}
	return ""
}

// A cache folder on a file system mounted noexec would make every start
// fail: the file there is not used.
func TestStandaloneInitNotFromNoexec(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounts a tmpfs: root only")
	}
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", unix.MS_NOEXEC|unix.MS_NOSUID|unix.MS_NODEV, "mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	exe := bytes.Repeat([]byte("init"), 1000)
	src := initSrc("// v1\n")
	bin := fstest.MapFS{standaloneName: {Data: exe}, standaloneName + ".stamp": {Data: stampOf(t, src, runtime.Version(), runtime.GOARCH, "")}}
	path, why := standaloneInit(bin, src, xsysIs(""), filepath.Join(mnt, "bulwark"), "")
	if why != "" {
		t.Fatal(why)
	}
	fd, _ := strconv.Atoi(strings.TrimPrefix(path, "/proc/self/fd/"))
	defer unix.Close(fd)
	if target, _ := os.Readlink(path); !strings.HasPrefix(target, "/memfd:") {
		t.Fatalf("the init was opened from %q, on a noexec file system", target)
	}
}

// Should the kernel refuse to execute the standalone init, the start falls
// back to this binary, for good, instead of failing every sandbox.
func TestStandaloneInitRefusedFallsBack(t *testing.T) {
	t.Cleanup(func() { standaloneRefused.Store(false) })
	notExec := filepath.Join(t.TempDir(), "init")
	if err := os.WriteFile(notExec, []byte("not a program"), 0o444); err != nil {
		t.Fatal(err)
	}
	c, err := startInit(&exec.Cmd{Path: notExec, Args: []string{usernsArg}, Env: []string{}})
	if err != nil {
		t.Fatalf("startInit: %v", err)
	}
	if err := c.Wait(); err != nil {
		t.Errorf("the fallback (this binary as the id-mapping holder) ended with %v", err)
	}
	if c.Path != selfExe || initPath() != selfExe || !strings.Contains(initFrom(), "refused") {
		t.Errorf("after a refusal: started %q, initPath %q, initFrom %q", c.Path, initPath(), initFrom())
	}
	// Another failure than the kernel's refusal to execute is not hidden.
	standaloneRefused.Store(false)
	if _, err := startInit(&exec.Cmd{Path: filepath.Join(t.TempDir(), "missing"), Args: []string{usernsArg}}); err == nil || standaloneRefused.Load() {
		t.Errorf("a missing program: err %v, fell back %v", err, standaloneRefused.Load())
	}
}

// A sandbox's start asks for the host's report without Init (checkOnce),
// and whether a spare init may be taken only when one is ready: the check
// of the embedded init (a hash of its sources, then the init's
// file opened at standaloneFd or above) comes when the first init is
// started, beside the start's other steps. Check still reports Init. Run
// in a process of its own, which has checked nothing yet.
func TestStartLeavesTheInitsCheckToItsStart(t *testing.T) {
	if os.Getenv("BULWARK_TEST_INIT_CHECK") != "1" {
		if os.Getenv("BULWARK_TEST_STANDALONE_INIT") != "1" {
			t.Skip("BULWARK_TEST_STANDALONE_INIT=1 (after go generate ./sandbox) runs this")
		}
		c := exec.Command(os.Args[0], "-test.run=^TestStartLeavesTheInitsCheckToItsStart$", "-test.v")
		c.Env = append(os.Environ(), "BULWARK_TEST_INIT_CHECK=1")
		if out, err := c.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("the check in a process of its own: %v\n%s", err, out)
		}
		return
	}
	initFds := func() []string {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		var fds []string
		for _, e := range ents {
			// The init's file in the cache folder, or its memory file.
			l, _ := os.Readlink("/proc/self/fd/" + e.Name())
			if n, err := strconv.Atoi(e.Name()); err == nil && n >= standaloneFd && strings.Contains(l, "sandbox-init") {
				fds = append(fds, e.Name()+" "+l)
			}
		}
		return fds
	}
	if r := checkOnce(); !r.OK() || r.Init != "" {
		t.Fatalf("checkOnce() = %+v, want a host fit for sandboxes and no Init", r)
	}
	// What a start asks before it forks an init: whether a spare may be
	// taken (none is ready in this process).
	if spareFits(Spec{}.withDefaults(), nil, nil) && spares.take() != nil {
		t.Fatal("a spare init taken in a process that made none")
	}
	if fds := initFds(); len(fds) > 0 {
		t.Errorf("checkOnce or spareFits opened the init (descriptors %v): the start's check does the init's", fds)
	}
	if got := Check().Init; got != "the embedded standalone init" {
		t.Fatalf("Check().Init = %q", got)
	}
	if fds := initFds(); len(fds) == 0 {
		t.Error("Check did not open the init: its Init was not checked")
	}
}

// An init file still open for writing somewhere (a child forked while
// this process wrote it, until that child executes or exits) fails an
// execve with ETXTBSY: startInit tries again until the writer is gone.
func TestStartInitWaitsForABusyFile(t *testing.T) {
	src, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	exe := filepath.Join(t.TempDir(), "true")
	if err := os.WriteFile(exe, src, 0o755); err != nil {
		t.Fatal(err)
	}
	w, err := os.OpenFile(exe, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&exec.Cmd{Path: exe, Args: []string{"true"}}).Start(); !errors.Is(err, syscall.ETXTBSY) {
		w.Close()
		t.Skipf("a file open for writing executed here: %v", err)
	}
	time.AfterFunc(20*time.Millisecond, func() { w.Close() })
	c, err := startInit(&exec.Cmd{Path: exe, Args: []string{"true"}})
	if err != nil {
		t.Fatalf("startInit of a file busy for 20 ms: %v", err)
	}
	if err := c.Wait(); err != nil {
		t.Fatal(err)
	}
}
