package sandbox

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/sandbox/internal/early"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
	"golang.org/x/sys/unix"
)

// box is one sandbox: an init that is prepared and waits for its command.
type box struct {
	spec Spec
	// The init: its pid, 0 until it is started, and either a pidfd of it
	// (started by the zygote, zygote_linux.go) or cmd (this process's
	// child). pidMu orders a kill, which may come at any time (a
	// Process's Kill), and the pidfd's close: a closed pidfd's number
	// may name another process's next.
	pid      int
	pidMu    sync.Mutex
	pidfd    int
	cmd      *exec.Cmd
	ctrl     int // the host's end of the control socket
	cg       *cgroup
	slot     uint32
	tempWS   string // a workspace we made and remove
	wsDir    string // the workspace's host folder
	proxy    *egress.Proxy
	proxyWD  string
	denials  []egress.Event
	mu       sync.Mutex
	done     chan struct{} // closed when the init has exited
	exitWait time.Duration // how long cleanup waits for the init to end; initExitWait when 0
	// pending says the init's answer to its configuration is still to
	// be read (begin): run reads it after handing the command over.
	pending bool
	// held keeps the sandbox's mount and network namespaces open so
	// that freeing them is not part of the init's exit, which Run waits
	// for: closed once the init is gone (cleanup), or before when
	// nothing waits for its end (endAfterRun).
	held []int

	rl *rootlessHost // nil as root

	// fromSpare says the init was started ahead (spare_linux.go);
	// spareFits that it could have been, and so its end asks for a
	// spare for the next sandbox.
	fromSpare, spareFits bool
	// early says the init was started as this process started
	// (earlyInit).
	early bool

	// cleaned says cleanup ran: a second one would free the slot and
	// reset its groups again, maybe another sandbox's (or spare's) by
	// then.
	cleaned atomic.Bool

	// freed, when a test sets it, is closed once the slot is given
	// back (freeSlot).
	freed chan struct{}
}

// start creates a sandbox for spec and waits until it is prepared. The
// id-mapped workspace is made while the init starts.
func start(spec Spec) (*box, error) {
	b, err := begin(spec)
	if err != nil {
		return nil, err
	}
	if err := b.awaitReady(); err != nil {
		b.cleanup()
		return nil, err
	}
	return b, nil
}

