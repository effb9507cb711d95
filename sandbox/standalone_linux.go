package sandbox

import (
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/sandbox/initbin"
	"github.com/bulwark-agents/bulwark/sandbox/internal/early"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initstamp"
)

//go:generate go run ./internal/initgen

// initSources are the init's sources this binary was compiled from
// (initstamp.Dirs): the embedded init is started only when it was built
// from these.
//
//go:embed internal/initproc/*.go internal/prefault/*.go internal/prefault/*.s
var initSources embed.FS

const (
	standaloneName = early.InitName
	standaloneFd   = early.InitFd // at least: above what a child's ExtraFiles take
)

// initExe returns the file the sandbox's init (and the id-mapping holder)
// are started from: the embedded standalone init when it is fresh, else
// this binary, and why not the standalone init. As root the standalone
// init is kept in a file of its own beside the exec plan's cache (written
// once per version, then opened), else in a sealed memory file written
// once per process; either stays open for the life of the process.
func initExe() (path, why string) {
	e := initExeOnce.Get()
	return e.path, e.why
}

var initExeOnce = lazy.Value[struct{ path, why string }]{New: func() (e struct{ path, why string }) {
	e.path, e.why = findInitExe()
	return e
}}

func findInitExe() (path, why string) {
	dir, self := "", ""
	if os.Geteuid() == 0 {
		dir = filepath.Dir(execPlanFile())
		self = exeIdentity()
	}
	path, why = standaloneInit(initbin.FS, initSources, ourXSys, dir, self)
	if why != "" {
		slog.Debug("sandbox: the sandbox init is this binary re-executed", "why", why)
		return selfExe, why
	}
	return path, ""
}

const selfExe = "/proc/self/exe"

// standaloneRefused is set once the kernel refused to execute the
// standalone init (startInit).
var standaloneRefused atomic.Bool

// initPath returns the path the init is started from (initExe).
func initPath() string {
	if standaloneRefused.Load() {
		return selfExe
	}
	p, _ := initExe()
	return p
}

// startInit starts c, an init or id-mapping holder. Should the kernel
// refuse to execute the standalone init (EACCES or ENOEXEC: a security
// module's rule, a file system remounted noexec), it starts a copy of c
// from this binary instead, and so does every later start.
func startInit(c *exec.Cmd) (*exec.Cmd, error) {
	started := c
	err := startFrom(c.Path, func(path string) error {
		// A fresh Cmd each time: a Cmd starts once.
		started = &exec.Cmd{Path: path, Args: c.Args, Env: c.Env, ExtraFiles: c.ExtraFiles, SysProcAttr: c.SysProcAttr}
		return started.Start()
	})
	return started, err
}

// forkExecInit is startInit for a root host's own init (vforkInit), with
// syscall.ForkExec rather than exec.Cmd's Start: that one, at its first
// use in a process, checks that pidfds work by forking and reaping a
// child of its own, and opens /dev/null three times for the child's
// stdio, all on a cold sandbox's path to its init (BENCHMARKS.md,
// "Issue 17, the cold CLI (session 34, cli)"). c is not started; the
// init gets /dev/null as its stdio and c's ExtraFiles from descriptor 3
// on, as from c. It returns the init's pid and a pidfd of it, from its
// clone.
func forkExecInit(c *exec.Cmd) (pid, pidfd int, err error) {
	var extra []uintptr
	for _, f := range c.ExtraFiles {
		extra = append(extra, f.Fd())
	}
	err = startFrom(c.Path, func(path string) error {
		pid, pidfd, err = early.ForkExecInit(path, c.Args, c.Env, c.Dir, extra, c.SysProcAttr)
		return err
	})
	return pid, pidfd, err
}

// startFrom calls start(path), which starts an init or id-mapping holder
// from path. Should the kernel refuse to execute path (EACCES or
// ENOEXEC: a security module's rule, a file system remounted noexec), it
// calls start(selfExe) instead, and every later start is from this
// binary (standaloneRefused).
func startFrom(path string, start func(path string) error) error {
	err := start(path)
	// ETXTBSY: the init's file, written by this process a moment before
	// (cachedExe, sealedExe: the first start of a version, or one whose
	// cached file another version replaced), is still open for writing
	// in a child that another thread forked meanwhile, until that child
	// executes or exits (Go's issue 22315). It was a failed start, on a
	// loaded host, now and then. Tried again for about 200 ms at most.
	for wait := 100 * time.Microsecond; errors.Is(err, unix.ETXTBSY) && wait <= 100*time.Millisecond; wait *= 2 {
		time.Sleep(wait)
		err = start(path)
	}
	if err == nil || path == selfExe || !(errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOEXEC)) {
		return err
	}
	standaloneRefused.Store(true)
	slog.Warn("sandbox: the standalone init cannot be executed here; the sandbox re-executes this binary as its init", "err", err)
	return start(selfExe)
}

