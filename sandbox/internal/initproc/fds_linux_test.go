package initproc

import (
	"testing"

	"golang.org/x/sys/unix"
)

// closeInherited closes the descriptors a process inherited (no
// FD_CLOEXEC) and leaves those it opened itself (the Go runtime's all have
// the flag); cloexecFrom marks every one close-on-exec.
func TestCloseInheritedAndCloexec(t *testing.T) {
	fd, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// High numbers, above anything the test harness holds.
	const inherited, own = 900, 901
	if err := unix.Dup3(fd, inherited, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Dup3(fd, own, unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(own)
	if err := closeInherited(inherited); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.FcntlInt(inherited, unix.F_GETFD, 0); err != unix.EBADF {
		t.Errorf("fd without FD_CLOEXEC: F_GETFD error %v, want EBADF (closed)", err)
	}
	if _, err := unix.FcntlInt(own, unix.F_GETFD, 0); err != nil {
		t.Errorf("fd with FD_CLOEXEC was closed: %v", err)
	}

	if err := unix.Dup3(fd, inherited, 0); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(inherited)
	if err := cloexecFrom(inherited); err != nil {
		t.Fatal(err)
	}
	if flags, err := unix.FcntlInt(inherited, unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("after cloexecFrom: flags %#x, %v, want FD_CLOEXEC", flags, err)
	}
}
