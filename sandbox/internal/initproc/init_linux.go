package initproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	// Its init maps in the heap pages the inits and the init's set-up
	// are about to touch; it runs before this package's.
	_ "github.com/bulwark-agents/bulwark/sandbox/internal/prefault"
)

// The sandbox init runs as pid 1 of the sandbox's pid namespace, as root of
// its user namespace (an unprivileged host uid). It builds the file system,
// restricts its main thread (Landlock, seccomp, capabilities, no_new_privs)
// and forks the command from that very thread, so the command inherits every
// restriction. Its other threads stay unrestricted but run only the proxy
// forwarder; the command runs as another uid and cannot signal, trace or read
// the init (it is not dumpable).

func init() {
	switch path.Base(os.Args[0]) {
	case InitArg:
		mark("running (runtime and package inits done)")
		// Whatever the host process left open beyond the control socket
		// goes first.
		if err := closeInherited(ctrlFd + 1); err != nil {
			os.Exit(1)
		}
		// Keep this goroutine on the main thread: the restrictions are
		// applied to this thread and the command is forked from it.
		runtime.LockOSThread()
		os.Exit(initMain())
	case ZygoteArg:
		if err := closeInherited(ctrlFd + 1); err != nil {
			os.Exit(1)
		}
		runtime.LockOSThread()
		os.Exit(zygoteMain())
	case UsernsArg:
		// Hold a user namespace open until the host has its fd.
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}
}

// stamps are the phases of this init, sent with its replies when the host
// asked for them (Config.Trace).
var stamps []Stamp

func mark(name string) { stamps = append(stamps, Stamp{Name: name, At: Monotonic()}) }

// traced returns the stamps recorded since the last call when tracing is
// on, else nil.
func traced(on bool) []Stamp {
	s := stamps
	stamps = nil
	if !on {
		return nil
	}
	return s
}

func initMain() int {
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	// Brought up while the host still prepares the configuration, which
	// the init mostly waits for (a cold CLI's root tree comes after the
	// init runs): lo needs nothing from it, and bringing it up is the
	// init's costliest step there but for the file system, 0.1 ms of
	// its CPU (BENCHMARKS.md, "Issue 17, the cold CLI (session 35,
	// cli)"). An error is prepare's to report, which brings it up again
	// (a look, once it is up).
	loopbackUp()
	setUpEarly()
	var cfg Config
	fds, err := Recv(ctrlFd, &cfg)
	if err != nil {
		return 1
	}
	mark("config received")
	p, err := prepare(&cfg, fds)
	if err != nil {
		Send(ctrlFd, &Reply{Err: err.Error()})
		return 1
	}
	allowed := p.allowed
	if err := Send(ctrlFd, &Reply{Ready: true, ABI: p.abi, Trace: traced(cfg.Trace)}); err != nil || cfg.Check {
		return 0
	}
	var req RunRequest
	stdio, err := Recv(ctrlFd, &req)
	if err != nil {
		return 1
	}
	mark("command received")
	if err := p.finish(req.Pin, req.Hide); err != nil {
		CloseAll(stdio)
		Send(ctrlFd, &RunReply{Exit: 126, Err: err.Error()})
		return 1
	}
	reply := runCommand(req, stdio, why{allowed: allowed, workspaceExec: cfg.WorkspaceExec})
	mark("command reaped")
	reply.Trace = traced(cfg.Trace)
	Send(ctrlFd, &reply)
	return 0
}

// Set by setUpEarly: what it did, which prepare then does not do again.
var (
	mountsPrivate   bool // every mount of the init's namespace private
	boundingDropped bool // this thread's bounding set empty, its ambient set too
)

// setUpEarly does, while the init waits for its configuration, the steps
// of its set-up that need nothing from it: mount propagation to and from
// the host cut, and this thread's bounding and ambient capabilities
// dropped. Neither limits what the init does before the command: its
// mounts need its effective capabilities, which stay, and the bounding
// and ambient sets only count at an execve, of which the init makes one,
// the command's, from this thread. A step that fails is done again in its
// place, which reports the error.
func setUpEarly() {
	mountsPrivate = unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, "") == nil
	boundingDropped = dropBounding() == nil
	mark("set-up before the configuration")
}

// makeMountsPrivate makes every mount of the init's namespace private,
// so that nothing done here propagates back to the host, unless
// setUpEarly did.
func makeMountsPrivate() error {
	if mountsPrivate {
		return nil
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("init: make mounts private: %w", err)
	}
	return nil
}

