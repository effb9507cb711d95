package initproc

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// The host and the init talk over a SOCK_SEQPACKET socket pair: one
// message per packet (codec_linux.go), with file descriptors attached where
// a message needs them. The init's side is fd 3.
//
//	host -> init  Config  + [workspace, root tree, proxy dir, tasks]  set yourself up
//	init -> host  Reply                                   ready, or why not
//	host -> init  RunRequest  + [stdin, stdout, stderr]       run this command
//	init -> host  RunReply{Running}                           it started (only when asked)
//	init -> host  RunReply                                    how it ended
//
// The init is less trusted than the host once a command ran beside it, so
// the host reads only small, fixed-shape replies and trusts nothing in them
// beyond the command's own exit status.

const (
	InitArg   = "bulwark-sandbox-init"   // argv[0] of the sandbox init
	UsernsArg = "bulwark-sandbox-userns" // argv[0] of the id-mapping holder
	ctrlFd    = 3                        // the init's end of the control socket
	maxMsg    = 64 << 10
)

// Config is everything the init needs to prepare the sandbox.
type Config struct {
	AllowExec []string
	TmpSize   int64
	// RootTree says a clone of the host's root tree (BuildTree) follows
	// the workspace fd: the init attaches it instead of building its root.
	RootTree  bool
	Proxy     bool   // a proxy dir fd follows the workspace fd (and the root tree's)
	ProxySock string // the socket's name in that dir
	NProc     uint64 // RLIMIT_NPROC for the command's uid
	FileSize  uint64 // RLIMIT_FSIZE: the largest file written
	Cgroups   int    // v1 "tasks" fds that follow, to join
	Check     bool   // exit after setup (sandbox check)
	// The executable mounts besides the allowed programs (execPlan).
	ExecDirs []string
	ExecLibs []string
	NoExec   []string // programs inside ExecDirs
	// TrustPEM is the egress proxy's task CA, written to TrustCA and
	// appended to the host's roots in TrustBundle; empty: neither file.
	TrustPEM string
	// ReadOnly are host paths (clean, absolute, checked by the host) to
	// bind read-only and noexec at the same path; programs under them may
	// be allowed by their absolute paths.
	ReadOnly []string
	// WriteExec is WXAuto, WXDeny or WXAllow: whether the command's
	// processes may have memory that is written and executed (wx.go).
	WriteExec string
	// WorkspaceExec grants EXECUTE under /workspace (whose mount the host
	// made executable): any program written there runs.
	WorkspaceExec bool
	// Trace asks for the init's phases (Stamp) in its replies.
	Trace bool
	// Rootless is set when the host is not root (see rootless_linux.go):
	// the workspace fd is an O_PATH fd of the folder, which the init
	// binds itself, and the init may have to take uid 0 of its namespace.
	Rootless *Rootless
	// Hide says the command's RunRequest may name workspace paths to
	// hide: the init then mounts nothing of the command's until the
	// request comes, and restricts its thread only after (hide_linux.go).
	Hide bool
	// Resolved says Allowed is AllowExec resolved by the host
	// (ResolveAllowed), which did it while the init started: the real
	// paths of the allowed programs. The init only checks that each is
	// one its own resolution could have given. Without it the init
	// resolves AllowExec itself.
	Resolved bool
	Allowed  []string
}

// Stamp is when one phase of the init ended: a CLOCK_MONOTONIC reading in
// nanoseconds, the clock the host reads too (sandbox.Trace).
type Stamp struct {
	Name string
	At   int64
}

// Monotonic reads CLOCK_MONOTONIC in nanoseconds.
func Monotonic() int64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

type Reply struct {
	Ready bool
	Err   string
	ABI   int     // the Landlock ABI the init used
	Trace []Stamp // with Config.Trace
}

// RunRequest is one command for a prepared sandbox.
type RunRequest struct {
	Argv []string
	Env  []string
	// Announce asks for a RunReply with Running set as soon as the command
	// has started (a long-lived process: the host must know it runs), and
	// the final RunReply when it ends. A command that cannot be started
	// gets only the final one.
	Announce bool
	// Hide are the workspace's files and folders to cover before the
	// command starts (clean, relative to /workspace, none inside
	// another, at most MaxHidden); only with Config.Hide.
	Hide []string
	// Pin are folders of the workspace to bind onto themselves before
	// the paths of Hide are covered, so that the command cannot rename
	// or remove them: a hidden path whose name depends on theirs
	// (secrets/k under secrets/*) keeps its name for the next command.
	Pin []string
}

type RunReply struct {
	Started bool
	Exit    int
	Signal  int
	Err     string
	// Alone says no other process was left in the sandbox when the
	// command ended: the init is the last one and exits next.
	Alone bool
	// Running marks the announcement that the command started (see
	// RunRequest.Announce); the final reply follows when it ends.
	Running bool
	// NotAllowed says the command was not started because the sandbox's
	// policy refused it (the allowlist, a noexec folder).
	NotAllowed bool
	// SyscallKilled counts the processes of the run that the seccomp
	// filter killed.
	SyscallKilled int
	Trace         []Stamp // with Config.Trace
}

// Send writes m as one packet, with fds attached.
func Send(fd int, m Message, fds ...int) error {
	b := encode(m)
	if len(b) > maxMsg {
		return errors.New("control message too long")
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	return unix.Sendmsg(fd, b, oob, nil, 0)
}

// Recv reads one packet into m and returns the fds that came with it.
func Recv(fd int, m Message) ([]int, error) {
	return recvInto(fd, make([]byte, maxMsg), m)
}

// recvInto is Recv reading into buf: a packet longer is refused.
func recvInto(fd int, buf []byte, m Message) ([]int, error) {
	oob := make([]byte, unix.CmsgSpace(8*4))
	for {
		n, oobn, flags, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		var fds []int
		if oobn > 0 {
			msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err != nil {
				return nil, err
			}
			for _, m := range msgs {
				got, err := unix.ParseUnixRights(&m)
				if err == nil {
					fds = append(fds, got...)
				}
			}
		}
		if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
			CloseAll(fds)
			return nil, errors.New("control message truncated")
		}
		if n == 0 {
			CloseAll(fds)
			return nil, fmt.Errorf("control socket closed: %w", os.ErrClosed)
		}
		if err := decode(buf[:n], m); err != nil {
			CloseAll(fds)
			return nil, err
		}
		return fds, nil
	}
}

func CloseAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
