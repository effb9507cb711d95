package sandbox

import (
	"crypto/sha256"
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
	"github.com/bulwark-agents/bulwark/sandbox/internal/initstamp"
)

//go:generate go run ./internal/initgen

// initbin holds what go generate put there: the standalone init and its
// stamp (initbin/README.md); a plain build holds only the README.
//
//go:embed all:initbin
var initbin embed.FS

// initSources are the init's sources this binary was compiled from
// (initstamp.Dirs): the embedded init is started only when it was built
// from these.
//
//go:embed internal/initproc/*.go internal/prefault/*.go internal/prefault/*.s
var initSources embed.FS

const (
	standaloneName = "initbin/bulwark-sandbox-init"
	standaloneFd   = 100 // at least: above what a child's ExtraFiles take
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
	dir := ""
	if os.Geteuid() == 0 {
		dir = filepath.Dir(execPlanFile())
	}
	path, why = standaloneInit(initbin, initSources, ourXSys(), dir)
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
	err := c.Start()
	// ETXTBSY: the init's file, written by this process a moment before
	// (cachedExe, sealedExe: the first start of a version, or one whose
	// cached file another version replaced), is still open for writing
	// in a child that another thread forked meanwhile, until that child
	// executes or exits (Go's issue 22315). It was a failed start, on a
	// loaded host, now and then. Tried again, a fresh Cmd each time (a
	// Cmd starts once), for about 200 ms at most.
	for wait := 100 * time.Microsecond; errors.Is(err, unix.ETXTBSY) && wait <= 100*time.Millisecond; wait *= 2 {
		time.Sleep(wait)
		c = &exec.Cmd{Path: c.Path, Args: c.Args, Env: c.Env, ExtraFiles: c.ExtraFiles, SysProcAttr: c.SysProcAttr}
		err = c.Start()
	}
	if err == nil || c.Path == selfExe || !(errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOEXEC)) {
		return c, err
	}
	standaloneRefused.Store(true)
	slog.Warn("sandbox: the standalone init cannot be executed here; the sandbox re-executes this binary as its init", "err", err)
	again := &exec.Cmd{Path: selfExe, Args: c.Args, Env: c.Env, ExtraFiles: c.ExtraFiles, SysProcAttr: c.SysProcAttr}
	return again, again.Start()
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
func standaloneInit(bin, src fs.FS, xsys, dir string) (path, why string) {
	exe, err := bin.Open(standaloneName)
	if err != nil {
		return "", "none embedded: go generate ./sandbox before go build"
	}
	defer exe.Close()
	stamp, err := fs.ReadFile(bin, standaloneName+".stamp")
	if err != nil {
		return "", "embedded without its stamp: go generate ./sandbox again"
	}
	if why := stale(string(stamp), src, xsys); why != "" {
		return "", why
	}
	info, err := exe.Stat()
	if err != nil {
		return "", "cannot read it: " + err.Error()
	}
	fd := -1
	if dir != "" {
		sum := sha256.Sum256(stamp)
		fd = cachedExe(filepath.Join(dir, fmt.Sprintf("sandbox-init-%x", sum[:8])), exe, info.Size())
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
	open := func() int {
		f, st, ok := openRootsFile(file)
		if !ok {
			return -1
		}
		defer f.Close()
		// A file system mounted noexec would refuse every start.
		var sfs unix.Statfs_t
		if st.Size != size || st.Mode&0o222 != 0 || unix.Fstatfs(int(f.Fd()), &sfs) != nil || sfs.Flags&unix.ST_NOEXEC != 0 {
			return -1
		}
		fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, standaloneFd)
		if err != nil {
			return -1
		}
		return fd
	}
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
	pruneCachedInits(file, keptInits)
	return open()
}

// keptInits is how many other versions' cached inits stay beside the one
// written last.
const keptInits = 3

// pruneCachedInits removes the cached inits beside file but the keep most
// recently written: another version's init is not left behind, 2.4 MB
// each upgrade, yet two or three versions that run side by side (during
// an upgrade, or two builds measured in turn) do not remove each other's
// file at each start and write their own again. A process that has a
// removed one open keeps it until it ends.
func pruneCachedInits(file string, keep int) {
	names, _ := filepath.Glob(filepath.Join(filepath.Dir(file), "sandbox-init-*"))
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
