package early

import (
	"io/fs"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/sandbox/initbin"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// A cold `bulwark sandbox exec` spends its first 1.2 to 1.4 ms in the
// package inits of the whole binary, most of them third-party, on one
// CPU, before any code of package sandbox may run. This package's init
// runs early among them (it depends only on packages that are initialised
// early: Go initialises a package once those it imports are, and the
// first of the ready ones by import path), and when the process is such
// a CLI on a root host it forks the sandbox's init from there, on another
// thread (Start): the uid slot leased, the control socket made, the init
// forked and executed with its id maps written, exactly as Run forks one
// (VforkInit), and its Go start under way while the rest of the binary
// initialises. Run takes it (Take) in place of forking its own, after the
// host's checks, when it would have forked this same init itself: a root
// host with no cgroup v2 controller, a Spec that does not ask for a fresh
// init, and the standalone init Run finds is the file this one was
// started from. Otherwise it ends it, and so does the CLI as it exits
// (End): an init no Run took is killed and reaped, and its slot freed.
//
// The early init owes nothing to the Spec: it waits for its
// configuration (its first read) as any init does, and every check and
// every step of a sandbox's set-up comes after, in Run, as for an init
// Run forked itself. Only an init already checked fresh for this binary
// (its checked mark, which Run writes) is started: otherwise Run finds
// and checks it as before.

// Init is an init started ahead of its sandbox, waiting for its
// configuration.
type Init struct {
	Pid, Pidfd int
	Ctrl       int // the host's end of the control socket
	Slot       uint32
	Held       []int         // its namespaces (HoldNamespaces)
	Done       chan struct{} // closed once it has ended and been reaped
	// Exe is the path it was executed from, /proc/self/fd/N of the
	// cached standalone init, N open (exeFd) while the Init is.
	Exe   string
	exeFd int
	// Forked and Mapped are when it was forked and its maps written
	// (initproc.Monotonic), for a sandbox's trace.
	Forked, Mapped int64
}

// started is the early start of this process, if any.
var started struct {
	ready chan struct{} // nil: none was started; closed once it has ended
	mu    sync.Mutex
	init  *Init // nil once taken, or when the start failed
}

func init() {
	if Wanted(os.Args) {
		Start()
	}
}

// Wanted says whether a process of args starts an init early: a root
// host's `bulwark sandbox exec` (not asked for its usage), unless BULWARK_SANDBOX=off (no sandbox)
// or the cgroup hierarchy is v2 (whose group an init enters at its clone,
// from the Spec's limits). Every command runs it: for all but that one
// it returns at its first test, with no allocation and no system call.
func Wanted(args []string) bool {
	if len(args) < 3 || args[1] != "sandbox" || args[2] != "exec" || os.Geteuid() != 0 {
		return false
	}
	for _, a := range args[3:] {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" || a == "--h" {
			return false // the usage, and no sandbox
		}
	}
	if _, set := os.LookupEnv("BULWARK_SANDBOX"); set {
		return false // off, or a value Run reads: not the common case
	}
	var sfs unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &sfs) == nil && sfs.Type != unix.CGROUP2_SUPER_MAGIC
}

// Start starts an init in the background: the package's init calls it,
// and tests, once the last one started was taken or ended.
func Start() {
	if r := readyChan(); r != nil {
		<-r
		started.mu.Lock()
		pending := started.init != nil
		started.mu.Unlock()
		if pending {
			return
		}
	}
	r := make(chan struct{})
	started.mu.Lock()
	started.ready = r
	started.mu.Unlock()
	go func() {
		in := startInit()
		started.mu.Lock()
		started.init = in
		started.mu.Unlock()
		close(r)
	}()
}

// readyChan is the channel of the last start: nil when none was started,
// closed once it has ended.
func readyChan() chan struct{} {
	started.mu.Lock()
	defer started.mu.Unlock()
	return started.ready
}

// Take returns the init started early, once its start has ended, for the
// caller to use or End; nil when none was started, its start failed, or
// it was taken before.
func Take() *Init {
	r := readyChan()
	if r == nil {
		return nil
	}
	<-r
	started.mu.Lock()
	defer started.mu.Unlock()
	in := started.init
	started.init = nil
	return in
}

