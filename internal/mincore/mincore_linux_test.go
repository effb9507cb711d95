package mincore

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A fresh anonymous mapping is not resident until a page is written.
func TestResident(t *testing.T) {
	page := unix.Getpagesize()
	b, err := unix.Mmap(-1, 0, 4*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	b[2*page] = 1
	got := Resident(t, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	want := []bool{false, false, true, false}
	if len(got) != len(want) {
		t.Fatalf("%d pages, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("page %d resident %v, want %v", i, got[i], want[i])
		}
	}
}
