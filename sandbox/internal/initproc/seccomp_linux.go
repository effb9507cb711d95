package initproc

import (
	"fmt"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp filter is a denylist written as classic BPF here rather than
// with a library, because it needs argument checks with a bit mask
// (namespace flags of clone), checks on the low 32 bits of ioctl's request
// (TIOCSTI, TIOCLINUX, TIOCSETD), of socket's family, of personality's argument and
// of the mode of the calls that set one (no setuid or setgid bit), a
// distinct errno for clone3 and memfd_create (ENOSYS, so libc falls back to
// clone, whose flags the filter can see, and callers of memfd_create to a
// file), and it is loaded on one thread only.
//
// Docker's default profile is an allowlist; this filter denies at least
// what it denies (deniedSyscalls), handles clone, clone3, socket and
// personality by their arguments as it does, and names in
// dockerDenialsCoveredOtherwise the few of its denials left to the kernel,
// with the reason. TestDockerDenialsCovered holds the two lists to Docker's.
// Long denylists cost little: the kernel caches, per system call, a filter
// result that does not depend on the arguments (SECCOMP_CACHE, Linux 5.11).

// Offsets in struct seccomp_data (little endian).
const (
	sdNr      = 0
	sdArch    = 4
	sdArg0Low = 16
	sdArg1Low = 24
	sdArg2Low = 32
	sdArg3Low = 40
)

// x32 system calls have this bit set; the sandbox refuses them all.
const x32Bit = 0x40000000

// namespaceFlags are the clone flags that create namespaces.
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWTIME

// socketFamilies are the only address families socket and socketpair
// accept: local sockets, and IPv4/IPv6 (the sandbox's network namespace
// holds only loopback, through which the proxy is reached). The rest
// (AF_VSOCK, which no network namespace confines, AF_PACKET, AF_KEY,
// AF_ALG, AF_BLUETOOTH, AF_XDP, AF_TIPC, ...) fail with EAFNOSUPPORT, as
// on a kernel without them: a large attack surface no sandboxed program
// needs.
var socketFamilies = []uint32{unix.AF_UNIX, unix.AF_INET, unix.AF_INET6}

// AF_NETLINK is accepted with NETLINK_ROUTE only: getifaddrs (node's
// os.networkInterfaces, python's socket.if_nameindex) and glibc's
// getaddrinfo read the interface list through it. The command holds no
// capability, so the kernel refuses any change: it can only dump the
// sandbox's own loopback. Every other netlink protocol (audit, uevents,
// generic netlink, netfilter, sock_diag, xfrm, ...) fails.
const netlinkRoute = unix.NETLINK_ROUTE

// setidBits are S_ISUID and S_ISGID. No file of the sandbox gets them:
// the workspace is an id-mapped mount of a host folder, so what the command
// owns there is, on the host's disk, the folder owner's (root's, where
// Bulwark runs as root), and the mount's nosuid holds only inside the
// sandbox. A setuid copy of python3 left in the workspace would make any
// host user who can reach it root, or the Bulwark user. The calls of
// modeArgs that set a mode with either bit fail with EPERM (directories
// included: a setgid folder is rare, and the filter cannot tell one from a
// file); openat2, whose mode the filter cannot read, fails with ENOSYS, as
// on a kernel without it, and callers fall back to openat.
const setidBits = unix.S_ISUID | unix.S_ISGID

// personalities are the personality(2) arguments allowed, Docker's:
// Linux, the 32-bit Linux domain, UNAME26, both, and the query 0xffffffff.
// The rest (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ...) would weaken the
// address space of the programs that follow.
var personalities = []uint32{0, perLinux32, uname26, perLinux32 | uname26, 0xffffffff}

const (
	perLinux32 = 0x0008  // PER_LINUX32
	uname26    = 0x20000 // UNAME26
)

// shmExec is SHM_EXEC, shmat's flag for an executable attachment.
const shmExec = 0o100000

// mapType is MAP_TYPE, the bits of mmap's flags that say how the mapping
// is shared (MAP_SHARED 1, MAP_PRIVATE 2, MAP_SHARED_VALIDATE 3).
const mapType = 0x0f

// seccompFilter builds the sandbox's filter for the running architecture.
// With denyWX it refuses, with EACCES as the kernel's own W^X does, mmap,
// mprotect and pkey_mprotect asking for memory both writable and
// executable, mmap asking for executable memory that is not private, and
// shmat with SHM_EXEC (see wx.go).
func seccompFilter(denyWX bool) ([]unix.SockFilter, error) {
	if AuditArch == 0 {
		return nil, fmt.Errorf("init: seccomp: architecture not supported")
	}
	prog := make([]unix.SockFilter, 0, 256)
	stmt := func(code uint16, k uint32) { prog = append(prog, unix.SockFilter{Code: code, K: k}) }
	// Jumps are patched once the labels' positions are known.
	type jump struct {
		at    int
		label string
	}
	var jumps []jump
	jumpTo := func(code uint16, k uint32, label string) {
		jumps = append(jumps, jump{len(prog), label})
		stmt(code, k)
	}
	labels := map[string]int{}

	const (
		ld   = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq  = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		and  = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
		jge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
	)
	eperm := unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	// denyIf returns errno when the loaded value is k: a compare and a
	// return next to it, so no jump is long however long the list grows.
	denyIf := func(k, action uint32) {
		prog = append(prog, unix.SockFilter{Code: jeq, K: k, Jt: 0, Jf: 1})
		stmt(ret, action)
	}
	stmt(ld, sdArch)
	jumpTo(jeq, AuditArch, "nr")
	stmt(ret, unix.SECCOMP_RET_KILL_PROCESS)
	labels["nr"] = len(prog)
	stmt(ld, sdNr)
	if AuditArch == unix.AUDIT_ARCH_X86_64 {
		jumpTo(jge, x32Bit, "eperm")
	}
	for _, nr := range deniedSyscalls {
		denyIf(uint32(nr), eperm)
	}
	denyIf(uint32(unix.SYS_CLONE3), unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
	// A memfd is a file on an internal mount that is neither noexec nor
	// under Landlock's rules: fexecve of one, or "ld.so /proc/self/fd/N",
	// would run any program's bytes. ENOSYS, as on a kernel without
	// memfd_create, sends the callers that have one to their fallback.
	denyIf(uint32(unix.SYS_MEMFD_CREATE), unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
	// openat2 takes its mode in a struct the filter cannot read (see
	// modeArgs); ENOSYS sends its callers to openat.
	denyIf(uint32(unix.SYS_OPENAT2), unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
	// fallocate reserves any number of blocks in one call: between two
	// looks of the host's workspace guard (25 ms) a red team put 37 GB
	// in a workspace limited to 1 GiB. EOPNOTSUPP, as a file system
	// without it answers, sends posix_fallocate to writing the blocks
	// one by one, at a pace the guard keeps up with.
	denyIf(uint32(unix.SYS_FALLOCATE), unix.SECCOMP_RET_ERRNO|uint32(unix.EOPNOTSUPP))
	for _, m := range modeArgs {
		jumpTo(jeq, uint32(m.nr), "mode"+strconv.Itoa(m.arg))
	}
	jumpTo(jeq, uint32(unix.SYS_CLONE), "clone")
	jumpTo(jeq, uint32(unix.SYS_IOCTL), "ioctl")
	jumpTo(jeq, uint32(unix.SYS_SOCKET), "socket")
	jumpTo(jeq, uint32(unix.SYS_SOCKETPAIR), "socket")
	jumpTo(jeq, uint32(unix.SYS_PERSONALITY), "personality")
	if denyWX {
		jumpTo(jeq, uint32(unix.SYS_MMAP), "wxmmap")
		for _, nr := range []uintptr{unix.SYS_MPROTECT, unix.SYS_PKEY_MPROTECT} {
			jumpTo(jeq, uint32(nr), "wx")
		}
		jumpTo(jeq, uint32(unix.SYS_SHMAT), "shmexec")
	}
	stmt(ret, unix.SECCOMP_RET_ALLOW)

	if denyWX {
		// mmap(addr, len, prot, ...), mprotect(addr, len, prot),
		// pkey_mprotect(addr, len, prot, pkey): prot is the third.
		labels["wx"] = len(prog)
		stmt(ld, sdArg2Low)
		stmt(and, unix.PROT_WRITE|unix.PROT_EXEC)
		jumpTo(jeq, unix.PROT_WRITE|unix.PROT_EXEC, "eacces")
		stmt(ret, unix.SECCOMP_RET_ALLOW)
		// mmap(addr, len, prot, flags, fd, off): executable memory only
		// in a private mapping. A shared one has other views of its
		// pages that the kernel's W^X does not look at: mapped read and
		// executable, then mremap(old_size 0) or a fork gives a second
		// mapping of the same pages, which mprotect makes writable
		// (dropping execute is never refused), and what is written
		// there runs here (wx.go). flags' mapping type is its low four
		// bits (MAP_TYPE): MAP_SHARED, MAP_SHARED_VALIDATE and any
		// other than MAP_PRIVATE are refused.
		labels["wxmmap"] = len(prog)
		stmt(ld, sdArg2Low)
		jumpTo(jset, unix.PROT_EXEC, "wxmmapexec")
		stmt(ret, unix.SECCOMP_RET_ALLOW)
		labels["wxmmapexec"] = len(prog)
		jumpTo(jset, unix.PROT_WRITE, "eacces")
		stmt(ld, sdArg3Low)
		stmt(and, mapType)
		jumpTo(jeq, unix.MAP_PRIVATE, "allow")
		stmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.EACCES))
		// shmat(shmid, shmaddr, shmflg).
		labels["shmexec"] = len(prog)
		stmt(ld, sdArg2Low)
		jumpTo(jset, shmExec, "eacces")
		stmt(ret, unix.SECCOMP_RET_ALLOW)
		labels["eacces"] = len(prog)
		stmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.EACCES))
	}

	labels["clone"] = len(prog)
	stmt(ld, cloneFlagsOffset)
	jumpTo(jset, namespaceFlags, "eperm")
	stmt(ret, unix.SECCOMP_RET_ALLOW)

	labels["ioctl"] = len(prog)
	stmt(ld, sdArg1Low)
	jumpTo(jeq, unix.TIOCSTI, "eperm")
	jumpTo(jeq, unix.TIOCLINUX, "eperm")
	jumpTo(jeq, unix.TIOCSETD, "eperm")
	stmt(ret, unix.SECCOMP_RET_ALLOW)

	// socket(family, type, protocol) and socketpair(family, ...): the
	// kernel reads family and protocol as int, the low 32 bits.
	labels["socket"] = len(prog)
	stmt(ld, sdArg0Low)
	for _, f := range socketFamilies {
		jumpTo(jeq, f, "allow")
	}
	jumpTo(jeq, unix.AF_NETLINK, "netlink")
	stmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.EAFNOSUPPORT))
	labels["netlink"] = len(prog)
	stmt(ld, sdArg2Low)
	jumpTo(jeq, netlinkRoute, "allow")
	stmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.EAFNOSUPPORT))

	// The calls that set a file's mode: EPERM when it has the setuid or
	// setgid bit.
	for _, off := range []uint32{sdArg1Low, sdArg2Low, sdArg3Low} {
		labels["mode"+strconv.Itoa(int(off-sdArg0Low)/8)] = len(prog)
		stmt(ld, off)
		jumpTo(jset, setidBits, "eperm")
		stmt(ret, unix.SECCOMP_RET_ALLOW)
	}

	// personality(unsigned int persona).
	labels["personality"] = len(prog)
	stmt(ld, sdArg0Low)
	for _, p := range personalities {
		jumpTo(jeq, p, "allow")
	}
	stmt(ret, eperm)

	labels["allow"] = len(prog)
	stmt(ret, unix.SECCOMP_RET_ALLOW)
	labels["eperm"] = len(prog)
	stmt(ret, eperm)

	for _, j := range jumps {
		to, ok := labels[j.label]
		if !ok {
			return nil, fmt.Errorf("seccomp: no label %s", j.label)
		}
		off := to - j.at - 1
		if off < 0 || off > 255 {
			return nil, fmt.Errorf("seccomp: jump to %s out of range", j.label)
		}
		prog[j.at].Jt = uint8(off)
	}
	return prog, nil
}

// loadSeccomp installs filter on the calling thread only; no_new_privs
// must already be set.
func loadSeccomp(filter []unix.SockFilter) error {
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	return unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0)
}

// SeccompAvailable reports whether the kernel has seccomp filters.
func SeccompAvailable() bool {
	// PR_GET_SECCOMP fails with EINVAL when the kernel has no seccomp.
	r, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	_ = r
	return err == nil
}