// begin starts a sandbox for spec and hands the init its configuration,
// without waiting for the init to be prepared: the caller must call
// awaitReady (run does, when b.pending is set) before the box is used.
func begin(spec Spec) (_ *box, err error) {
	const op = "sandbox.start"
	if r := checkOnce(); !r.OK() {
		return nil, bulwark.E(bulwark.Unavailable, op, r.Problem(), nil)
	}
	tr := spec.Trace
	tr.Mark("host: sandbox.Run called, host checked")
	ctrls, err := cgroupsOnce()
	if err != nil {
		return nil, bulwark.E(bulwark.Unavailable, op, "sandbox: cannot read cgroups", err)
	}
	rl := rootless()
	fits := spareFits(spec, rl, ctrls)
	var b *box
	if fits {
		b = spares.take()
	}
	if b != nil {
		b.spec, b.fromSpare = spec, true
		tr.Mark(SparePhase)
	} else if in := earlyInit(spec, rl, ctrls); in != nil {
		b = &box{spec: spec, ctrl: in.Ctrl, pid: in.Pid, pidfd: in.Pidfd, slot: in.Slot, held: in.Held, done: in.Done, early: true}
		if tr != nil {
			tr.add("host: early init forked (clone, execve)", time.Duration(in.Forked))
			tr.add("host: early init's maps written", time.Duration(in.Mapped))
		}
		tr.Mark(EarlyPhase)
	} else {
		var slot uint32
		if rl != nil {
			slot, err = rl.alloc()
		} else {
			slot, err = uids.Alloc()
		}
		if err != nil {
			return nil, bulwark.E(bulwark.Unavailable, op, "sandbox: cannot reserve host uids for a sandbox (leases in "+uidLeases(rl)+")", err)
		}
		tr.Mark("host: cgroups found, uid slot leased")
		b = &box{spec: spec, ctrl: -1, pidfd: -1, slot: slot, rl: rl, done: make(chan struct{})}
	}
	b.spareFits = fits
	defer func() {
		if err != nil {
			b.cleanup()
		}
	}()
	cmdUID := uint32(uidBase + 2*b.slot)
	initUID := cmdUID + 1

	ws := spec.Workspace
	if ws == "" {
		if ws, err = os.MkdirTemp("", "bulwark-ws-"); err != nil {
			return nil, bulwark.E(bulwark.Internal, op, "sandbox: cannot create a workspace", err)
		}
		b.tempWS = ws
	}
	b.wsDir = ws
	type tree struct {
		fd  int
		err error
	}
	treeCh := make(chan tree, 1)
	go func() {
		if rl != nil {
			fd, err := rl.workspaceHandle(ws)
			treeCh <- tree{fd, err}
			return
		}
		fd, err := workspaceTree(ws, cmdUID, spec.WorkspaceExec)
		tr.Mark("host: id-mapped workspace mount made")
		treeCh <- tree{fd, err}
	}()
	// Collect the helpers' results whatever happens below.
	var wsFd = -1
	collect := func() error {
		t := <-treeCh
		wsFd = t.fd
		if t.err != nil {
			return bulwark.E(bulwark.Invalid, op, fmt.Sprintf("sandbox: cannot bind workspace %s: %v", ws, t.err), t.err)
		}
		return nil
	}
	collected := false
	defer func() {
		if !collected {
			collect()
		}
		if wsFd >= 0 {
			unix.Close(wsFd)
		}
	}()

	readOnly, err := readOnlyMounts(spec.ReadOnly)
	if err != nil {
		return nil, err
	}
	if err := readOnlyMountsOK(readOnly); err != nil {
		return nil, err
	}
	if err := readOnlySockets(readOnly); err != nil {
		return nil, err
	}
	// The allowlist resolved here, while the init starts, rather than by
	// the init once it runs (1.3 ms for the CLI's default list of 90
	// names). On an error the init resolves it again and says why.
	allowedCh := make(chan []string, 1)
	// Each allowlist entry's real path as that resolution found it, for
	// the multi-call check (realOf), set before resolvedEach is closed.
	var resolvedReal map[string]string
	resolvedEach := make(chan struct{})
	go func() {
		allowed, each, err := initproc.ResolveAllowedEach(spec.AllowExec, spec.WorkspaceExec, readOnly)
		resolvedReal = each
		close(resolvedEach)
		if err != nil {
			allowed = nil
		} else if allowed == nil {
			allowed = []string{}
		}
		allowedCh <- allowed
	}()
	// realOf is hostRealPath from the allowlist's resolution above, which
	// looks names up as hostRealPath does (the first PATH folder where the
	// name is a regular file, symlinks followed); an entry it has not
	// resolved is looked up on its own.
	realOf := func(entry string) string {
		<-resolvedEach
		if r, ok := resolvedReal[entry]; ok {
			return r
		}
		return hostRealPath(entry)
	}
	// The exec plan, then the allowlist's check against it and the root
	// tree of the plan (roottree_linux.go), while the init starts.
	type planned struct {
		plan     *execPlan
		final    func() *execPlan
		rootTree int
		multi    chan error
	}
	treeOf := func(p *execPlan) int {
		if rl != nil {
			return -1
		}
		return rootTreeFor(initproc.TreeSpec{ExecDirs: p.Islands, ExecLibs: p.Libs, NoExec: p.Masks, ReadOnly: readOnly}, b.early || pinTreesAlways)
	}
	planCh := make(chan planned, 1)
	go func() {
		p := planned{rootTree: -1, multi: make(chan error, 1)}
		p.plan, p.final = startExecPlan()
		tr.Mark("host: exec plan loaded")
		go func() { p.multi <- checkMultiCall(spec.AllowExec, p.plan, realOf) }()
		reused := treePinReuses.Load()
		p.rootTree = treeOf(p.plan)
		if treePinReuses.Load() != reused {
			tr.Mark("host: root tree cloned from a pin")
		} else {
			tr.Mark("host: root tree cloned")
		}
		planCh <- p
	}()
	planCollected := false
	var plan planned
	defer func() {
		if !planCollected {
			plan = <-planCh
			<-plan.multi
		}
		if plan.rootTree >= 0 {
			unix.Close(plan.rootTree)
		}
	}()
	cfg := initConfig{AllowExec: spec.AllowExec, TmpSize: spec.TmpSize, NProc: uint64(spec.Pids), FileSize: uint64(spec.MaxFileSize), WriteExec: spec.WriteExecMemory, WorkspaceExec: spec.WorkspaceExec, ReadOnly: readOnly, Trace: tr != nil, Hide: len(spec.Hide) > 0}
	if rl != nil {
		cfg.Rootless = &initproc.Rootless{WorkspacePath: workspacePath(ws), BecomeRoot: rl.sub != nil}
	}
	var extra []int
	if spec.Net == NetProxy {
		dirFd, sock, err := b.startProxy()
		if err != nil {
			return nil, bulwark.E(bulwark.Internal, op, "sandbox: cannot start the egress proxy", err)
		}
		defer unix.Close(dirFd)
		extra = append(extra, dirFd)
		cfg.Proxy, cfg.ProxySock = true, sock
		if spec.Intercept != nil {
			cfg.TrustPEM = string(spec.Intercept.CA.CertPEM())
		}
	}
	// The groups: v1 ones are joined by the init once it runs, so they are
	// made while it starts; a v2 group is entered at the clone, so it
	// must exist first.
	type groups struct {
		cg    *cgroup
		tasks []int
		v2    int
		err   error
	}
	groupsCh := make(chan groups, 1)
	makeGroups := func() {
		if LimitsOff() {
			groupsCh <- groups{cg: &cgroup{dirs: map[string]string{}, v2: map[string]bool{}}, v2: -1}
			return
		}
		slot := int64(b.slot)
		if rl != nil && !rl.ownSlots() {
			slot = -1
		}
		cg, err := newCgroup(ctrls, slot, spec.Memory, spec.Pids, spec.CPU)
		if err != nil {
			groupsCh <- groups{v2: -1, err: err}
			return
		}
		tasks, v2, err := cg.joinFiles()
		tr.Mark("host: cgroups ready, limits written")
		groupsCh <- groups{cg, tasks, v2, err}
	}
	var tasks []int
	cgFd := -1
	groupsPending := true
	getGroups := func() error {
		groupsPending = false
		g := <-groupsCh
		b.cg, tasks, cgFd = g.cg, g.tasks, g.v2
		if g.err != nil {
			return bulwark.E(bulwark.Unavailable, op, "sandbox: "+g.err.Error(), g.err)
		}
		return nil
	}
	defer func() {
		if groupsPending {
			getGroups()
		}
		closeAll(tasks)
		if cgFd >= 0 {
			unix.Close(cgFd)
		}
	}()
	if slices.ContainsFunc(ctrls, func(c CgroupController) bool { return c.Version == 2 }) {
		makeGroups()
		if err := getGroups(); err != nil {
			return nil, err
		}
	} else {
		go makeGroups()
	}
	if !b.fromSpare && !b.early {
		if err := b.startInit(initUID, cmdUID, cgFd); err != nil {
			return nil, err
		}
		tr.Mark("host: init forked (clone, uid maps, execve)")
	}
	if groupsPending {
		if err := getGroups(); err != nil {
			return nil, err
		}
	}
	extra = append(extra, tasks...)
	cfg.Cgroups = len(tasks)

	collected = true
	if err := collect(); err != nil {
		return nil, err
	}
	planCollected = true
	plan = <-planCh
	err = <-plan.multi
	if checked := plan.final(); checked != plan.plan {
		// Started with the cache file's plan, which its check found
		// stale: all again with the plan made since.
		if plan.rootTree >= 0 {
			unix.Close(plan.rootTree)
		}
		plan.plan, plan.rootTree = checked, -1
		err = checkMultiCall(spec.AllowExec, checked, realOf)
		plan.rootTree = treeOf(checked)
	}
	if err != nil {
		return nil, err
	}
	cfg.ExecDirs, cfg.ExecLibs, cfg.NoExec = plan.plan.Islands, plan.plan.Libs, plan.plan.Masks
	fds := []int{wsFd}
	if plan.rootTree >= 0 {
		cfg.RootTree = true
		fds = append(fds, plan.rootTree)
	}
	if allowed := <-allowedCh; allowed != nil {
		cfg.Allowed, cfg.Resolved = allowed, true
	}
	tr.Mark("host: config ready")
	if err := send(b.ctrl, &cfg, append(fds, extra...)...); err != nil {
		return nil, bulwark.E(bulwark.Internal, op, "sandbox: cannot configure the init", err)
	}
	b.pending = true
	return b, nil
}

