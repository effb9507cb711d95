package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// zygote is this process's client of the zygote (initproc, zygote_linux.go):
// a small process of the standalone init that forks the sandboxes' inits
// when this process runs as root, so that this process, whose heap a
// server makes large, never forks itself for a sandbox. A process starts
// it, in the background, at its second sandbox: a one-shot process (the
// CLI's sandbox exec) would pay for its start and get nothing back. Until
// it runs, and whenever it cannot be used, inits are forked directly.
type zygote struct {
	mu       sync.Mutex
	ctrl     int           // the control socket; -1 when no zygote runs
	pid      int           // the zygote's pid (tests)
	ended    chan struct{} // closed once the zygote has ended
	gen      *zygoteGen    // the running zygote's inits
	starts   int           // sandboxes started so far
	starting bool          // a zygote is being started
	off      bool          // the zygote cannot be used here
	// live is gen while the zygote is thought to run (nil once stopped),
	// read without mu, which a request holds until its answer: whether
	// to ask for a spare init (spare_linux.go) waits on no request.
	live atomic.Pointer[zygoteGen]
}

var zyg = &zygote{ctrl: -1}

// zygoteGen is what this process knows of one zygote's inits: the pids
// of those it was answered with, each reaped by its box (waitPidfd). The
// thread that forked that zygote, which their parent death signal refers
// to, is kept until the zygote has ended and every child of that thread
// is reaped (reapRest): a zygote's death does not end the sandboxes it
// started (this process supervises them), and an init forked for a
// request whose answer was lost, which no box knows of, is reaped there
// rather than left a zombie of this process. Its own lock, not zyg.mu,
// which a request holds until its answer: a box whose init ended is not
// held up by a zygote that is slow to answer another.
type zygoteGen struct {
	ended chan struct{} // closed once that zygote has ended
	mu    sync.Mutex
	known map[int]bool
}

// initReaped says the init pid of g has been reaped by its box.
func (g *zygoteGen) initReaped(pid int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.known, pid)
}

// isKnown says whether an answer gave pid.
func (g *zygoteGen) isKnown(pid int) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.known[pid]
}

// reapRest runs on the thread that forked g's zygote, once the zygote is
// reaped, and returns when that thread has no child left: the inits of g
// (children of this thread, as the zygote forked them with CLONE_PARENT,
// and of nothing else that this process runs) end in their time and are
// reaped by their boxes; any other init is one whose answer was lost, and
// is reaped here as it ends (its socket closed by the failed start).
func (g *zygoteGen) reapRest() {
	for {
		pid, err := exitedChild()
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return // ECHILD: none left
		}
		if g.isKnown(pid) {
			time.Sleep(time.Millisecond) // its box reaps it
			continue
		}
		var info unix.Siginfo
		for unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED, nil) == unix.EINTR {
		}
	}
}

