package initproc

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Rootless says how an init started by a host that is not root differs.
//
// A host that is root makes the workspace mount itself, id-mapped so the
// folder's owner appears as the command's uid. Id-mapped mounts need
// CAP_SYS_ADMIN over the file system's user namespace (the host's), so a
// host that is not root cannot make one; instead the host maps its own uid
// to the command's uid (SandboxUID) in the sandbox's user namespace, and
// the init binds the folder itself, in its own mount namespace, where it
// has that right. What the command writes lands on disk as the host's user.
type Rootless struct {
	// WorkspacePath is the folder to bind at /workspace. The host passed
	// an O_PATH fd of the same folder as the workspace fd: the init
	// resolves the path in its own mount namespace and checks it reached
	// that very folder (device and inode), so a path swapped in between
	// is refused.
	WorkspacePath string
	// BecomeRoot asks the init to take uid and gid 0 of its namespace
	// (a subordinate id of the host's user, mapped by newuidmap), so that
	// it runs as another uid than the command, and to drop the
	// supplementary groups it inherited from the host.
	BecomeRoot bool
}

// rootlessSetup binds the workspace (replacing fds[0] by the detached
// mount) and takes uid 0 when asked. It runs before anything else of the
// set-up, after the init has joined its cgroups (a v1 cgroup accepts a
// thread whose uid is the opener's, the host's user).
func rootlessSetup(r *Rootless, fds []int, exec bool) error {
	if r == nil {
		return nil
	}
	tree, err := bindWorkspace(r.WorkspacePath, fds[0], exec)
	if err != nil {
		return err
	}
	unix.Close(fds[0])
	fds[0] = tree
	if r.BecomeRoot {
		// The whole process: every thread, then the command forked
		// from this one (syscall's set*id functions apply to all threads).
		if err := syscall.Setgroups(nil); err != nil {
			return fmt.Errorf("init: drop supplementary groups: %w", err)
		}
		if err := syscall.Setresgid(0, 0, 0); err != nil {
			return fmt.Errorf("init: gid 0: %w", err)
		}
		if err := syscall.Setresuid(0, 0, 0); err != nil {
			return fmt.Errorf("init: uid 0: %w", err)
		}
		// A change of uid clears the parent-death signal: set it again.
		unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0)
	}
	return nil
}

// bindWorkspace clones the folder at path into a detached mount, nosuid,
// nodev and noexec unless exec, after checking it is the folder of want.
func bindWorkspace(path string, want int, exec bool) (int, error) {
	var w, got unix.Stat_t
	if err := unix.Fstat(want, &w); err != nil {
		return -1, fmt.Errorf("init: workspace: %w", err)
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_SYMLINK_NOFOLLOW)
	if err != nil {
		return -1, fmt.Errorf("init: bind workspace %s: %w", path, err)
	}
	if err := unix.Fstat(fd, &got); err != nil || got.Dev != w.Dev || got.Ino != w.Ino || got.Mode&unix.S_IFMT != unix.S_IFDIR {
		unix.Close(fd)
		return -1, fmt.Errorf("init: workspace %s changed while the sandbox started", path)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV | unix.MOUNT_ATTR_NOEXEC}
	if exec {
		attr.Attr_set &^= unix.MOUNT_ATTR_NOEXEC
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("init: restrict workspace: %w", err)
	}
	return fd, nil
}
