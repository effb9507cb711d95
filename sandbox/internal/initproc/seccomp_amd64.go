//go:build linux && amd64

package initproc

import "golang.org/x/sys/unix"

const (
	AuditArch        = unix.AUDIT_ARCH_X86_64
	cloneFlagsOffset = sdArg0Low // clone(flags, stack, ...)
)

// deniedSyscalls fail with EPERM in the sandbox: Docker's default denials
// plus the kernel attack surface that sandboxed code has no use for.
// Mounting calls are denied to the command only: the filter is loaded after
// the init has built the sandbox's file system.
var deniedSyscalls = []uintptr{
	// debugging and reading other processes
	unix.SYS_PTRACE, unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV,
	unix.SYS_KCMP, unix.SYS_PIDFD_GETFD, unix.SYS_PROCESS_MADVISE,
	// kernel keyrings
	unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
	// large kernel attack surface
	unix.SYS_BPF, unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD,
	unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
	unix.SYS_FANOTIFY_INIT, unix.SYS_LOOKUP_DCOOKIE, unix.SYS_LSM_SET_SELF_ATTR,
	// mounts and namespaces, and what they would tell about the host
	unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT, unix.SYS_CHROOT,
	unix.SYS_UNSHARE, unix.SYS_SETNS, unix.SYS_FSOPEN, unix.SYS_FSCONFIG,
	unix.SYS_FSMOUNT, unix.SYS_FSPICK, unix.SYS_OPEN_TREE, unix.SYS_OPEN_TREE_ATTR,
	unix.SYS_MOVE_MOUNT, unix.SYS_MOUNT_SETATTR, unix.SYS_QUOTACTL, unix.SYS_QUOTACTL_FD,
	unix.SYS_LISTMOUNT, unix.SYS_STATMOUNT, unix.SYS_LISTNS,
	unix.SYS_SETHOSTNAME, unix.SYS_SETDOMAINNAME,
	// file handles bypass path checks
	unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT,
	// the machine itself
	unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD, unix.SYS_INIT_MODULE,
	unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE, unix.SYS_REBOOT,
	unix.SYS_SWAPON, unix.SYS_SWAPOFF, unix.SYS_ACCT, unix.SYS_CLOCK_SETTIME,
	unix.SYS_CLOCK_ADJTIME, unix.SYS_ADJTIMEX, unix.SYS_SETTIMEOFDAY, unix.SYS_SYSLOG,
	unix.SYS_IOPL, unix.SYS_IOPERM, unix.SYS_VHANGUP, unix.SYS_USELIB,
	unix.SYS_USTAT, unix.SYS_SYSFS, unix.SYS_NFSSERVCTL,
	unix.SYS_MBIND, unix.SYS_SET_MEMPOLICY, unix.SYS_GET_MEMPOLICY,
	unix.SYS_SET_MEMPOLICY_HOME_NODE, unix.SYS_MIGRATE_PAGES, unix.SYS_MOVE_PAGES,
	// removed or never implemented on amd64 (ENOSYS without the filter)
	unix.SYS__SYSCTL, unix.SYS_CREATE_MODULE, unix.SYS_GET_KERNEL_SYMS,
	unix.SYS_QUERY_MODULE, unix.SYS_AFS_SYSCALL, unix.SYS_GETPMSG, unix.SYS_PUTPMSG,
	unix.SYS_SECURITY, unix.SYS_TUXCALL, unix.SYS_VSERVER,
}

// modeArgs are the system calls that set a file's mode, and the argument
// that holds it (see setidBits).
var modeArgs = []struct {
	nr  uintptr
	arg int
}{
	{unix.SYS_CHMOD, 1}, {unix.SYS_FCHMOD, 1}, {unix.SYS_FCHMODAT, 2}, {unix.SYS_FCHMODAT2, 2},
	{unix.SYS_OPEN, 2}, {unix.SYS_OPENAT, 3}, {unix.SYS_CREAT, 1},
	{unix.SYS_MKNOD, 1}, {unix.SYS_MKNODAT, 2},
}

// dockerDenialsCoveredOtherwise are the system calls Docker's default
// profile refuses (to a container without extra capabilities) that
// deniedSyscalls does not list, and why the sandbox is no weaker for it.
var dockerDenialsCoveredOtherwise = map[string]string{
	"clone":       "allowed without namespace flags, EPERM with any (filter, by argument), as Docker",
	"clone3":      "ENOSYS (filter), as Docker: its flags sit in memory the filter cannot read",
	"personality": "allowed only with Docker's arguments (filter, by argument)",
	"socket":      "allowed only for AF_UNIX, AF_INET, AF_INET6 and NETLINK_ROUTE (filter, by argument); Docker refuses AF_VSOCK only",
	// Newer than the Docker profile the list was checked against, and
	// allowed by Docker's later profiles: ordinary calls on the caller's
	// own memory, futexes and files, under the same DAC and Landlock
	// checks as their older forms.
	"cachestat":         "newer than the profile; reads page-cache state of a file the caller opened",
	"fchmodat2":         "newer than the profile; chmod, under Landlock like fchmodat, and refused with the setuid or setgid bit as it is (filter, by argument)",
	"futex_requeue":     "newer than the profile; futexes, as futex",
	"futex_wait":        "newer than the profile; futexes, as futex",
	"futex_wake":        "newer than the profile; futexes, as futex",
	"map_shadow_stack":  "newer than the profile; the caller's own shadow stack",
	"mseal":             "newer than the profile; seals the caller's own mappings",
	"getxattrat":        "newer than the profile; getxattr, under Landlock",
	"setxattrat":        "newer than the profile; setxattr, under Landlock",
	"listxattrat":       "newer than the profile; listxattr, under Landlock",
	"removexattrat":     "newer than the profile; removexattr, under Landlock",
	"file_getattr":      "newer than the profile; file attributes, under Landlock",
	"file_setattr":      "newer than the profile; file attributes, under Landlock",
	"lsm_get_self_attr": "newer than the profile; reads the caller's own LSM labels",
	"lsm_list_modules":  "newer than the profile; lists the active LSMs",
	"rseq_slice_yield":  "newer than the profile; restartable sequences, as rseq",
	"uprobe":            "works only from a kernel uprobe trampoline, which the sandbox cannot set up",
	"uretprobe":         "works only from a kernel uprobe trampoline, which the sandbox cannot set up",
}
