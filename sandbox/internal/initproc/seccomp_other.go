//go:build linux && !amd64

package initproc

// The seccomp filter's syscall table exists for amd64 only; elsewhere the
// sandbox refuses to run (fail closed).
const (
	AuditArch        = 0
	cloneFlagsOffset = 0
)

var deniedSyscalls []uintptr

var modeArgs []struct {
	nr  uintptr
	arg int
}