// dropBounding empties this thread's bounding and ambient capability
// sets.
func dropBounding() error {
	for c := 0; c <= unix.CAP_LAST_CAP; c++ {
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0); err != nil && err != unix.EINVAL {
			return fmt.Errorf("init: drop capability %d: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("init: clear ambient capabilities: %w", err)
	}
	return nil
}

// prepared is what prepare did: the Landlock ABI it used and the allowed
// programs (their real paths). restrict, when set, is the last step,
// left for the command's arrival (Config.Hide).
type prepared struct {
	abi      int
	allowed  []string
	restrict func() error
}

// finish hides the paths of the workspace a command must not reach and
// restricts this thread, where prepare left both for the command: the
// paths are known only then, and no mount can be made once the thread is
// restricted. A request with paths to hide that prepare did not wait for
// is refused.
func (p prepared) finish(pinned, hidden []string) error {
	if p.restrict == nil {
		if len(hidden)+len(pinned) > 0 {
			return errors.New("init: paths to hide, but the sandbox was restricted before the command came")
		}
		return nil
	}
	if err := hide(pinned, hidden); err != nil {
		return err
	}
	mark("workspace paths hidden")
	err := p.restrict()
	mark("capabilities, Landlock, seccomp applied")
	return err
}

// prepare builds the sandbox and restricts this thread.
func prepare(cfg *Config, fds []int) (prepared, error) {
	// [workspace, root tree?, proxy dir?, tasks...]
	want := 1 + cfg.Cgroups
	tree, proxy := -1, -1
	if cfg.RootTree {
		if cfg.Rootless != nil {
			CloseAll(fds)
			return prepared{}, fmt.Errorf("init: a root tree for a rootless sandbox")
		}
		tree = want - cfg.Cgroups
		want++
	}
	if cfg.Proxy {
		proxy = want - cfg.Cgroups
		want++
	}
	if len(fds) != want {
		CloseAll(fds)
		return prepared{}, fmt.Errorf("init: got %d descriptors, want %d", len(fds), want)
	}
	if err := joinCgroups(fds[len(fds)-cfg.Cgroups:]); err != nil {
		return prepared{}, err
	}
	mark("cgroups joined")
	if err := rootlessSetup(cfg.Rootless, fds, cfg.WorkspaceExec); err != nil {
		return prepared{}, err
	}
	// Nothing of ours may be dumped or read through /proc by the command.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return prepared{}, fmt.Errorf("init: not dumpable: %w", err)
	}
	if err := unix.Sethostname([]byte("sandbox")); err != nil {
		return prepared{}, fmt.Errorf("init: hostname: %w", err)
	}
	// Resolved in the host's view, which the sandbox mirrors for the
	// system folders, before the new root is built.
	var exec []string
	var err error
	if cfg.Resolved {
		exec, err = handedAllowed(cfg.Allowed, cfg.ReadOnly)
	} else {
		exec, err = resolveAllowed(cfg.AllowExec, cfg.WorkspaceExec, cfg.ReadOnly)
	}
	if err != nil {
		return prepared{}, err
	}
	mark("allowed programs resolved")
	if err := checkGitGuard(exec); err != nil {
		return prepared{}, err
	}
	if tree >= 0 {
		err = attachTree(cfg, fds[tree], fds[0], exec)
	} else {
		err = buildRoot(cfg, fds[0], exec)
	}
	if err != nil {
		return prepared{}, err
	}
	mark("file system built, pivoted")
	if err := loopbackUp(); err != nil {
		return prepared{}, err
	}
	if cfg.Proxy {
		if err := startForwarder(fds[proxy], cfg.ProxySock); err != nil {
			return prepared{}, err
		}
	}
	// The allowed gits are guards now (gitguard_linux.go): the real
	// ones are where the guards run them.
	ruleset, abi, err := landlockRuleset(append(exec[:len(exec):len(exec)], gitReals(exec)...), cfg.WorkspaceExec)
	if err != nil {
		return prepared{}, err
	}
	deferred := false
	defer func() {
		if !deferred {
			unix.Close(ruleset)
		}
	}()
	denyWX := DenyWriteExec(cfg.WriteExec, cfg.AllowExec, exec, installed)
	filter, err := seccompFilter(denyWX)
	if err != nil {
		return prepared{}, err
	}
	if err := setRlimits(cfg); err != nil {
		return prepared{}, err
	}
	mark("loopback, rulesets, rlimits")
	restrict := func() error {
		return restrictThread(ruleset, filter, denyWX, cfg.WriteExec != WXDeny)
	}
	if cfg.Hide {
		// The command's paths to hide come with it (hide_linux.go).
		deferred = true
		return prepared{abi: abi, allowed: exec, restrict: func() error {
			defer unix.Close(ruleset)
			return restrict()
		}}, nil
	}
	if err := restrict(); err != nil {
		return prepared{}, err
	}
	mark("capabilities, Landlock, seccomp applied")
	return prepared{abi: abi, allowed: exec}, nil
}