// earlyInit takes the init this process started as it started (package
// early: a cold `bulwark sandbox exec` as root), when it is the init this
// sandbox would have forked itself (startInit's vforkInit): a root host
// with no v2 controller, a Spec that does not ask for an init of its own
// (FreshInit, for benchmarks), and the standalone init this process
// starts its inits from (initPath) being the very file it was executed
// from. One that is not is ended, its slot freed. The host's checks come
// before (begin), and the configuration after, as for any init.
func earlyInit(spec Spec, rl *rootlessHost, ctrls []CgroupController) *early.Init {
	in := early.Take()
	if in == nil {
		return nil
	}
	if spec.FreshInit || rl != nil || slices.ContainsFunc(ctrls, func(c CgroupController) bool { return c.Version == 2 }) {
		in.End()
		return nil
	}
	if id := fileIdentity(initPath()); id == "" || id != fileIdentity(in.Exe) {
		in.End()
		return nil
	}
	in.Release()
	return in
}

// EndEarlyInit ends the init this process started as it started, if no
// sandbox took it (earlyInit): killed, reaped, its uid slot freed. A
// `bulwark sandbox exec` that runs no sandbox (a usage error, --help, a
// failed check) calls it before it exits; it returns at once when there
// is none. It waits too for the root tree its sandbox built to be pinned
// for the next run (treepin_linux.go), which went on beside the sandbox.
func EndEarlyInit() {
	early.End()
	waitTreePins()
}

