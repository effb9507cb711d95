// Package mincore tells which pages of a range of this process's memory
// are resident, for the tests of what maps memory in ahead of its first
// touch (internal/heapahead, sandbox/internal/prefault).
package mincore

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Resident says which pages of the n bytes at addr are in memory; addr
// is page-aligned. It fails t if the kernel refuses the range.
func Resident(t testing.TB, addr, n uintptr) []bool {
	t.Helper()
	page := uintptr(unix.Getpagesize())
	vec := make([]byte, (n+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, addr, n, uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatalf("mincore: %v", errno)
	}
	in := make([]bool, len(vec))
	for i, v := range vec {
		in[i] = v&1 != 0
	}
	return in
}