// joinCgroups moves this thread, the one the command is forked from, into
// the sandbox's v1 cgroups through "tasks" files the host opened (the
// permission check uses the opener's credentials). Moving the calling
// thread itself skips the global lock that moving a whole process takes,
// which costs milliseconds. Then this thread gets a cgroup namespace rooted
// at its new groups.
func joinCgroups(tasks []int) error {
	if len(tasks) == 0 {
		return nil
	}
	defer CloseAll(tasks)
	for _, fd := range tasks {
		if _, err := unix.Write(fd, []byte("0")); err != nil {
			return fmt.Errorf("init: join cgroup: %w", err)
		}
	}
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return fmt.Errorf("init: cgroup namespace: %w", err)
	}
	return nil
}

// rlimit is a resource limit the init sets, soft and hard alike.
type rlimit struct {
	res int
	val uint64
}

// pinnedRlimits are the limits every command gets whatever the host's
// are. RLIMIT_RTPRIO and RLIMIT_NICE at 0 keep a command from a real-time
// policy (SCHED_FIFO, which would take a core from the host) and from a
// lower nice value, where the host that started Bulwark had raised them:
// seccomp lets sched_setscheduler through, and without CAP_SYS_NICE in
// the host's namespace these limits are what the kernel checks.
var pinnedRlimits = []rlimit{
	{unix.RLIMIT_CORE, 0},
	{unix.RLIMIT_NOFILE, 4096},
	{unix.RLIMIT_MEMLOCK, 64 << 10},
	{unix.RLIMIT_MSGQUEUE, 0},
	{unix.RLIMIT_RTPRIO, 0},
	{unix.RLIMIT_NICE, 0},
}

// setRlimits backs the cgroup limits up. RLIMIT_NPROC counts the processes
// of the command's host uid, which belongs to this sandbox alone.
// RLIMIT_FSIZE bounds each file written (the workspace is a host folder):
// past it a write fails with EFBIG, after SIGXFSZ, which kills a writer
// that does not ignore it. (It stays at its default action: the init's
// runtime handles it, and so the command gets SIG_DFL at its execve.)
// Zero leaves it as it is (a sandbox check).
func setRlimits(cfg *Config) error {
	limits := append([]rlimit{{unix.RLIMIT_NPROC, cfg.NProc}}, pinnedRlimits...)
	if cfg.FileSize > 0 {
		limits = append(limits, rlimit{unix.RLIMIT_FSIZE, cfg.FileSize})
	}
	for _, l := range limits {
		if err := unix.Setrlimit(l.res, &unix.Rlimit{Cur: l.val, Max: l.val}); err != nil {
			return fmt.Errorf("init: rlimit %d: %w", l.res, err)
		}
	}
	return nil
}

// restrictThread makes this thread, and so every process forked from it,
// unable to gain privileges: bounding and ambient capabilities dropped, only
// CAP_SETUID/CAP_SETGID left (the fork needs them to become the sandbox uid,
// which clears them), no_new_privs, Landlock, then seccomp last. With
// denyWX it also sets memory-deny-write-execute (wx.go), which needs Linux
// 6.3. Where the kernel lacks it, the seccomp
// filter's part of W^X holds alone when wxOptional, and the sandbox
// refuses to start otherwise (W^X asked for explicitly).
func restrictThread(ruleset int, filter []unix.SockFilter, denyWX, wxOptional bool) error {
	if !boundingDropped {
		if err := dropBounding(); err != nil {
			return err
		}
	}
	keep := uint32(1<<unix.CAP_SETUID | 1<<unix.CAP_SETGID)
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := [2]unix.CapUserData{{Effective: keep, Permitted: keep}}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("init: drop capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("init: no_new_privs: %w", err)
	}
	if denyWX {
		// Set here, after the init's own runtime has mapped what it
		// needs, and before the filter: the fork of the command inherits
		// it, and every execve after.
		switch err := unix.Prctl(prSetMDWE, prMDWERefuseExecGain, 0, 0, 0); {
		case err == nil:
		case err == unix.EINVAL && wxOptional:
			// An older kernel: the filter's part alone.
		default:
			return fmt.Errorf("init: memory-deny-write-execute (prctl PR_SET_MDWE, Linux 6.3): %w", err)
		}
	}
	if _, _, errno := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(ruleset), 0, 0); errno != 0 {
		return fmt.Errorf("init: landlock: %w", errno)
	}
	if err := loadSeccomp(filter); err != nil {
		return fmt.Errorf("init: seccomp: %w", err)
	}
	return nil
}