// newCtrl makes the control socket: b.ctrl is the host's end, and the
// init's is returned, for the caller to close once the init has it.
func (b *box) newCtrl() (*os.File, error) {
	host, child, err := early.NewCtrl()
	if err != nil {
		return nil, bulwark.E(bulwark.Internal, "sandbox.start", "sandbox: control socket", err)
	}
	b.ctrl = host
	return os.NewFile(uintptr(child), "ctrl"), nil
}

// startInit makes the control socket and starts the init with it:
// through the zygote when it can be used, else as this process's child.
func (b *box) startInit(initUID, cmdUID uint32, cgFd int) error {
	const op = "sandbox.start"
	rl := b.rl
	child, err := b.newCtrl()
	if err != nil {
		return err
	}
	defer func() { child.Close() }() // the last one made
	if zyg.usable(rl) {
		pid, pidfd, g, err := zyg.spawn(initUID, cmdUID, int(child.Fd()), cgFd)
		switch {
		case errors.Is(err, errZygoteLost):
			// The zygote may have forked an init with this socket:
			// that one must not get this sandbox's configuration. It
			// ends at its first read, as this pair closes (and is
			// reaped, zygote_linux.go); this start forks its own init
			// with a new pair.
			unix.Close(b.ctrl)
			child.Close()
			if child, err = b.newCtrl(); err != nil {
				b.ctrl = -1
				return err
			}
		case err == nil:
			b.adoptZygoted(pid, pidfd, g)
			return nil
		case !errors.Is(err, errZygoteOff):
			return bulwark.E(bulwark.Unavailable, op, "sandbox: cannot start the sandbox init (are user namespaces allowed?)", err)
		}
	}
	b.cmd = &exec.Cmd{
		Path:        initPath(),
		Args:        []string{initArg},
		Env:         initproc.InitEnv(),
		ExtraFiles:  []*os.File{child},
		SysProcAttr: initproc.InitAttr(initUID, cmdUID, cgFd),
	}
	if rl == nil && cgFd < 0 {
		// A v2 group (cgFd) is entered at the clone, from the thread
		// that vforkInit changes: not tried where it could not be tested.
		if err := b.vforkInit(initUID, cmdUID); err != nil {
			return bulwark.E(bulwark.Unavailable, op, "sandbox: cannot start the sandbox init (are user namespaces allowed?)", err)
		}
		return nil
	}
	if rl != nil {
		rl.initAttrs(b.cmd.SysProcAttr)
	}
	if b.cmd, err = startInit(b.cmd); err != nil {
		if rl != nil {
			return bulwark.E(bulwark.Unavailable, op, rl.startProblem(err), err)
		}
		return bulwark.E(bulwark.Unavailable, op, "sandbox: cannot start the sandbox init (are user namespaces allowed?)", err)
	}
	b.pid = b.cmd.Process.Pid
	b.recordInit()
	// Opened before anything waits for the init: until then its pid
	// cannot be reaped, and so not reused by another process.
	b.held = holdNamespaces(b.pid)
	go func() { b.cmd.Wait(); close(b.done) }()
	if rl != nil {
		if err := rl.mapAfterStart(b.pid, b.slot); err != nil {
			return bulwark.E(bulwark.Unavailable, op, "sandbox: cannot map the sandbox's subordinate ids", err)
		}
	}
	return nil
}

