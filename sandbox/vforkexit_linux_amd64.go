package sandbox

// vforkExit clones this process with flags, which must hold CLONE_VM and
// CLONE_VFORK, into a child that calls exit_group(0) at once and does
// nothing else; it returns the child's pid, unreaped, or the errno of the
// clone. The sandbox runs on amd64 only (initproc's seccomp filter);
// elsewhere it returns ENOSYS.
func vforkExit(flags uintptr) (pid uintptr, errno uintptr)