// exitedChild waits until a child of this thread (not of the process's
// other threads) has ended, and returns its pid without reaping it.
func exitedChild() (int, error) {
	var info struct {
		signo, errno, code, _ int32
		pid                   int32
		_                     [108]byte // siginfo_t is 128 bytes
	}
	_, _, e := unix.Syscall6(unix.SYS_WAITID, unix.P_ALL, 0, uintptr(unsafe.Pointer(&info)), unix.WEXITED|unix.WNOWAIT|unix.WNOTHREAD, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(info.pid), nil
}

// zygoteOff turns the zygote off (tests compare both ways).
var zygoteOff = false

// usable says whether this start goes through the zygote. It does when a
// zygote runs, and can only run as root, from the standalone init (the
// zygote executes itself as the init), on a kernel with pidfds (Linux
// 5.3), with which the host signals and waits for an init it did not
// fork.
func (z *zygote) usable(rl *rootlessHost) bool {
	if zygoteOff || rl != nil || initPath() == selfExe {
		return false
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.off {
		return false
	}
	if z.ctrl >= 0 {
		select {
		case <-z.ended:
			z.stopLocked() // killed since: another one below
		default:
			return true
		}
	}
	z.starts++
	if z.starts >= 2 && !z.starting {
		z.starting = true
		go z.start()
	}
	return false
}

func pidfdsWork() bool { return pidfdsWorkOnce.Get() }

var pidfdsWorkOnce = lazy.Value[bool]{New: func() bool {
	fd, err := unix.PidfdOpen(os.Getpid(), 0)
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}}

// errZygoteOff says no zygote took the request: the caller forks the init
// itself.
var errZygoteOff = errors.New("no zygote")

// errZygoteLost says a request got no answer: the zygote may have forked
// an init with the socket sent, and the caller forks another with a new
// one.
var errZygoteLost = errors.New("the zygote did not answer")

// spawn starts an init through the zygote, with ctrl as its control
// socket and, when cgFd is not -1, in that v2 group. It returns the
// init's pid and a pidfd of it, errZygoteOff when the request reached
// no zygote, or errZygoteLost when it got no answer.
func (z *zygote) spawn(initUID, cmdUID uint32, ctrl int, cgFd int) (pid, pidfd int, g *zygoteGen, err error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.ctrl < 0 {
		return 0, -1, nil, errZygoteOff
	}
	select {
	case <-z.ended:
		// Ended since usable: a request would not be read.
		z.stopLocked()
		return 0, -1, nil, errZygoteOff
	default:
	}
	fds := []int{ctrl}
	if cgFd >= 0 {
		fds = append(fds, cgFd)
	}
	if err := send(z.ctrl, &initproc.Spawn{InitUID: initUID, CmdUID: cmdUID, CgroupFD: cgFd >= 0}, fds...); err != nil {
		// Not sent (the zygote is gone): nothing was forked for it.
		z.stopLocked()
		return 0, -1, nil, errZygoteOff
	}
	var rep initproc.Spawned
	got, err := initproc.Recv(z.ctrl, &rep)
	if err != nil {
		// Whether the zygote forked an init first is not known (one
		// that was ends at its first read, as the caller closes the
		// other end of its socket).
		closeAll(got)
		z.stopLocked()
		return 0, -1, nil, fmt.Errorf("%w: %v", errZygoteLost, err)
	}
	if rep.Err != "" && len(got) == 1 && rep.Pid > 0 {
		// An init forked and killed (its maps refused): this process,
		// its parent, reaps it now, or it stays a zombie until the
		// zygote ends. Killed here too, in case the zygote could not:
		// it would wait for its configuration.
		unix.PidfdSendSignal(got[0], unix.SIGKILL, nil, 0)
		waitPidfd(got[0])
		unix.Close(got[0])
		return 0, -1, nil, errors.New(rep.Err)
	}
	if rep.Err != "" || len(got) != 1 || rep.Pid <= 0 {
		closeAll(got)
		if rep.Err == "" {
			rep.Err = "zygote: a malformed answer"
		}
		return 0, -1, nil, errors.New(rep.Err)
	}
	if err := ownNetns(rep.Pid); err != nil {
		// The zygote makes each init's network namespace ahead
		// (initproc.freshNet): one that gave this process's own is not
		// used again. The init ends at its first read, as the caller
		// closes its socket, and, known to no box, is reaped once the
		// zygote has ended (reapRest).
		unix.Close(got[0])
		z.stopLocked()
		return 0, -1, nil, err
	}
	z.gen.mu.Lock()
	z.gen.known[rep.Pid] = true
	z.gen.mu.Unlock()
	return rep.Pid, got[0], z.gen, nil
}

// hostNetns is the network namespace of this process, as stat gives it,
// read by the first call (a lazy.Value literal: no package init work).
func hostNetns() (unix.Stat_t, error) {
	ns := hostNetnsOnce.Get()
	return ns.st, ns.err
}

var hostNetnsOnce = lazy.Value[struct {
	st  unix.Stat_t
	err error
}]{New: func() (ns struct {
	st  unix.Stat_t
	err error
}) {
	ns.err = unix.Stat("/proc/self/ns/net", &ns.st)
	return ns
}}

// ownNetns fails unless process pid (an init, this process's child that
// is not reaped) is in a network namespace other than this process's.
func ownNetns(pid int) error {
	host, err := hostNetns()
	if err != nil {
		return fmt.Errorf("zygote: this process's network namespace: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &st); err != nil {
		return fmt.Errorf("zygote: the init's network namespace: %w", err)
	}
	if st.Dev == host.Dev && st.Ino == host.Ino {
		return errors.New("zygote: the init is in this process's network namespace")
	}
	return nil
}

// start starts a zygote. A parent death signal comes when the thread
// that forked the process ends, so that thread is kept for the zygote
// and its inits (their parent is the zygote's): a goroutine locked to it
// forks the zygote and waits for its end and their reaping. A zygote the
// kernel refuses to execute turns the zygote off for good; another
// failure leaves it to a later start.
func (z *zygote) start() {
	g := &zygoteGen{known: map[int]bool{}}
	ctrl, pid, ended, err := launchZygote(g)
	z.mu.Lock()
	defer z.mu.Unlock()
	z.starting = false
	switch {
	case errors.Is(err, errZygoteOff):
		z.off = true
	case err == nil:
		z.ctrl, z.pid, z.ended, z.gen = ctrl, pid, ended, g
		z.live.Store(g)
	}
}

// running says whether a zygote runs (as far as this process knows) and
// is to be used, without waiting for a request under way.
func (z *zygote) running() bool {
	g := z.live.Load()
	if zygoteOff || g == nil {
		return false
	}
	select {
	case <-g.ended:
		return false
	default:
		return true
	}
}

func launchZygote(g *zygoteGen) (ctrl, pid int, ended chan struct{}, err error) {
	if !pidfdsWork() {
		return -1, 0, nil, errZygoteOff
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, 0, nil, err
	}
	child := os.NewFile(uintptr(pair[1]), "zygote")
	started := make(chan error, 1)
	g.ended = make(chan struct{})
	ended = g.ended
	go func() {
		// Never unlocked: the thread ends with this goroutine, once the
		// zygote has ended and its inits are reaped (zygoteGen).
		runtime.LockOSThread()
		c := &exec.Cmd{
			Path:        initPath(),
			Args:        []string{initproc.ZygoteArg},
			Env:         []string{},
			ExtraFiles:  []*os.File{child},
			SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setsid: true},
		}
		err := c.Start()
		child.Close()
		if err == nil {
			pid = c.Process.Pid
		}
		started <- err
		if err != nil {
			close(ended)
			return
		}
		c.Wait()
		close(ended)
		g.reapRest()
	}()
	if err := <-started; err != nil {
		unix.Close(pair[0])
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOEXEC) {
			return -1, 0, nil, errZygoteOff
		}
		return -1, 0, nil, err
	}
	// A zygote that stops answering fails the start instead of hanging it.
	tv := unix.Timeval{Sec: 20}
	unix.SetsockoptTimeval(pair[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return pair[0], pid, ended, nil
}

// stopLocked closes the control socket: the zygote ends at its next read,
// and a later start starts another.
func (z *zygote) stopLocked() {
	z.live.Store(nil)
	if z.ctrl >= 0 {
		unix.Close(z.ctrl)
		z.ctrl = -1
	}
}
