package initproc

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The zygote is a small, long-lived process of the standalone init that
// forks the sandboxes' inits for a host running as root, so that the host
// never forks itself: Go cannot vfork into a new user namespace, and a
// full fork of the host copies its page tables and leaves every page it
// writes next a copy-on-write fault (about 280 faults per cold sandbox of
// a small host, more the larger its heap; BENCHMARKS.md). The zygote
// is a few megabytes and writes little.
//
// It serves only the host that started it, over a SOCK_SEQPACKET pair
// (its fd 3), one request at a time:
//
//	host -> zygote  Spawn  + [init's control socket end, v2 cgroup?]
//	zygote -> host  Spawned + [pidfd of the init]   (with Err, only of one killed)
//
// and it executes only itself as the init. The protections of a direct
// start hold: the init gets the same namespaces, id maps, session and
// v2 cgroup (entered at the clone), and it is forked with CLONE_PARENT,
// so that it is the host's child, as if the host had forked it: the host
// reaps it (its pid names it until then), waits for it and signals it
// (through a pidfd), and its parent death signal comes with the host's
// end (the host keeps the thread it refers to until they are reaped).
// The zygote's own parent death signal is the host's too, and it ends
// when the host closes its socket. A zygote that dies leaves the inits
// it forked to the host; the host starts another.

// ZygoteArg is argv[0] of the zygote.
const ZygoteArg = "bulwark-sandbox-zygote"

// InitCloneflags are the namespaces of a sandbox's init, whoever forks it.
const InitCloneflags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWPID |
	syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS | syscall.CLONE_NEWCGROUP | syscall.CLONE_NEWNET

// Spawn asks the zygote for one init. InitUID and CmdUID are the host
// uids (and gids) mapped to the init (0) and to SandboxUID.
type Spawn struct {
	InitUID  uint32
	CmdUID   uint32
	CgroupFD bool // a v2 group's fd follows the control socket's
}

// Spawned answers a Spawn: the init's pid (its pidfd comes with it), or
// why it could not be started. An init forked and then killed (its id
// maps refused) comes with the error, its pid and its pidfd: the host,
// its parent, reaps it.
type Spawned struct {
	Pid int
	Err string
}

// InitEnv is the environment of an init, whoever starts it (the command
// gets its own, from its RunRequest). GOMAXPROCS=1: the init's main thread
// does its work alone, then waits; the proxy forwarder's goroutines need no
// second P. With one P fewer the Go runtime starts fewer threads and
// touches fewer pages before the init's code runs: about 30 page faults
// fewer a cold sandbox (BENCHMARKS.md).
func InitEnv() []string { return []string{"GOMAXPROCS=1"} }

// InitAttr is how an init is forked: its namespaces, id maps, session,
// parent death signal and, when cgroupFD is not -1, the v2 group it
// enters at the clone.
func InitAttr(initUID, cmdUID uint32, cgroupFD int) *syscall.SysProcAttr {
	maps := []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(initUID), Size: 1}, {ContainerID: SandboxUID, HostID: int(cmdUID), Size: 1}}
	return &syscall.SysProcAttr{
		Cloneflags:  InitCloneflags,
		UidMappings: maps,
		GidMappings: maps,
		Credential:  &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true},
		Pdeathsig:   syscall.SIGKILL,
		Setsid:      true,
		UseCgroupFD: cgroupFD >= 0,
		CgroupFD:    cgroupFD,
	}
}

// zygoteMain serves spawn requests until the host closes its end.
func zygoteMain() int {
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return 1
	}
	// One buffer for every request: after each fork every page the
	// zygote writes is a copy-on-write fault, and a buffer made anew
	// for each (Recv's 64 KB, cleared) was 16 of its 80 faults a spawn.
	buf := make([]byte, 4096)
	netReady := freshNet()
	for {
		var req Spawn
		fds, err := recvInto(ctrlFd, buf, &req)
		if err != nil {
			return 0 // the host is gone, or closed its end
		}
		pid, pidfd, err := spawnInit(req, fds, null, netReady)
		CloseAll(fds)
		// Whatever came of it, that namespace is not given again: the
		// next one is made once this request is answered.
		netReady = false
		if err != nil {
			// An init forked and killed since (its maps refused) comes
			// with its pidfd, so that the host, its parent, reaps it.
			var fds []int
			if pidfd >= 0 {
				fds = []int{pidfd}
			}
			err = Send(ctrlFd, &Spawned{Pid: pid, Err: err.Error()}, fds...)
			if pidfd >= 0 {
				unix.Close(pidfd)
			}
			if err != nil {
				return 0
			}
			continue
		}
		err = Send(ctrlFd, &Spawned{Pid: pid}, pidfd)
		unix.Close(pidfd)
		if err != nil {
			return 0
		}
		netReady = freshNet()
	}
}

