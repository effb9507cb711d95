//go:build linux && amd64

package initproc

import (
	"encoding/binary"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

// runFilter interprets the classic BPF of a seccomp filter on one system
// call: the instructions seccompFilter emits, nothing more.
func runFilter(t *testing.T, prog []unix.SockFilter, arch uint32, nr uintptr, args ...uint64) uint32 {
	t.Helper()
	var data [64]byte
	binary.LittleEndian.PutUint32(data[sdNr:], uint32(nr))
	binary.LittleEndian.PutUint32(data[sdArch:], arch)
	for i, a := range args {
		binary.LittleEndian.PutUint64(data[16+8*i:], a)
	}
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[in.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			var ok bool
			switch in.Code & 0xf0 {
			case unix.BPF_JEQ:
				ok = acc == in.K
			case unix.BPF_JGE:
				ok = acc >= in.K
			case unix.BPF_JSET:
				ok = acc&in.K != 0
			}
			if ok {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			acc &= in.K
		case unix.BPF_RET | unix.BPF_K:
			return in.K
		default:
			t.Fatalf("instruction %d: code %#x not interpreted", pc, in.Code)
		}
	}
	t.Fatal("the filter ran off its end")
	return 0
}

func mustFilter(t *testing.T) []unix.SockFilter {
	t.Helper()
	prog, err := seccompFilter(false)
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// With W^X (wx.go), memory both writable and executable is refused, and
// an executable System V attachment; the rest of the filter is as before.
func TestSeccompFilterWX(t *testing.T) {
	prog, err := seccompFilter(true)
	if err != nil {
		t.Fatal(err)
	}
	const (
		w, x, r = unix.PROT_WRITE, unix.PROT_EXEC, unix.PROT_READ
		eacces  = unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)
	)
	const (
		private   = unix.MAP_PRIVATE
		anonymous = unix.MAP_ANONYMOUS
		shared    = unix.MAP_SHARED
	)
	wxTests := []struct {
		name string
		nr   uintptr
		args []uint64
		want uint32
	}{
		{"mmap RWX", unix.SYS_MMAP, []uint64{0, 4096, r | w | x, private | anonymous}, eacces},
		{"mmap WX", unix.SYS_MMAP, []uint64{0, 4096, w | x, private | anonymous}, eacces},
		{"mmap RWX high bits", unix.SYS_MMAP, []uint64{0, 4096, 1<<32 | r | w | x, private | anonymous}, eacces},
		{"mmap RW", unix.SYS_MMAP, []uint64{0, 4096, r | w, private | anonymous}, allow},
		{"mmap RW shared", unix.SYS_MMAP, []uint64{0, 4096, r | w, shared | anonymous}, allow},
		{"mmap RX", unix.SYS_MMAP, []uint64{0, 4096, r | x, private | anonymous}, allow},
		{"mmap RX of a file (a library)", unix.SYS_MMAP, []uint64{0, 4096, r | x, private | unix.MAP_FIXED | unix.MAP_DENYWRITE, 3, 0}, allow},
		{"mmap RX private, high bits of flags", unix.SYS_MMAP, []uint64{0, 4096, r | x, 1<<32 | private | anonymous}, allow},
		// Shared executable memory: another view of its pages can be
		// made writable (mremap with old_size 0, or a fork).
		{"mmap RX shared", unix.SYS_MMAP, []uint64{0, 4096, r | x, shared | anonymous}, eacces},
		{"mmap X shared", unix.SYS_MMAP, []uint64{0, 4096, x, shared | anonymous}, eacces},
		{"mmap RX shared file", unix.SYS_MMAP, []uint64{0, 4096, r | x, shared, 3, 0}, eacces},
		{"mmap RX MAP_SHARED_VALIDATE", unix.SYS_MMAP, []uint64{0, 4096, r | x, unix.MAP_SHARED_VALIDATE | anonymous}, eacces},
		{"mmap RX type 0", unix.SYS_MMAP, []uint64{0, 4096, r | x, anonymous}, eacces},
		{"mmap RX type 15", unix.SYS_MMAP, []uint64{0, 4096, r | x, 0xf}, eacces},
		{"mmap RX shared, high bits of prot", unix.SYS_MMAP, []uint64{0, 4096, 1<<32 | r | x, shared | anonymous}, eacces},
		{"mmap RX shared, private in the high bits", unix.SYS_MMAP, []uint64{0, 4096, r | x, 1<<32 | 1<<33 | shared | anonymous}, eacces},
		{"mprotect RWX", unix.SYS_MPROTECT, []uint64{0, 4096, r | w | x}, eacces},
		{"mprotect RX", unix.SYS_MPROTECT, []uint64{0, 4096, r | x}, allow},
		{"pkey_mprotect RWX", unix.SYS_PKEY_MPROTECT, []uint64{0, 4096, r | w | x, 0}, eacces},
		{"shmat SHM_EXEC", unix.SYS_SHMAT, []uint64{1, 0, shmExec | unix.SHM_RDONLY}, eacces},
		{"shmat", unix.SYS_SHMAT, []uint64{1, 0, 0}, allow},
	}
	tests := append(slices.Clone(wxTests), filterTests...)
	for _, tt := range tests {
		if got := runFilter(t, prog, AuditArch, tt.nr, tt.args...); got != tt.want {
			t.Errorf("filter with W^X(%s) = %#x, want %#x", tt.name, got, tt.want)
		}
	}
	// Without W^X, all of them pass.
	off := mustFilter(t)
	for _, tt := range wxTests {
		if got := runFilter(t, off, AuditArch, tt.nr, tt.args...); got != allow {
			t.Errorf("filter without W^X(%s) = %#x, want allow", tt.name, got)
		}
	}
}

const (
	allow       = unix.SECCOMP_RET_ALLOW
	eperm       = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	enosys      = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	eafnosuport = unix.SECCOMP_RET_ERRNO | uint32(unix.EAFNOSUPPORT)
)

var filterTests = []struct {
	name string
	nr   uintptr
	args []uint64
	want uint32
}{
	{"read", unix.SYS_READ, nil, allow},
	{"execve", unix.SYS_EXECVE, nil, allow},
	{"ptrace", unix.SYS_PTRACE, nil, eperm},
	{"keyctl", unix.SYS_KEYCTL, nil, eperm},
	{"mount", unix.SYS_MOUNT, nil, eperm},
	{"statmount", unix.SYS_STATMOUNT, nil, eperm},
	{"adjtimex", unix.SYS_ADJTIMEX, nil, eperm},
	{"get_mempolicy", unix.SYS_GET_MEMPOLICY, nil, eperm},
	{"x32 read", unix.SYS_READ | x32Bit, nil, eperm},
	{"clone3", unix.SYS_CLONE3, nil, enosys},
	{"memfd_create", unix.SYS_MEMFD_CREATE, nil, enosys},
	{"fallocate", unix.SYS_FALLOCATE, []uint64{3, 0, 0, 1 << 40}, unix.SECCOMP_RET_ERRNO | uint32(unix.EOPNOTSUPP)},
	{"clone thread", unix.SYS_CLONE, []uint64{unix.CLONE_VM | unix.CLONE_THREAD}, allow},
	{"clone CLONE_NEWUSER", unix.SYS_CLONE, []uint64{unix.CLONE_NEWUSER}, eperm},
	{"clone CLONE_NEWNET", unix.SYS_CLONE, []uint64{unix.CLONE_NEWNET | uint64(unix.SIGCHLD)}, eperm},
	{"ioctl TIOCSTI", unix.SYS_IOCTL, []uint64{0, unix.TIOCSTI}, eperm},
	{"ioctl TIOCSTI high bits", unix.SYS_IOCTL, []uint64{0, 1<<32 | unix.TIOCSTI}, eperm},
	{"ioctl TIOCLINUX", unix.SYS_IOCTL, []uint64{0, unix.TIOCLINUX}, eperm},
	{"ioctl TIOCSETD", unix.SYS_IOCTL, []uint64{0, unix.TIOCSETD}, eperm},
	{"ioctl TCGETS", unix.SYS_IOCTL, []uint64{0, unix.TCGETS}, allow},
	{"socket AF_UNIX", unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_STREAM}, allow},
	{"socket AF_INET", unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM}, allow},
	{"socket AF_INET6", unix.SYS_SOCKET, []uint64{unix.AF_INET6, unix.SOCK_DGRAM}, allow},
	{"socket NETLINK_ROUTE", unix.SYS_SOCKET, []uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_ROUTE}, allow},
	{"socket NETLINK_AUDIT", unix.SYS_SOCKET, []uint64{unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT}, eafnosuport},
	{"socket NETLINK_GENERIC", unix.SYS_SOCKET, []uint64{unix.AF_NETLINK, unix.SOCK_DGRAM, unix.NETLINK_GENERIC}, eafnosuport},
	{"socket NETLINK_ROUTE high bits", unix.SYS_SOCKET, []uint64{unix.AF_NETLINK, unix.SOCK_RAW, 1 << 32}, allow}, // the kernel reads an int
	{"socket AF_VSOCK", unix.SYS_SOCKET, []uint64{unix.AF_VSOCK, unix.SOCK_STREAM}, eafnosuport},
	{"socket AF_VSOCK high bits", unix.SYS_SOCKET, []uint64{1<<32 | unix.AF_VSOCK, unix.SOCK_STREAM}, eafnosuport},
	{"socket AF_PACKET", unix.SYS_SOCKET, []uint64{unix.AF_PACKET, unix.SOCK_RAW}, eafnosuport},
	{"socket AF_ALG", unix.SYS_SOCKET, []uint64{unix.AF_ALG, unix.SOCK_SEQPACKET}, eafnosuport},
	{"socketpair AF_UNIX", unix.SYS_SOCKETPAIR, []uint64{unix.AF_UNIX, unix.SOCK_STREAM}, allow},
	{"socketpair AF_TIPC", unix.SYS_SOCKETPAIR, []uint64{unix.AF_TIPC, unix.SOCK_STREAM}, eafnosuport},
	{"personality query", unix.SYS_PERSONALITY, []uint64{0xffffffff}, allow},
	{"personality PER_LINUX", unix.SYS_PERSONALITY, []uint64{0}, allow},
	{"personality ADDR_NO_RANDOMIZE", unix.SYS_PERSONALITY, []uint64{0x0040000}, eperm},
	{"personality READ_IMPLIES_EXEC", unix.SYS_PERSONALITY, []uint64{0x0400000}, eperm},
}