// prctl PR_SET_MDWE and its flag (linux/prctl.h, Linux 6.3).
const (
	prSetMDWE            = 65
	prMDWERefuseExecGain = 1
)

// runCommand forks the command from this (restricted) thread, reaps every
// child until the command itself ends, and reports how it ended.
func runCommand(req RunRequest, stdio []int, w why) RunReply {
	defer func() { CloseAll(stdio) }()
	if len(stdio) != 3 || len(req.Argv) == 0 {
		return RunReply{Err: "init: bad run request"}
	}
	path, err := lookPath(req.Argv[0])
	if err != nil {
		return RunReply{Exit: 127, Err: err.Error()}
	}
	// Nothing but the stdio fds may reach the command (see closeFrom).
	if err := cloexecFrom(3); err != nil {
		return RunReply{Exit: 126, Err: "init: cannot close the sandbox's descriptors: " + err.Error()}
	}
	// syscall.ForkExec, not os.StartProcess: the latter, at its first use
	// in a process, checks that pidfds work by forking and reaping a
	// child of its own (0.5 to 1 ms of every cold sandbox), and wraps the
	// descriptors in *os.File (a fcntl each). The init waits for its
	// children with wait4, and needs neither.
	pid, err := syscall.ForkExec(path, req.Argv, &syscall.ProcAttr{
		Dir:   WorkspaceDir,
		Env:   req.Env,
		Files: []uintptr{uintptr(stdio[0]), uintptr(stdio[1]), uintptr(stdio[2])},
		Sys: &syscall.SysProcAttr{
			Setsid:     true,
			Credential: &syscall.Credential{Uid: SandboxUID, Gid: SandboxUID, NoSetGroups: true},
		},
	})
	CloseAll(stdio)
	stdio = nil
	if err != nil {
		code := 126
		if errors.Is(err, unix.ENOENT) {
			code = 127
		}
		msg, refused := w.notStarted(req.Argv[0], path, err)
		return RunReply{Exit: code, Err: msg, NotAllowed: refused}
	}
	mark("command forked, execve done")
	if req.Announce {
		// A host that is gone takes this init with it (Pdeathsig).
		Send(ctrlFd, &RunReply{Started: true, Running: true})
	}
	killed := 0 // processes the seccomp filter killed (SIGSYS)
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return RunReply{Started: true, Exit: -1, Err: "init: wait: " + err.Error(), SyscallKilled: killed}
		}
		killed += sigsys(ws)
		if got != pid {
			continue
		}
		var r RunReply
		switch {
		case ws.Exited():
			r = RunReply{Started: true, Exit: ws.ExitStatus()}
		case ws.Signaled():
			r = RunReply{Started: true, Exit: 128 + int(ws.Signal()), Signal: int(ws.Signal())}
		default:
			continue
		}
		var more int
		r.Alone, more = reapAll()
		r.SyscallKilled = killed + more
		return r
	}
}

// sigsys is 1 when ws is of a process killed by SIGSYS, 0 otherwise. The
// seccomp filter kills with SIGSYS (SECCOMP_RET_KILL_PROCESS) what it
// refuses outright: system calls of another architecture's ABI (int 0x80
// on x86-64). Its other refusals return an errno and leave no trace
// outside the process, so they are not counted. A process can also send
// itself SIGSYS with kill(2): the count can be inflated from inside the
// sandbox, never lowered.
func sigsys(ws unix.WaitStatus) int {
	if ws.Signaled() && ws.Signal() == unix.SIGSYS {
		return 1
	}
	return 0
}