// freshNet moves this thread, the one the inits are forked from, into a
// new network namespace with its loopback up, for the next init, which
// then is forked without CLONE_NEWNET and so is given it. Making the
// namespace (about 1 ms of CPU) and bringing lo up (0.2 ms) here, while
// the zygote waits for its next request, takes both off every cold
// sandbox's start. Each namespace is given to one init only: zygoteMain
// makes another after every request. The namespace belongs to the
// zygote's user namespace (the host's), not to the init's: the init and
// its command hold no capability over it, so they can neither change it
// nor bring another interface into it (the command has no capability at
// all anyway). It reports false, leaving the thread where it was or in
// a namespace whose lo is down, when either fails: the next init is then
// forked with a namespace of its own, whose lo it brings up itself.
func freshNet() bool {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return false
	}
	return loopbackUp() == nil
}

// mustReturnToRoot gives this thread back its root ids after BecomeID,
// or ends the zygote: no later request may find it with an init's uid
// (the host then forks its own inits).
func mustReturnToRoot() {
	if ReturnToRoot() != nil {
		os.Exit(1)
	}
}

// spawnInit forks and executes this binary as an init for req with the
// descriptors that came with it.
func spawnInit(req Spawn, fds []int, null int, netReady bool) (pid, pidfd int, err error) {
	want := 1
	if req.CgroupFD {
		want++
	}
	if len(fds) != want {
		return 0, -1, fmt.Errorf("zygote: got %d descriptors, want %d", len(fds), want)
	}
	cg := -1
	if req.CgroupFD {
		cg = fds[1]
	}
	pidfd = -1
	// Vforked (vfork_linux.go) unless it enters a v2 group at its clone,
	// which is not tried where it could not be tested: this thread takes
	// the init's uid for the fork, and its maps are written after.
	vfork := cg < 0
	var attr *syscall.SysProcAttr
	var uidMap, gidMap string
	if vfork {
		if attr, uidMap, gidMap, err = VforkAttr(req.InitUID, req.CmdUID); err != nil {
			return 0, -1, fmt.Errorf("zygote: %w", err)
		}
	} else {
		attr = InitAttr(req.InitUID, req.CmdUID, cg)
	}
	// The init is the host's child, not the zygote's: the host reaps it,
	// so its pid is not reused while the host may still signal it, and
	// its parent death signal comes with the host's end.
	attr.Cloneflags |= syscall.CLONE_PARENT
	if netReady {
		// This thread's namespace, made for this init (freshNet).
		attr.Cloneflags &^= syscall.CLONE_NEWNET
	}
	attr.PidFD = &pidfd
	if vfork {
		if err := BecomeID(req.InitUID); err != nil {
			mustReturnToRoot()
			return 0, -1, fmt.Errorf("zygote: the init's uid for the fork: %w", err)
		}
	}
	pid, err = syscall.ForkExec("/proc/self/exe", []string{InitArg}, &syscall.ProcAttr{
		Env:   InitEnv(),
		Files: []uintptr{uintptr(null), uintptr(null), uintptr(null), uintptr(fds[0])},
		Sys:   attr,
	})
	if vfork {
		mustReturnToRoot()
	}
	if err != nil {
		return 0, -1, fmt.Errorf("zygote: %w", err)
	}
	if vfork && pidfd >= 0 {
		if err := WriteIDMaps(pid, uidMap, gidMap); err != nil {
			// It ends now; the host, its parent, reaps it through the
			// pidfd that comes with the error (zygoteMain).
			unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
			return pid, pidfd, fmt.Errorf("zygote: the init's id maps: %w", err)
		}
	}
	if pidfd < 0 {
		// A kernel without CLONE_PIDFD (Linux 5.2), which the host
		// checked for: the init, whose control socket the host closes
		// on this answer, ends at its first read (and the host, its
		// parent, reaps it once this zygote has ended).
		return 0, -1, fmt.Errorf("zygote: no pidfd for the init")
	}
	return pid, pidfd, nil
}