// initFrom says what each sandbox's init is started from (Report.Init):
// the standalone init, or this binary and why.
func initFrom() string {
	if _, why := initExe(); why != "" {
		return "this binary, re-executed (" + why + ")"
	}
	if standaloneRefused.Load() {
		return "this binary, re-executed (the kernel refused to execute the standalone init)"
	}
	return "the embedded standalone init"
}

// standaloneInit checks the standalone init in bin against the init
// sources in src and xsys, the golang.org/x/sys version this binary was
// built with ("" when not known), and opens it: from a file in dir, a
// folder only root can write, where it is written first if need be, or,
// without dir or when that fails, from a sealed memory file. It returns
// the path to execute, or why the standalone init cannot be used.
//
// self names this binary's file (exeIdentity; "" when not known): a
// binary whose check passed once leaves a mark for it in dir
// (checkedMark), and its later processes skip the check, a hash of the
// 110 KB of sources and a parse of the build information, about 1 ms
// of a cold CLI's CPU on its path to the init's fork (BENCHMARKS.md,
// "Issue 17, the cold CLI (session 34, cli)"). The mark says nothing of
// another binary: a build, a copy or a file written again is another
// name.
func standaloneInit(bin, src fs.FS, xsys func() string, dir, self string) (path, why string) {
	exe, err := bin.Open(standaloneName)
	if err != nil {
		return "", "none embedded: go generate ./sandbox before go build"
	}
	defer exe.Close()
	stamp, err := fs.ReadFile(bin, standaloneName+".stamp")
	if err != nil {
		return "", "embedded without its stamp: go generate ./sandbox again"
	}
	mark := ""
	if dir != "" && self != "" {
		mark = checkedMark(dir, stamp, self)
	}
	checked := mark != "" && rootsFileExists(mark)
	if !checked {
		if why := stale(string(stamp), src, xsys()); why != "" {
			return "", why
		}
	}
	info, err := exe.Stat()
	if err != nil {
		return "", "cannot read it: " + err.Error()
	}
	fd := -1
	if dir != "" {
		fd = cachedExe(early.InitFile(dir, stamp), exe, info.Size())
		if fd >= 0 && mark != "" && !checked {
			markChecked(mark, keptMarks)
		}
	}
	if fd < 0 {
		if fd, err = sealedExe(exe); err != nil {
			return "", "cannot load it into a memory file: " + err.Error()
		}
	}
	return fmt.Sprintf("/proc/self/fd/%d", fd), ""
}

// cachedExe returns a read-only descriptor (numbered standaloneFd or
// above) of the init in file, root's and writable by nobody else (as the
// exec plan's cache), first writing it there from exe, of size bytes, if
// it is not: a process then opens the init instead of copying 2.4 MB.
// It returns -1 when the file cannot be used.
func cachedExe(file string, exe io.Reader, size int64) int {
	open := func() int { return early.OpenCachedInit(file, size) }
	if fd := open(); fd >= 0 {
		return fd
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return -1
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".sandbox-init-*")
	if err != nil {
		return -1
	}
	defer os.Remove(tmp.Name())
	_, err = io.CopyBuffer(tmp, struct{ io.Reader }{exe}, make([]byte, 64<<10))
	if err == nil {
		err = tmp.Chmod(0o555)
	}
	if cerr := tmp.Close(); err != nil || cerr != nil {
		return -1
	}
	if os.Rename(tmp.Name(), file) != nil {
		return -1
	}
	pruneFiles(file, "sandbox-init-*", keptInits)
	return open()
}

// keptInits is how many other versions' cached inits stay beside the one
// written last.
const keptInits = 3

