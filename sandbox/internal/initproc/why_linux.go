package initproc

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// why explains, in words a model or a person can act on, why a command
// could not be started: the sandbox's own refusals (the allowlist, the
// noexec workspace) would otherwise read as a bare "permission denied".
// refused says the sandbox's policy refused the program (counted as
// sandbox_denied), rather than the program being missing or broken.
type why struct {
	allowed       []string // real paths of the allowed programs
	workspaceExec bool
}

// AllowlistHint tells how an operator allows a program.
const AllowlistHint = "to allow it, add it to BULWARK_ALLOWED_COMMANDS, " +
	"to the tenant's allowed_commands setting, or to --allow-exec of bulwark sandbox exec"

func (w why) notStarted(name, path string, err error) (msg string, refused bool) {
	switch {
	case errors.Is(err, unix.ENOENT):
		return fmt.Sprintf("%s: command not found", name), false
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
	default:
		return fmt.Sprintf("%s: %v", name, err), false
	}
	real, rerr := realPath(path)
	if rerr != nil {
		real = path
	}
	switch {
	case InWorkspace(real) && !w.workspaceExec:
		return fmt.Sprintf("%s: %s", name, WorkspaceNoExec), true
	case InWorkspace(real):
		return fmt.Sprintf("%s: %v", name, err), false // executable mount: the file's own mode
	case real == "/tmp" || strings.HasPrefix(real, "/tmp/") || strings.HasPrefix(real, "/dev/shm/"):
		return fmt.Sprintf("%s: programs in /tmp cannot be run in the sandbox (it is mounted noexec)", name), true
	case !slices.Contains(w.allowed, real):
		return fmt.Sprintf("%s: not on the sandbox's command allowlist (%s)", name, AllowlistHint), true
	}
	return fmt.Sprintf("%s: %v", name, err), false
}