// adoptZygoted makes the init the zygote answered with (pid, pidfd, of
// generation g) b's.
func (b *box) adoptZygoted(pid, pidfd int, g *zygoteGen) {
	b.pid, b.pidfd = pid, pidfd
	b.recordInit()
	// Opened before anything waits for the init: until then its pid
	// cannot be reaped (it is this process's child, see
	// initproc.Spawn), and so not reused by another process.
	b.held = holdNamespaces(pid)
	done := b.done
	go func() {
		waitPidfd(pidfd)
		g.initReaped(pid)
		close(done)
	}()
}

// vforkInit starts b.cmd, the init of a root host, as this process's
// child without a full fork of this process (early.VforkInit, which says
// how and why; b.cmd itself is not started, and the init is known by its
// pidfd).
func (b *box) vforkInit(initUID, cmdUID uint32) error {
	return early.VforkInit(initUID, cmdUID, b.done, func(attr *syscall.SysProcAttr) (int, int, error) {
		b.cmd.SysProcAttr = attr
		return forkExecInit(b.cmd)
	}, func(pid, pidfd int) {
		// b.cmd stays as it was, not started: the init was forked from
		// it by forkExecInit, and is known by its pidfd, as a zygote's.
		b.pidMu.Lock()
		b.pid, b.pidfd = pid, pidfd
		b.pidMu.Unlock()
		b.recordInit()
		b.held = holdNamespaces(pid)
	})
}

// waitPidfd is early.WaitPidfd.
func waitPidfd(pidfd int) { early.WaitPidfd(pidfd) }

