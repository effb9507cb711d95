package initproc

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Landlock is used through its three system calls rather than a library:
// the ruleset must be applied to one thread only (the init's main thread,
// which forks the command), and the rules grant EXECUTE on single files.

// landlockAttr is struct landlock_ruleset_attr as of ABI 6 (scoped).
type landlockAttr struct {
	handledFS  uint64
	handledNet uint64
	scoped     uint64
}

// Access rights by the ABI that introduced them.
const (
	llFSv1 = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR |
		unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR |
		unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_MAKE_SOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_SYM
	llRefer    = unix.LANDLOCK_ACCESS_FS_REFER    // ABI 2
	llTruncate = unix.LANDLOCK_ACCESS_FS_TRUNCATE // ABI 3
	llIoctlDev = unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	llScopes   = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL // ABI 6

	llRead  = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR
	llWrite = unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR |
		unix.LANDLOCK_ACCESS_FS_REMOVE_FILE | unix.LANDLOCK_ACCESS_FS_MAKE_DIR |
		unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_MAKE_SOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_SYM |
		llRefer | llTruncate
)

// MinLandlockABI is the oldest ABI the sandbox accepts: 3 is the first that
// controls truncation, so a read-only file can not be emptied.
const MinLandlockABI = 3

// LandlockABI returns the Landlock ABI version of the running kernel, or 0
// when Landlock is not available.
func LandlockABI() int {
	v, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if errno != 0 {
		return 0
	}
	return int(v)
}

// landlockRuleset builds the ruleset of a sandbox: everything readable,
// nothing executable but the allowed files (and the workspace when
// workspaceExec is on), /workspace, /tmp and /dev/shm writable, /dev's
// devices usable. It returns the ruleset fd and the ABI.
func landlockRuleset(allowExec []string, workspaceExec bool) (int, int, error) {
	abi := LandlockABI()
	if abi < MinLandlockABI {
		return -1, abi, fmt.Errorf("init: Landlock ABI %d, need %d or later", abi, MinLandlockABI)
	}
	attr := landlockAttr{handledFS: llFSv1 | llRefer | llTruncate}
	size := unsafe.Sizeof(uint64(0)) * 2
	if abi >= 5 {
		attr.handledFS |= llIoctlDev
	}
	if abi >= 6 {
		attr.scoped = llScopes
		size = unsafe.Sizeof(attr)
	}
	handled := attr.handledFS
	fd, _, errno := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if errno != 0 {
		return -1, abi, fmt.Errorf("init: landlock ruleset: %w", errno)
	}
	rs := int(fd)
	wsAccess := uint64(llRead | llWrite)
	if workspaceExec {
		wsAccess |= unix.LANDLOCK_ACCESS_FS_EXECUTE
	}
	rules := []struct {
		path   string
		access uint64
	}{
		{"/", llRead},
		{"/dev", llRead | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | llIoctlDev},
		{WorkspaceDir, wsAccess},
		{"/tmp", llRead | llWrite},
		{"/dev/shm", llRead | llWrite},
	}
	for _, r := range rules {
		if err := landlockAllow(rs, r.path, r.access&handled); err != nil {
			unix.Close(rs)
			return -1, abi, err
		}
	}
	// The dynamic loader is opened for execution by the kernel itself when
	// it starts any dynamically linked program; shared libraries are mapped,
	// which needs only read.
	for _, p := range append(Loaders(), allowExec...) {
		if err := landlockAllow(rs, p, unix.LANDLOCK_ACCESS_FS_EXECUTE|unix.LANDLOCK_ACCESS_FS_READ_FILE); err != nil {
			unix.Close(rs)
			return -1, abi, err
		}
	}
	return rs, abi, nil
}

// Loaders are the ELF interpreters that dynamically linked programs name.
func Loaders() []string {
	var out []string
	for _, p := range []string{"/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "/lib/ld-linux-armhf.so.3", "/lib/ld-musl-x86_64.so.1", "/lib/ld-musl-aarch64.so.1"} {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			out = append(out, p)
		}
	}
	return out
}

func landlockAllow(rs int, path string, access uint64) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("init: landlock rule for %s: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		// Only file rights may be granted on a file.
		access &= unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
			unix.LANDLOCK_ACCESS_FS_READ_FILE | llTruncate | llIoctlDev
	}
	// struct landlock_path_beneath_attr is packed: 12 bytes.
	var buf [12]byte
	*(*uint64)(unsafe.Pointer(&buf[0])) = access
	*(*int32)(unsafe.Pointer(&buf[8])) = int32(fd)
	_, _, errno := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(rs), unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&buf[0])), 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("init: landlock rule for %s: %w", path, errno)
	}
	return nil
}