// pruneFiles removes the files matching pattern beside file but the keep
// most recently written. For the cached inits: another version's init is
// not left behind, 2.4 MB each upgrade, yet two or three versions that
// run side by side (during an upgrade, or two builds measured in turn) do
// not remove each other's file at each start and write their own again.
// A process that has a removed one open keeps it until it ends.
func pruneFiles(file, pattern string, keep int) {
	names, _ := filepath.Glob(filepath.Join(filepath.Dir(file), pattern))
	type cached struct {
		name    string
		written time.Time
	}
	var others []cached
	for _, n := range names {
		if st, err := os.Lstat(n); err == nil && n != file {
			others = append(others, cached{n, st.ModTime()})
		}
	}
	slices.SortFunc(others, func(a, b cached) int { return b.written.Compare(a.written) })
	for _, o := range others[min(keep, len(others)):] {
		os.Remove(o.name)
	}
}

// exeIdentity names this binary's file as it is now: its device, inode,
// size, and modification and change times. Another build, a copy, or the
// file written again (which a running program's cannot be) is named
// otherwise; "" when it cannot be read.
func exeIdentity() string { return fileIdentity(selfExe) }

// fileIdentity is exeIdentity for the file at path.
func fileIdentity(path string) string { return early.FileIdentity(path) }

// checkedMark is the file in dir whose presence says that the binary
// named self found its embedded init, of stamp, built from its sources.
func checkedMark(dir string, stamp []byte, self string) string {
	return early.CheckedMark(dir, stamp, self)
}

// rootsFileExists reports whether file is there and nobody but root could
// have put it there (openRootsFile).
func rootsFileExists(file string) bool { return early.RootsFileExists(file) }

// keptMarks is how many checkedMark files stay: a few binaries run side
// by side (an upgrade, builds measured in turn) keep theirs.
const keptMarks = 8

// markChecked makes the empty file mark, root's and read-only, in its
// folder, which cachedExe has made, and removes the older marks beside it
// but the keep most recent.
func markChecked(mark string, keep int) {
	fd, err := unix.Open(mark, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o400)
	if err != nil {
		return
	}
	unix.Close(fd)
	pruneFiles(mark, "init-checked-*", keep)
}

// stale says why stamp does not describe an init built from src with this
// Go version, architecture and x/sys, or "" when it does.
func stale(stamp string, src fs.FS, xsys string) string {
	want, err := initstamp.Of(src, initstamp.Dirs, runtime.Version(), runtime.GOARCH)
	if err != nil {
		return "cannot read the init's sources: " + err.Error()
	}
	rest, ok := strings.CutPrefix(stamp, want)
	if !ok {
		return "stale: built from other init sources, Go version or architecture; go generate ./sandbox again"
	}
	// Test binaries do not know their module versions: then the
	// sources and Go version decide.
	if xsys != "" && rest != "x/sys "+xsys+"\n" {
		return "stale: built with another golang.org/x/sys; go generate ./sandbox again"
	}
	return ""
}

// ourXSys returns the golang.org/x/sys version this binary was built with,
// or "" when the build does not say (test binaries).
func ourXSys() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range info.Deps {
		if d.Path == "golang.org/x/sys" {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}

// sealedExe copies exe into a memory file that can be neither written nor
// resized again, and returns its descriptor, numbered standaloneFd or above
// so that a child's dup2 of its ExtraFiles (fd 3 on) never lands on it
// before the child executes /proc/self/fd/N.
func sealedExe(exe io.Reader) (int, error) {
	fd, err := unix.MemfdCreate(initArg, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if errors.Is(err, unix.EINVAL) {
		// Before Linux 6.3, which has no MFD_EXEC: memory files are
		// executable.
		fd, err = unix.MemfdCreate(initArg, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return -1, err
	}
	defer unix.Close(fd)
	// In pieces: a copy of the whole init on the heap would cost the
	// process as many page faults as starting it saves.
	buf := make([]byte, 64<<10)
	for {
		n, rerr := exe.Read(buf)
		for b := buf[:n]; len(b) > 0; {
			w, err := unix.Write(fd, b)
			if err != nil {
				return -1, err
			}
			b = b[w:]
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return -1, rerr
		}
	}
	if err := unix.Fchmod(fd, 0o555); err != nil {
		return -1, err
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		return -1, err
	}
	// A file open for writing cannot be executed (ETXTBSY): what stays
	// open is a read-only descriptor of it.
	ro, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", fd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	defer unix.Close(ro)
	return unix.FcntlInt(uintptr(ro), unix.F_DUPFD_CLOEXEC, standaloneFd)
}
