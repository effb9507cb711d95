package initproc

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The seccomp filter is a small denylist written as classic BPF here rather
// than with a library, because it needs argument checks with a bit mask
// (namespace flags of clone), checks on the low 32 bits of ioctl's request
// (TIOCSTI, TIOCLINUX), a distinct errno for clone3 and memfd_create
// (ENOSYS, so libc falls back to clone, whose flags the filter can see, and
// callers of memfd_create to a file), and it is loaded on one thread only.

// Offsets in struct seccomp_data (little endian).
const (
	sdNr      = 0
	sdArch    = 4
	sdArg0Low = 16
	sdArg1Low = 24
)

// x32 system calls have this bit set; the sandbox refuses them all.
const x32Bit = 0x40000000

// namespaceFlags are the clone flags that create namespaces.
const namespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWTIME

// seccompFilter builds the sandbox's filter for the running architecture.
func seccompFilter() ([]unix.SockFilter, error) {
	if AuditArch == 0 {
		return nil, fmt.Errorf("init: seccomp: architecture not supported")
	}
	var prog []unix.SockFilter
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
		jge  = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret  = unix.BPF_RET | unix.BPF_K
	)
	stmt(ld, sdArch)
	jumpTo(jeq, AuditArch, "nr")
	stmt(ret, unix.SECCOMP_RET_KILL_PROCESS)
	labels["nr"] = len(prog)
	stmt(ld, sdNr)
	if AuditArch == unix.AUDIT_ARCH_X86_64 {
		jumpTo(jge, x32Bit, "eperm")
	}
	for _, nr := range deniedSyscalls {
		jumpTo(jeq, uint32(nr), "eperm")
	}
	jumpTo(jeq, uint32(unix.SYS_CLONE3), "enosys")
	// A memfd is a file on an internal mount that is neither noexec nor
	// under Landlock's rules: fexecve of one, or "ld.so /proc/self/fd/N",
	// would run any program's bytes. ENOSYS, as on a kernel without
	// memfd_create, sends the callers that have one to their fallback.
	jumpTo(jeq, uint32(unix.SYS_MEMFD_CREATE), "enosys")
	jumpTo(jeq, uint32(unix.SYS_CLONE), "clone")
	jumpTo(jeq, uint32(unix.SYS_IOCTL), "ioctl")
	stmt(ret, unix.SECCOMP_RET_ALLOW)

	labels["clone"] = len(prog)
	stmt(ld, cloneFlagsOffset)
	jumpTo(jset, namespaceFlags, "eperm")
	stmt(ret, unix.SECCOMP_RET_ALLOW)

	labels["ioctl"] = len(prog)
	stmt(ld, sdArg1Low)
	jumpTo(jeq, unix.TIOCSTI, "eperm")
	jumpTo(jeq, unix.TIOCLINUX, "eperm")
	stmt(ret, unix.SECCOMP_RET_ALLOW)

	labels["enosys"] = len(prog)
	stmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.ENOSYS))
	labels["eperm"] = len(prog)
	stmt(ret, unix.SECCOMP_RET_ERRNO|uint32(unix.EPERM))

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