// awaitReady reads the init's answer to its configuration: nil once the
// sandbox is prepared (file system, Landlock, seccomp, limits joined).
func (b *box) awaitReady() error {
	const op = "sandbox.start"
	b.pending = false
	var reply initReply
	if rerr := recvReply(b.ctrl, &reply); rerr != nil {
		return bulwark.E(bulwark.Unavailable, op, "sandbox: the init did not get ready", rerr)
	}
	b.spec.Trace.addInit(reply.Trace)
	if !reply.Ready {
		return bulwark.E(bulwark.Unavailable, op, "sandbox: setup refused: "+reply.Err, errors.New(reply.Err))
	}
	b.spec.Trace.Mark("host: init ready")
	// From here on the init may wait for its command as long as it likes.
	tv := unix.Timeval{}
	unix.SetsockoptTimeval(b.ctrl, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return nil
}

// workspaceTree makes a detached bind mount of dir in which the folder's
// owner appears as the sandbox's command uid (an id-mapped mount): what the
// command writes lands on disk as the owner, and no host file is ever
// chowned. The mount is nosuid, nodev, and noexec unless exec is set.
func workspaceTree(dir string, cmdUID uint32, exec bool) (int, error) {
	// The owner is read from the clone itself: a folder swapped in
	// between a stat of the path and the clone would get the first
	// one's owner mapped.
	fd, err := unix.OpenTree(unix.AT_FDCWD, dir, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		unix.Close(fd)
		return -1, errors.New("not a directory")
	}
	userns, mine, err := idmaps.get(st.Uid, st.Gid, cmdUID)
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("id-mapping user namespace: %w", err)
	}
	if mine {
		defer unix.Close(userns)
	}
	attr := unix.MountAttr{
		Attr_set:  unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC,
		Userns_fd: uint64(userns),
	}
	if exec {
		attr.Attr_set &^= unix.MOUNT_ATTR_NOEXEC
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("id-mapped mount: %w", err)
	}
	return fd, nil
}

// idmaps keeps the id-mapping user namespaces made so far: one holds no
// process and no privilege (it only maps a disk owner to a slot's command
// uid), and making one costs a fork of this process, so a long-lived
// process makes each once. Its map is made on first use (get), not by
// the package's init.
var idmaps = &usernsCache{}

// maxIdmaps bounds the namespaces kept open; beyond it each is made anew.
const maxIdmaps = 256

type usernsCache struct {
	mu  sync.Mutex
	fds map[[3]uint32]int
}

// get returns a user namespace fd mapping uid/gid to cmdUID. When close is
// true the fd is the caller's to close; otherwise the cache keeps it.
func (c *usernsCache) get(uid, gid, cmdUID uint32) (fd int, close bool, err error) {
	key := [3]uint32{uid, gid, cmdUID}
	c.mu.Lock()
	fd, ok := c.fds[key]
	c.mu.Unlock()
	if ok {
		return fd, false, nil
	}
	if fd, err = idmapUserns(uid, gid, cmdUID); err != nil {
		return -1, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.fds[key]; ok || len(c.fds) >= maxIdmaps {
		return fd, true, nil
	}
	if c.fds == nil {
		c.fds = map[[3]uint32]int{}
	}
	c.fds[key] = fd
	return fd, false, nil
}

// idmapUserns returns a user namespace fd that maps uid/gid (the owner on
// disk) to cmdUID. A user namespace needs a process: this makes one
// (idmapChild), opens its namespace and reaps it.
func idmapUserns(uid, gid, cmdUID uint32) (int, error) {
	pid, err := idmapChild(uid, gid, cmdUID)
	if err != nil {
		return -1, err
	}
	defer reapChild(pid)
	return unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/user", unix.O_RDONLY|unix.O_CLOEXEC, 0)
}

// idmapChild makes a user namespace that maps uid and gid to cmdUID and
// returns the pid of its only process, which has ended and is not reaped:
// the caller reaps it (reapChild), once it has the namespace's fd. On an
// error nothing is left.
//
// The child is vforked and runs one instruction of its own, exit_group
// (vforkExit): no code of this process and no program. Until it is reaped
// a process that has ended keeps its credentials, so its user namespace,
// whose maps can still be written and which can still be opened. It had
// been a child executing the init, stopped by ptrace at its execve and
// killed once the maps were written (BENCHMARKS.md, session 31): an
// execve, a ptrace stop, a kill and syscall.ForkLock, which the init's
// own fork waits for, on the cold CLI's path.
func idmapChild(uid, gid, cmdUID uint32) (int, error) {
	pid, errno := vforkExit(unix.CLONE_NEWUSER | unix.CLONE_VM | unix.CLONE_VFORK | uintptr(unix.SIGCHLD))
	if errno != 0 {
		return 0, fmt.Errorf("clone a process in a new user namespace: %w", syscall.Errno(errno))
	}
	if err := initproc.WriteIDMaps(int(pid), idMap(uid, cmdUID), idMap(gid, cmdUID)); err != nil {
		reapChild(int(pid))
		return 0, fmt.Errorf("write the id maps of process %d: %w", pid, err)
	}
	return int(pid), nil
}

// reapChild is early.ReapChild.
func reapChild(pid int) { early.ReapChild(pid) }

// idMap is the one line of an id map that maps id, inside, to host.
func idMap(id, host uint32) string { return fmt.Sprintf("%d %d 1\n", id, host) }

// startProxy runs the egress proxy for this sandbox on a Unix socket in a
// private folder and returns an O_PATH fd of that folder and the socket name.
func (b *box) startProxy() (int, string, error) {
	allow, err := egress.ParseAllowlist(b.spec.AllowDomains)
	if err != nil {
		return -1, "", err
	}
	dir, err := os.MkdirTemp("", "bulwark-egress-")
	if err != nil {
		return -1, "", err
	}
	b.proxyWD = dir
	// The init (an unprivileged host uid) must traverse the folder and
	// connect to the socket; it cannot list the folder.
	if err := os.Chmod(dir, 0o711); err != nil {
		return -1, "", err
	}
	const sock = "proxy.sock"
	l, err := net.Listen("unix", filepath.Join(dir, sock))
	if err != nil {
		return -1, "", err
	}
	if err := os.Chmod(filepath.Join(dir, sock), 0o666); err != nil {
		l.Close()
		return -1, "", err
	}
	b.proxy = &egress.Proxy{Allow: allow, Dial: b.spec.Dial, Intercept: b.spec.Intercept, OnEvent: func(e egress.Event) {
		if !e.Allowed {
			b.mu.Lock()
			b.denials = append(b.denials, e)
			b.mu.Unlock()
		}
		if b.spec.OnEgress != nil {
			b.spec.OnEgress(e)
		}
	}}
	go b.proxy.Serve(l)
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", err
	}
	return fd, sock, nil
}