func TestSeccompFilter(t *testing.T) {
	prog := mustFilter(t)
	for _, tt := range filterTests {
		if got := runFilter(t, prog, AuditArch, tt.nr, tt.args...); got != tt.want {
			t.Errorf("filter(%s) = %#x, want %#x", tt.name, got, tt.want)
		}
	}
	if got := runFilter(t, prog, unix.AUDIT_ARCH_I386, unix.SYS_READ); got != unix.SECCOMP_RET_KILL_PROCESS {
		t.Errorf("filter(i386 read) = %#x, want kill", got)
	}
}

// Every socket family but the allowed ones is refused.
func TestSeccompSocketFamilies(t *testing.T) {
	prog := mustFilter(t)
	for family := uint64(0); family <= unix.AF_MAX+4; family++ {
		want := eafnosuport
		if slices.Contains(socketFamilies, uint32(family)) {
			want = allow
		}
		if family == unix.AF_NETLINK {
			continue // by protocol, in filterTests
		}
		for _, nr := range []uintptr{unix.SYS_SOCKET, unix.SYS_SOCKETPAIR} {
			if got := runFilter(t, prog, AuditArch, nr, family, unix.SOCK_STREAM); got != want {
				t.Errorf("filter(syscall %d, family %d) = %#x, want %#x", nr, family, got, want)
			}
		}
	}
}

