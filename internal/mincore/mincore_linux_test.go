package mincore

import (
	"bufio"
	"os"
	"strings"
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

// MappingOf finds a fresh mapping by an address inside it, with the
// flags madvise set on it.
func TestMappingOf(t *testing.T) {
	page := unix.Getpagesize()
	b, err := unix.Mmap(-1, 0, 8*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	p := uintptr(unsafe.Pointer(&b[0]))
	// MADV_NOHUGEPAGE ("nh") on the middle: a mapping of its own.
	if err := unix.Madvise(b[2*page:4*page], unix.MADV_NOHUGEPAGE); err != nil {
		t.Fatal(err)
	}
	m := MappingOf(t, p+3*uintptr(page))
	if m.Start != p+2*uintptr(page) || m.End != p+4*uintptr(page) {
		t.Errorf("mapping %#x-%#x, want %#x-%#x", m.Start, m.End, p+2*uintptr(page), p+4*uintptr(page))
	}
	if !m.HasFlag("nh") || !m.HasFlag("rd") || !m.HasFlag("wr") {
		t.Errorf("flags %v, want nh, rd and wr among them", m.Flags)
	}
	if n := MappingOf(t, p); n.HasFlag("nh") || n.End != m.Start {
		t.Errorf("the mapping before: %#x-%#x %v, want one ending at %#x without nh", n.Start, n.End, n.Flags, m.Start)
	}
}

// An entry's lines are read as the kernel writes them; a line that is no
// range starts no entry.
func TestMappingOfText(t *testing.T) {
	const smaps = `00400000-00401000 r-xp 00000000 08:01 12 /bin/x
Size:                  4 kB
AnonHugePages:         0 kB
VmFlags: rd ex mr mw me
7f0000000000-7f0000400000 rw-p 00000000 00:00 0
Size:               4096 kB
AnonHugePages:      2048 kB
VmFlags: rd wr mr mw me ac hg
7f0000400000-7f0000600000 rw-p 00000000 00:00 0
VmFlags: rd wr
`
	m, found := mappingOf(bufio.NewScanner(strings.NewReader(smaps)), 0x7f0000200000)
	if !found || m.Start != 0x7f0000000000 || m.End != 0x7f0000400000 || m.AnonHugePagesKiB != 2048 || !m.HasFlag("hg") || m.HasFlag("ex") {
		t.Errorf("got %+v, %v", m, found)
	}
	if _, found := mappingOf(bufio.NewScanner(strings.NewReader(smaps)), 0x7f0000600000); found {
		t.Error("found a mapping past the last")
	}
}

// Mapped tells a page this process touched from one it did not, in a
// mapping of a file whose pages are all cached: Resident says both are.
func TestMapped(t *testing.T) {
	page := unix.Getpagesize()
	f, err := os.CreateTemp(t.TempDir(), "mapped")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 64*page)); err != nil {
		t.Fatal(err)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, 64*page, unix.PROT_READ, unix.MAP_PRIVATE)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	p := uintptr(unsafe.Pointer(&b[0]))
	readByte = b[0] // one fault maps in up to 16 pages around it (fault-around)
	mapped := Mapped(t, p, uintptr(len(b)))
	if !mapped[0] || mapped[63] {
		t.Errorf("page 0 mapped %v (want true), page 63 %v (want false)", mapped[0], mapped[63])
	}
	if res := Resident(t, p, uintptr(len(b))); !res[63] {
		t.Errorf("page 63 of a file just written not resident")
	}
}

// readByte keeps TestMapped's read from being compiled away.
var readByte byte