// Pending returns the init's pid and slot once its start has ended,
// leaving it to be taken (tests); ok is false when there is none.
func Pending() (pid int, slot uint32, ok bool) {
	r := readyChan()
	if r == nil {
		return 0, 0, false
	}
	<-r
	started.mu.Lock()
	defer started.mu.Unlock()
	if started.init == nil {
		return 0, 0, false
	}
	return started.init.Pid, started.init.Slot, true
}

// End ends the init started early, unless it was taken: what a CLI that
// ran no sandbox leaves. It returns once the init is reaped and its slot
// freed.
func End() {
	if in := Take(); in != nil {
		in.End()
	}
}

// initExitWait bounds End's wait for the init's end after SIGKILL; an
// init not ended by then keeps its slot until it ends (as cleanup does).
const initExitWait = 10 * time.Second

// End kills the init, reaps it and frees its slot.
func (in *Init) End() {
	unix.PidfdSendSignal(in.Pidfd, unix.SIGKILL, nil, 0)
	unix.Close(in.Ctrl)
	for _, fd := range in.Held {
		unix.Close(fd)
	}
	unix.Close(in.exeFd)
	free := func() {
		unix.Close(in.Pidfd)
		Host.Free(in.Slot)
	}
	select {
	case <-in.Done:
		free()
	case <-time.After(initExitWait):
		go func() { <-in.Done; free() }()
	}
}

// Release closes what the Init holds that its taker does not keep: the
// descriptor of the file it was executed from.
func (in *Init) Release() { unix.Close(in.exeFd) }

// startInit starts an init as Run would for a root host, or returns nil
// and leaves nothing.
func startInit() *Init {
	stamp, err := fs.ReadFile(initbin.FS, InitName+".stamp")
	if err != nil {
		return nil
	}
	st, err := fs.Stat(initbin.FS, InitName)
	if err != nil {
		return nil
	}
	self := FileIdentity("/proc/self/exe")
	if self == "" || !RootsFileExists(CheckedMark(RootCacheDir, stamp, self)) {
		return nil // Run checks the embedded init, and caches it
	}
	exeFd := OpenCachedInit(InitFile(RootCacheDir, stamp), st.Size())
	if exeFd < 0 {
		return nil
	}
	slot, err := Host.Alloc()
	if err != nil {
		unix.Close(exeFd)
		return nil
	}
	in := &Init{Pidfd: -1, Ctrl: -1, Slot: slot, Done: make(chan struct{}), Exe: "/proc/self/fd/" + strconv.Itoa(exeFd), exeFd: exeFd}
	ctrl, child, err := NewCtrl()
	if err != nil {
		unix.Close(exeFd)
		Host.Free(slot)
		return nil
	}
	in.Ctrl = ctrl
	cmdUID := UIDBase + 2*slot
	err = VforkInit(cmdUID+1, cmdUID, in.Done, func(attr *syscall.SysProcAttr) (int, int, error) {
		return ForkExecInit(in.Exe, []string{initproc.InitArg}, initproc.InitEnv(), "", []uintptr{uintptr(child)}, attr)
	}, func(pid, pidfd int) {
		in.Pid, in.Pidfd, in.Forked = pid, pidfd, initproc.Monotonic()
		Host.InitStarted(slot, pid)
		in.Held = HoldNamespaces(pid)
	})
	unix.Close(child)
	in.Mapped = initproc.Monotonic()
	if err != nil {
		if in.Pid == 0 {
			// Not forked: nothing waits to close Done.
			close(in.Done)
		}
		in.End()
		return nil
	}
	return in
}

// NewCtrl makes an init's control socket: host is the host's end (reads
// time out after 20 s until the init is ready), child the init's, for
// the caller to close once the init has it.
func NewCtrl() (host, child int, err error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, -1, err
	}
	tv := unix.Timeval{Sec: 20}
	unix.SetsockoptTimeval(pair[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return pair[0], pair[1], nil
}
