//go:build linux && !amd64

package sandbox

import "syscall"

func vforkExit(flags uintptr) (pid uintptr, errno uintptr) { return 0, uintptr(syscall.ENOSYS) }