// reapAll reaps the children that already ended and reports whether none
// is left: every process of the sandbox is this init's child or descendant,
// and orphans are re-parented to it, so no child means no other process.
// It also returns how many of them the seccomp filter killed (sigsys).
func reapAll() (alone bool, killed int) {
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case err == unix.EINTR:
		case err == unix.ECHILD:
			return true, killed
		case err != nil || got == 0:
			return false, killed
		default:
			killed += sigsys(ws)
		}
	}
}

// lookPath finds name on the sandbox PATH, the way a shell would. Whether
// the result may run is the kernel's call (Landlock), not this function's.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, dir := range strings.Split(SandboxPath, ":") {
		p := path.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: command not found", name)
}

// installed reports whether the allowlist entry name resolves to a
// regular file, as resolveAllowed finds it.
func installed(name string) bool {
	if strings.Contains(name, "/") {
		_, regular := resolved(name)
		return regular
	}
	return findProbed(strings.Split(SandboxPath, ":"), name) != ""
}

// resolveAllowed turns the allowlist into the real files (symlinks
// resolved) to grant EXECUTE on; names that are not installed are skipped.
// Only files in the system folders and in the read-only paths can be
// allowed: nothing else in the sandbox can be executed at all, but for the
// workspace as a whole when workspaceExec is on (then a program there needs
// no rule of its own).
func resolveAllowed(names []string, workspaceExec bool, readOnly []string) ([]string, error) {
	return resolveAllowedIn(strings.Split(SandboxPath, ":"), names, workspaceExec, readOnly)
}

// ResolveAllowed is resolveAllowed for the host, which resolves the
// allowlist while the init starts and hands the result over
// (Config.Allowed): the init's mount namespace is a copy of the host's
// until it pivots, so both resolve names to the same files.
func ResolveAllowed(names []string, workspaceExec bool, readOnly []string) ([]string, error) {
	return resolveAllowed(names, workspaceExec, readOnly)
}

// handedAllowed checks the allowed programs the host resolved
// (Config.Allowed) as resolveAllowed checks its own: each a clean
// absolute path in the system folders or in a read-only path, or it is
// refused, whatever the host sent.
func handedAllowed(paths, readOnly []string) ([]string, error) {
	for _, p := range paths {
		if !path.IsAbs(p) || path.Clean(p) != p {
			return nil, fmt.Errorf("init: allowed program %q: not a clean absolute path", p)
		}
		if !InSystemDirs(p) && !underAny(p, readOnly) {
			return nil, fmt.Errorf("init: allowed program %s is outside the system folders and the read-only paths", p)
		}
	}
	return paths, nil
}

// resolveAllowedIn is resolveAllowed with the PATH folders given. A name
// is found as lookPath finds it (the first folder where it is a regular
// file, symlinks followed). Each folder is listed once instead of probed
// once per name, and a name listed as a regular file is its folder's real
// path joined with the name, with no system call of its own: about 90
// names took some 600 system calls, 2 ms of every sandbox's start.
func resolveAllowedIn(dirs, names []string, workspaceExec bool, readOnly []string) ([]string, error) {
	return resolveAllowedEach(dirs, names, workspaceExec, readOnly, nil)
}

// ResolveAllowedEach is ResolveAllowed that also reports, in a map, the
// real path each name of names resolves to, "" where it is not found (a
// name in the workspace has none): the host's check of the allowlist for
// multi-call programs (checkMultiCall) reads them instead of looking every
// name up again, some 600 system calls for the CLI's 90 names. A name
// after one that fails has no entry.
func ResolveAllowedEach(names []string, workspaceExec bool, readOnly []string) ([]string, map[string]string, error) {
	each := make(map[string]string, len(names))
	out, err := resolveAllowedEach(strings.Split(SandboxPath, ":"), names, workspaceExec, readOnly, each)
	return out, each, err
}

// resolveAllowedEach is resolveAllowedIn, which records in each, when it
// is not nil, the real path each name resolved to.
func resolveAllowedEach(dirs, names []string, workspaceExec bool, readOnly []string, each map[string]string) ([]string, error) {
	var listed []pathDir
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		if strings.Contains(n, "/") && !path.IsAbs(n) {
			return nil, fmt.Errorf("allowed command %q: want a name or an absolute path", n)
		}
		if InWorkspace(n) {
			if !workspaceExec {
				return nil, fmt.Errorf("allowed command %q: %s", n, WorkspaceNoExec)
			}
			continue
		}
		var real string
		regular := true
		if strings.Contains(n, "/") {
			real, regular = resolved(n)
		} else {
			if len(names) <= maxProbed {
				real = findProbed(dirs, n)
			} else {
				if listed == nil {
					listed = listDirs(dirs, names)
				}
				real = findListed(listed, n)
			}
		}
		if each != nil {
			each[n] = real
		}
		if real == "" {
			continue
		}
		if !InSystemDirs(real) && !underAny(real, readOnly) {
			return nil, fmt.Errorf("allowed command %q is %s, outside the system folders and the read-only paths", n, real)
		}
		if !regular || seen[real] {
			continue
		}
		seen[real] = true
		out = append(out, real)
	}
	return out, nil
}