// kill ends the sandbox: SIGKILL to its init takes the whole pid namespace.
func (b *box) kill() {
	b.pidMu.Lock()
	defer b.pidMu.Unlock()
	switch {
	case b.pidfd >= 0:
		unix.PidfdSendSignal(b.pidfd, unix.SIGKILL, nil, 0)
	case b.cmd != nil && b.cmd.Process != nil:
		b.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// initExitWait is how long cleanup waits for the init to end after
// SIGKILL (its end waits for every process of its pid namespace), unless
// the box says otherwise (exitWait, tests).
const initExitWait = 10 * time.Second

// cleanup kills the sandbox and removes everything it had on the host.
// Its uid slot is given back only once the init has ended: a sandbox
// whose processes outlive the wait (stuck in the kernel) keeps its host
// uids, so no other sandbox runs as them while they live.
func (b *box) cleanup() {
	if b.cleaned.Swap(true) {
		return
	}
	if b.spareFits && initZygoted() {
		spares.want()
	}
	b.kill()
	ended, wait := true, initExitWait
	if b.exitWait > 0 {
		wait = b.exitWait
	}
	if b.pid > 0 {
		select {
		case <-b.done:
		case <-time.After(wait):
			ended = false
		}
	}
	if b.ctrl >= 0 {
		unix.Close(b.ctrl)
		b.ctrl = -1
	}
	if held := b.held; len(held) > 0 {
		// No process is left in them: the kernel frees them, off the
		// caller's path, once it has its result.
		b.held = nil
		go closeAll(held)
	}
	if b.cg != nil {
		b.cg.release(ended && b.pid > 0)
	}
	if b.proxy != nil {
		b.proxy.Close()
	}
	if b.proxyWD != "" {
		os.RemoveAll(b.proxyWD)
	}
	if b.tempWS != "" {
		os.RemoveAll(b.tempWS)
	}
	if ended {
		b.closePidfd()
		b.freeSlot()
		return
	}
	slog.Error("a sandbox did not end within its wait after SIGKILL; its host uids stay reserved until it does", "slot", b.slot, "wait", wait)
	go func() {
		<-b.done
		b.closePidfd()
		b.freeSlot()
	}()
}

// discard is cleanup for a sandbox that ran no command and is not
// replaced (a closed Pool's): it asks for no spare init, which nothing
// would take.
func (b *box) discard() {
	b.spareFits = false
	b.cleanup()
}

// endAfterRun is cleanup for Run once its command has ended, which run
// made sure left no process in the sandbox but its init (the init said it
// was alone, or was waited for). The init is killed here; its end takes
// about a millisecond more (the kernel tears down its pid namespace and
// memory). When that end is all there is left to wait for (endsAlone),
// waiting for it and giving the uid slot back happen after Run returns,
// in one of a few background teardowns; when those are all busy, or there
// is more to do, it is cleanup.
//
// A teardown left to the background lets go of the namespaces held
// first: the init, which holds them too, then frees them as it ends,
// where nothing waits for it. Let go after its end, they were freed by
// this process, and a one-shot process (the CLI's sandbox exec) that
// exited first freed them as it exited, before its parent's wait
// returned (BENCHMARKS.md, "Issue 17, the cold CLI (session 35, cli)").
func (b *box) endAfterRun() {
	b.kill()
	if !b.endsAlone() {
		b.cleanup()
		return
	}
	if backgroundTeardowns.Add(1) > maxBackgroundTeardowns {
		backgroundTeardowns.Add(-1)
		b.cleanup()
		return
	}
	closeAll(b.held)
	b.held = nil
	teardowns.Add(1)
	go func() {
		defer teardowns.Done()
		b.cleanup()
		backgroundTeardowns.Add(-1)
	}()
}

// endsAlone reports whether the init's end is all that cleanup would wait
// for: the init has not ended yet, no folder is to be removed, no proxy
// closed, the groups are the slot's and kept as they are, and they hold no
// process but the init. The last is read from the groups, not taken from
// the init's word that it was alone: an init is not trusted once a command
// ran beside it.
func (b *box) endsAlone() bool {
	select {
	case <-b.done:
		return false
	default:
	}
	return b.pid > 0 && b.tempWS == "" && b.proxyWD == "" && b.proxy == nil &&
		b.cg != nil && b.cg.keep && b.cg.holdsOnly(b.pid)
}

// backgroundTeardowns counts the teardowns endAfterRun leaves running, at
// most maxBackgroundTeardowns: a loop of Runs that outpaces the inits'
// ends waits for them again instead of piling up goroutines and uid
// slots. A counter, not a channel: a channel is made by the package's
// init, at every start.
var backgroundTeardowns atomic.Int32

const maxBackgroundTeardowns = 4

// teardowns counts the background teardowns, for a caller (the tests)
// that must see every sandbox ended.
var teardowns sync.WaitGroup

// closePidfd closes the init's pidfd once it has ended.
func (b *box) closePidfd() {
	b.pidMu.Lock()
	defer b.pidMu.Unlock()
	if b.pidfd >= 0 {
		unix.Close(b.pidfd)
		b.pidfd = -1
	}
}

func (b *box) freeSlot() {
	if a := b.slots(); a != nil {
		a.Free(b.slot)
	}
	if b.freed != nil {
		select {
		case <-b.freed:
		default:
			close(b.freed)
		}
	}
}

// recordInit records b.pid, the init just started, as its slot's
// (uidAllocator.InitStarted).
func (b *box) recordInit() {
	if a := b.slots(); a != nil {
		a.InitStarted(b.slot, b.pid)
	}
}

// slots is the allocator of b's slot: nil for a host that is not root and
// has no subordinate ids, whose sandboxes share slot 0.
func (b *box) slots() *uidAllocator {
	if b.rl != nil {
		return b.rl.ids
	}
	return uids
}

// holdNamespaces is early.HoldNamespaces.
func holdNamespaces(pid int) []int { return early.HoldNamespaces(pid) }

func killPid(pid int) { syscall.Kill(pid, syscall.SIGKILL) }
