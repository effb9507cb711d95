package early

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// VforkInit forks a root host's init (for slot's initUID and cmdUID) with
// fork, which forks and executes it with the attributes given, from a
// thread of its own, and writes its id maps. started is called with the
// init's pid and pidfd as soon as it is forked, before anything waits for
// it (until then its pid cannot be reaped, and so not reused by another
// process); done is closed once the init has ended and been reaped.
//
// Go forks a child in a new user namespace with a full fork (its child
// waits for its id maps, which a vforked child cannot, as its parent
// stays stopped until the child's execve): that copied this process's
// page tables and left every page it wrote next a copy-on-write fault,
// about 180 faults of a cold CLI's sandbox (BENCHMARKS.md, session 29).
// Here the child is vforked with no maps and writes none itself; the host
// writes them once it has executed the init, which reads nothing before
// its configuration, sent after them.
//
// A child with no maps cannot take uid 0 of its namespace before its
// execve (Go's Credential), so it must be the init's host uid already:
// it is forked from a thread of its own whose uid and gid are set to
// initUID first (set*id on Linux change one thread). That thread keeps
// its capabilities, so that the kernel and security modules see the
// clone of a privileged process, as before (Debian's
// unprivileged_userns_clone and Ubuntu's AppArmor restrictions apply to
// unprivileged ones); it forks the init with every capability kept
// across execve as ambient ones
// (as a host that is not root does, userns_linux.go; the init drops them
// all before the command, on the main thread that forks it; its other
// threads, which run only the proxy forwarder, keep them with the rest of
// their capabilities: dropping the inheritable and ambient sets there
// takes a syscall.AllThreadsSyscall, a stop of the init's world and a
// signal to each thread on its start path, and gives nothing, as a thread
// that keeps its permitted set may raise them again, and as uid 0 of the
// namespace an execve would get the whole bounding set whatever they
// hold; session 32), waits for the init and ends with it: the
// init's parent death signal comes with that thread's end. So the init
// runs as initUID from its first instruction and never as host root, it
// has no supplementary groups, and the maps, setgroups and namespaces are
// those of initproc.InitAttr (TestRootInitAsBefore). The owner of the
// init's user namespace is initUID rather than root; no process of the
// host runs as initUID but that thread.
//
// When the maps cannot be written the init is killed (done is closed as
// it ends) and the error returned.
func VforkInit(initUID, cmdUID uint32, done chan struct{}, fork func(*syscall.SysProcAttr) (pid, pidfd int, err error), started func(pid, pidfd int)) error {
	attr, uidMap, gidMap, err := initproc.VforkAttr(initUID, cmdUID)
	if err != nil {
		return err
	}
	type forked struct {
		pid, pidfd int
		err        error
	}
	forkedCh := make(chan forked, 1)
	// Nothing waits for the init until started has run and its maps are
	// written: until then its pid cannot be reaped and reused.
	proceed := make(chan struct{})
	defer close(proceed)
	OnOwnThread(func() {
		if err := initproc.BecomeID(initUID); err != nil {
			forkedCh <- forked{err: fmt.Errorf("init uid %d for the thread that forks the init: %w", initUID, err)}
			return
		}
		pid, pidfd, err := fork(attr)
		forkedCh <- forked{pid, pidfd, err}
		if err != nil {
			return
		}
		<-proceed
		WaitPidfd(pidfd)
		close(done)
	})
	f := <-forkedCh
	if f.err != nil {
		return f.err
	}
	started(f.pid, f.pidfd)
	if err := initproc.WriteIDMaps(f.pid, uidMap, gidMap); err != nil {
		unix.PidfdSendSignal(f.pidfd, unix.SIGKILL, nil, 0)
		return fmt.Errorf("write the id maps of the init (%d): %w", f.pid, err)
	}
	return nil
}

// ForkExecInit forks and executes the init at path with args, env and
// attr (with syscall.ForkExec rather than exec.Cmd's Start: that one, at
// its first use in a process, checks that pidfds work by forking and
// reaping a child of its own, and opens /dev/null three times for the
// child's stdio, all on a cold sandbox's path to its init; BENCHMARKS.md,
// "Issue 17, the cold CLI (session 34, cli)"). The init gets /dev/null as
// its stdio and extra from descriptor 3 on. It returns the init's pid and
// a pidfd of it, from its clone.
func ForkExecInit(path string, args, env []string, dir string, extra []uintptr, attr *syscall.SysProcAttr) (pid, pidfd int, err error) {
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, -1, err
	}
	defer unix.Close(null)
	files := append([]uintptr{uintptr(null), uintptr(null), uintptr(null)}, extra...)
	a := *attr
	pidfd = -1
	a.PidFD = &pidfd
	pid, err = syscall.ForkExec(path, args, &syscall.ProcAttr{Dir: dir, Env: env, Files: files, Sys: &a})
	if err == nil && pidfd < 0 {
		// A kernel without CLONE_PIDFD (before 5.2, which the sandbox's
		// other needs rule out): the child is not reaped yet, so its pid
		// is still its own.
		unix.Kill(pid, unix.SIGKILL)
		ReapChild(pid)
		return 0, -1, errors.New("no pidfd for the init: Linux 5.2 or later is needed")
	}
	return pid, pidfd, err
}

// OnOwnThread runs f in a new goroutine locked to a thread that is not
// the process's main one and that ends with f: f may change what belongs
// to the thread (its credentials), which no other goroutine then sees.
// The main thread is never given to f: a goroutine that ends locked to it
// leaves it parked rather than ended, and /proc and the kernel's
// permission checks take a process's credentials from its main thread.
func OnOwnThread(f func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			f() // never unlocked: the thread ends with this goroutine
			return
		}
		// On the main thread: held here until another goroutine is
		// locked to another thread.
		locked := make(chan struct{})
		go func() {
			runtime.LockOSThread()
			close(locked)
			f()
		}()
		<-locked
		runtime.UnlockOSThread()
	}()
}

// WaitPidfd waits until the process of pidfd, a child of this process,
// has ended (its pid namespace with it: an init ends after every other
// process of its namespace), and reaps it.
func WaitPidfd(pidfd int) {
	for {
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PIDFD, pidfd, &info, unix.WEXITED, nil); err != unix.EINTR {
			return
		}
	}
}

// ReapChild reaps the child pid, which has ended or is about to.
func ReapChild(pid int) {
	var ws unix.WaitStatus
	for {
		if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
			return
		}
	}
}

// HoldNamespaces opens the mount and network namespaces of process pid
// (those it can). The last process of a namespace to exit frees it: the
// mount tree of about 50 mounts, the network namespace's devices. While the
// host holds them, the init exits without that work, which the host then
// does in the background (cleanup); in a paired measurement the init's
// exit, as Run waits for it, went from 0.85 to 0.7 ms.
func HoldNamespaces(pid int) []int {
	var fds []int
	for _, ns := range []string{"mnt", "net"} {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			fds = append(fds, fd)
		}
	}
	return fds
}
