package sandbox

import (
	"errors"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// The host's side of the protocol with the init (package initproc).
type (
	initConfig = initproc.Config
	initReply  = initproc.Reply
	runRequest = initproc.RunRequest
	runReply   = initproc.RunReply
)

const (
	initArg        = initproc.InitArg
	usernsArg      = initproc.UsernsArg
	minLandlockABI = initproc.MinLandlockABI
	auditArch      = initproc.AuditArch
	sandboxUID     = initproc.SandboxUID
)

var (
	send         = initproc.Send
	closeAll     = initproc.CloseAll
	loaders      = initproc.Loaders
	inSystemDirs = initproc.InSystemDirs
)

// LandlockABI returns the Landlock ABI version of the running kernel, or 0
// when Landlock is not available.
func LandlockABI() int { return initproc.LandlockABI() }

// SeccompAvailable reports whether the kernel has seccomp filters.
func SeccompAvailable() bool { return initproc.SeccompAvailable() }

// recvReply reads an init's reply into v. A reply carries no descriptors:
// any sent with it are closed (a reply is read, never trusted), or each
// would stay open in the host.
//
// An init that ends with a message of the host's unread (a command sent
// ahead of its Ready, when it refuses its configuration) makes the kernel
// report a reset to the host's next read, before the reply still queued
// and only once: the read is tried again.
func recvReply(fd int, v initproc.Message) error {
	fds, err := initproc.Recv(fd, v)
	if errors.Is(err, unix.ECONNRESET) {
		fds, err = initproc.Recv(fd, v)
	}
	closeAll(fds)
	return err
}