// dockerDenied are the amd64 system calls that Docker's default seccomp
// profile (moby profiles/seccomp/default.json) refuses to a container
// without extra capabilities: not on its allowlist, or allowed only with a
// capability the sandbox never has.
var dockerDenied = map[string]uintptr{
	"_sysctl": unix.SYS__SYSCTL, "acct": unix.SYS_ACCT, "add_key": unix.SYS_ADD_KEY,
	"afs_syscall": unix.SYS_AFS_SYSCALL, "bpf": unix.SYS_BPF, "cachestat": unix.SYS_CACHESTAT,
	"chroot": unix.SYS_CHROOT, "clock_settime": unix.SYS_CLOCK_SETTIME, "clone": unix.SYS_CLONE,
	"clone3": unix.SYS_CLONE3, "create_module": unix.SYS_CREATE_MODULE,
	"delete_module": unix.SYS_DELETE_MODULE, "fanotify_init": unix.SYS_FANOTIFY_INIT,
	"fchmodat2": unix.SYS_FCHMODAT2, "file_getattr": unix.SYS_FILE_GETATTR,
	"file_setattr": unix.SYS_FILE_SETATTR, "finit_module": unix.SYS_FINIT_MODULE,
	"fsconfig": unix.SYS_FSCONFIG, "fsmount": unix.SYS_FSMOUNT, "fsopen": unix.SYS_FSOPEN,
	"fspick": unix.SYS_FSPICK, "futex_requeue": unix.SYS_FUTEX_REQUEUE,
	"futex_wait": unix.SYS_FUTEX_WAIT, "futex_wake": unix.SYS_FUTEX_WAKE,
	"get_kernel_syms": unix.SYS_GET_KERNEL_SYMS, "get_mempolicy": unix.SYS_GET_MEMPOLICY,
	"getpmsg": unix.SYS_GETPMSG, "getxattrat": unix.SYS_GETXATTRAT,
	"init_module": unix.SYS_INIT_MODULE, "ioperm": unix.SYS_IOPERM, "iopl": unix.SYS_IOPL,
	"kcmp": unix.SYS_KCMP, "kexec_file_load": unix.SYS_KEXEC_FILE_LOAD,
	"kexec_load": unix.SYS_KEXEC_LOAD, "keyctl": unix.SYS_KEYCTL, "listmount": unix.SYS_LISTMOUNT,
	"listns": unix.SYS_LISTNS, "listxattrat": unix.SYS_LISTXATTRAT,
	"lookup_dcookie": unix.SYS_LOOKUP_DCOOKIE, "lsm_get_self_attr": unix.SYS_LSM_GET_SELF_ATTR,
	"lsm_list_modules": unix.SYS_LSM_LIST_MODULES, "lsm_set_self_attr": unix.SYS_LSM_SET_SELF_ATTR,
	"map_shadow_stack": unix.SYS_MAP_SHADOW_STACK, "mbind": unix.SYS_MBIND,
	"migrate_pages": unix.SYS_MIGRATE_PAGES, "mount": unix.SYS_MOUNT,
	"mount_setattr": unix.SYS_MOUNT_SETATTR, "move_mount": unix.SYS_MOVE_MOUNT,
	"move_pages": unix.SYS_MOVE_PAGES, "mseal": unix.SYS_MSEAL, "nfsservctl": unix.SYS_NFSSERVCTL,
	"open_by_handle_at": unix.SYS_OPEN_BY_HANDLE_AT, "open_tree": unix.SYS_OPEN_TREE,
	"open_tree_attr": unix.SYS_OPEN_TREE_ATTR, "perf_event_open": unix.SYS_PERF_EVENT_OPEN,
	"personality": unix.SYS_PERSONALITY, "pidfd_getfd": unix.SYS_PIDFD_GETFD,
	"pivot_root": unix.SYS_PIVOT_ROOT, "process_madvise": unix.SYS_PROCESS_MADVISE,
	"putpmsg": unix.SYS_PUTPMSG, "query_module": unix.SYS_QUERY_MODULE,
	"quotactl": unix.SYS_QUOTACTL, "quotactl_fd": unix.SYS_QUOTACTL_FD, "reboot": unix.SYS_REBOOT,
	"removexattrat": unix.SYS_REMOVEXATTRAT, "request_key": unix.SYS_REQUEST_KEY,
	"rseq_slice_yield": unix.SYS_RSEQ_SLICE_YIELD, "security": unix.SYS_SECURITY,
	"set_mempolicy": unix.SYS_SET_MEMPOLICY, "set_mempolicy_home_node": unix.SYS_SET_MEMPOLICY_HOME_NODE,
	"setdomainname": unix.SYS_SETDOMAINNAME, "sethostname": unix.SYS_SETHOSTNAME,
	"setns": unix.SYS_SETNS, "settimeofday": unix.SYS_SETTIMEOFDAY, "setxattrat": unix.SYS_SETXATTRAT,
	"socket": unix.SYS_SOCKET, "statmount": unix.SYS_STATMOUNT, "swapoff": unix.SYS_SWAPOFF,
	"swapon": unix.SYS_SWAPON, "sysfs": unix.SYS_SYSFS, "syslog": unix.SYS_SYSLOG,
	"tuxcall": unix.SYS_TUXCALL, "umount2": unix.SYS_UMOUNT2, "unshare": unix.SYS_UNSHARE,
	"uprobe": unix.SYS_UPROBE, "uretprobe": unix.SYS_URETPROBE, "uselib": unix.SYS_USELIB,
	"userfaultfd": unix.SYS_USERFAULTFD, "ustat": unix.SYS_USTAT, "vhangup": unix.SYS_VHANGUP,
	"vserver": unix.SYS_VSERVER,
}

// Each of Docker's denials is denied here too, or named, with its reason,
// among those covered otherwise; and the filter really refuses each one in
// deniedSyscalls.
func TestDockerDenialsCovered(t *testing.T) {
	prog := mustFilter(t)
	for name, nr := range dockerDenied {
		_, why := dockerDenialsCoveredOtherwise[name]
		if !slices.Contains(deniedSyscalls, nr) && !why {
			t.Errorf("Docker denies %s (%d): neither in deniedSyscalls nor in dockerDenialsCoveredOtherwise", name, nr)
		}
	}
	for name := range dockerDenialsCoveredOtherwise {
		if _, ok := dockerDenied[name]; !ok {
			t.Errorf("dockerDenialsCoveredOtherwise names %s, which Docker does not deny", name)
		}
	}
	for _, nr := range deniedSyscalls {
		if got := runFilter(t, prog, AuditArch, nr); got != eperm {
			t.Errorf("filter(syscall %d) = %#x, want EPERM", nr, got)
		}
	}
}