// maxProbed is the most names resolved by probing the folders one name at
// a time (findProbed) rather than listing them: /usr/bin's listing (over a
// thousand entries) costs as much as probing dozens of names, and a
// sandbox often allows only a few.
var maxProbed = 8

// findProbed returns the real path of name in the first folder of dirs
// where it is a regular file (symlinks followed), or "", as findListed.
func findProbed(dirs []string, name string) string {
	for _, d := range dirs {
		if real, regular := resolved(path.Join(d, name)); regular {
			return real
		}
	}
	return ""
}

// pathDir is one PATH folder as listed: its real path and the types
// (unix.DT_*) of its entries that are wanted names.
type pathDir struct {
	real    string
	entries map[string]uint8
}

// listDirs lists the folders that exist, in order, keeping the entries
// named in names. A folder that is another one's link (/bin and /usr/bin
// on a merged /usr) is listed once: where a name is found does not change.
func listDirs(dirs, names []string) []pathDir {
	wanted := make(map[string]bool, len(names))
	for _, n := range names {
		wanted[n] = true
	}
	out := []pathDir{}
	done := map[string]bool{}
	for _, d := range dirs {
		real, err := realPath(d)
		if err != nil || done[real] {
			continue
		}
		done[real] = true
		entries, err := dirTypes(real, wanted)
		if err != nil {
			continue
		}
		out = append(out, pathDir{real: real, entries: entries})
	}
	return out
}

// findListed returns the real path of name in the first folder where it
// is a regular file (symlinks followed), or "".
func findListed(dirs []pathDir, name string) string {
	for _, d := range dirs {
		typ, ok := d.entries[name]
		switch {
		case !ok:
			continue
		case typ == unix.DT_REG:
			return path.Join(d.real, name)
		case typ == unix.DT_LNK || typ == unix.DT_UNKNOWN:
			if real, regular := resolved(path.Join(d.real, name)); regular {
				return real
			}
		}
	}
	return ""
}

// resolved returns the real path of p ("" when it cannot be opened) and
// whether it is a regular file, both of the one file opened.
func resolved(p string) (real string, regular bool) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer unix.Close(fd)
	real, err = os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
	if err != nil {
		return "", false
	}
	var st unix.Stat_t
	return real, unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// dirTypes lists a folder: the name and type of each entry in wanted, as
// the kernel reports them (getdents), with no stat per entry.
func dirTypes(dir string, wanted map[string]bool) (map[string]uint8, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	out := map[string]uint8{}
	err = Dirents(fd, func(name []byte, typ uint8, _ uint64) {
		if wanted[string(name)] {
			out[string(name)] = typ
		}
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return out, nil
}

// loopbackUp brings up lo in the sandbox's own network namespace, so code
// can talk to itself (and to the proxy forwarder); the host is not there.
// Nothing is done where lo is up already: the zygote made the namespace
// for this init and brought lo up (zygote_linux.go, freshNet).
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("init: loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err == nil && ifr.Uint16()&unix.IFF_UP != 0 {
		return nil
	}
	ifr.SetUint16(unix.IFF_UP | unix.IFF_LOOPBACK | unix.IFF_RUNNING)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("init: loopback up: %w", err)
	}
	return nil
}

func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if Under(p, d) {
			return true
		}
	}
	return false
}

// realPath is p with every symlink resolved, as the kernel resolves it on
// open: the name of an O_PATH descriptor of p. It fails where p does not
// exist. (path/filepath.EvalSymlinks would do as well, but importing
// path/filepath makes the init wait for every package that sorts before it,
// see TestInitImports.)
func realPath(p string) (string, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", &os.PathError{Op: "realpath", Path: p, Err: err}
	}
	defer unix.Close(fd)
	return os.Readlink("/proc/self/fd/" + strconv.Itoa(fd))
}
