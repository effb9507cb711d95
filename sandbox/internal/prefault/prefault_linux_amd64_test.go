package prefault

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/internal/mincore"
)

// resident says which pages of b are in memory.
func resident(t *testing.T, b []byte) []bool {
	t.Helper()
	return mincore.Resident(t, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
}

// madvise maps in every page of a fresh anonymous mapping, writable,
// without changing what they hold.
func TestMadvisePopulates(t *testing.T) {
	const n = 64 * pageSize
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	b[5*pageSize] = 7
	for i, in := range resident(t, b) {
		if in != (i == 5) {
			t.Fatalf("page %d resident %v before madvise", i, in)
		}
	}
	if errno := madvise(uintptr(unsafe.Pointer(&b[0])), n, madvPopulateWrite); errno != 0 {
		if errno == uintptr(unix.EINVAL) {
			t.Skip("this kernel has no MADV_POPULATE_WRITE (Linux 5.14)")
		}
		t.Fatalf("madvise: %v", unix.Errno(errno))
	}
	for i, in := range resident(t, b) {
		if !in {
			t.Errorf("page %d not resident after madvise", i)
		}
	}
	for i, v := range b {
		if v != 0 && i != 5*pageSize || i == 5*pageSize && v != 7 {
			t.Fatalf("byte %d is %d after madvise", i, v)
		}
	}
}

// A range that runs past the mapping fails, as the init's does where the
// heap's mapping ends before its budget: the pages before the end are
// mapped in all the same, and the error is given back, not panicked on.
func TestMadvisePastTheMapping(t *testing.T) {
	const n = 16 * pageSize
	b, err := unix.Mmap(-1, 0, 2*n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	// The second half as the reserved part of Go's arena: no access.
	if err := unix.Mprotect(b[n:], unix.PROT_NONE); err != nil {
		t.Fatal(err)
	}
	errno := madvise(uintptr(unsafe.Pointer(&b[0])), 2*n, madvPopulateWrite)
	if errno == 0 {
		t.Fatal("madvise over an inaccessible mapping succeeded")
	}
	if errno == uintptr(unix.EINVAL) && !resident(t, b[:n])[0] {
		t.Skip("this kernel has no MADV_POPULATE_WRITE (Linux 5.14)")
	}
	for i, in := range resident(t, b[:n]) {
		if !in {
			t.Errorf("page %d, before the inaccessible part, not resident", i)
		}
	}
	if errno := madvise(0, pageSize, madvPopulateWrite); errno == 0 {
		t.Error("madvise of page 0 succeeded")
	}
}

// A binary built without heapKiB, as bulwark and this test binary are,
// makes no call: the pages above its stack are faulted in as its start
// touches them.
func TestInitMapsInNothingUnlessAsked(t *testing.T) {
	if p := populated; p.n != 0 || p.start != 0 || p.errno != 0 {
		t.Errorf("the init asked for %#x+%#x (errno %d) with no heapKiB set", p.start, p.n, p.errno)
	}
}

// The init of a binary built with heapKiB set (as the sandbox init is)
// asked for that much of the heap from its stack's page on, and got it:
// the last pages of the range, which nothing in this small process has
// touched, are resident. Where the heap's mapping (4 MiB chunks from a
// random offset) ends within the range, the call fails there, and the
// pages up to that end are resident. This test binary has no heapKiB of
// its own, so the test runs again in one built with it.
func TestInitPopulatedTheHeap(t *testing.T) {
	if heapKiB == "" {
		runWithHeapKiB(t, "TestInitPopulatedTheHeap", "512") // the sandbox init's
		return
	}
	p := populated
	if want := heapSize(heapKiB); p.n != want {
		t.Fatalf("the init asked for %d bytes, want %d", p.n, want)
	}
	const chunk = 4 << 20
	end := p.start + p.n
	if p.errno != 0 {
		end = min(end, (p.start+chunk)&^(chunk-1))
		t.Logf("madvise: %v; the heap's mapping ends at %#x, within the range %#x+%#x", unix.Errno(p.errno), end, p.start, p.n)
	}
	if end-p.start < 8*pageSize {
		t.Skipf("the heap's mapping ends %d bytes after the stack", end-p.start)
	}
	for i, in := range mincore.Resident(t, end-4*pageSize, 4*pageSize) {
		if !in {
			if p.errno == uintptr(unix.EINVAL) && i == 0 {
				t.Skip("not resident after EINVAL: this kernel has no MADV_POPULATE_WRITE (Linux 5.14)?")
			}
			t.Errorf("page %d of the last 4 before %#x not resident (range %#x+%#x)", i, end, p.start, p.n)
		}
	}
}

// runWithHeapKiB runs the test named in a test binary of this package
// built with heapKiB set to kib, and fails or skips as it did.
func runWithHeapKiB(t *testing.T, name, kib string) {
	t.Helper()
	const pkg = "github.com/bulwark-agents/bulwark/sandbox/internal/prefault"
	out, err := exec.Command("go", "test", "-count=1", "-v", "-run", "^"+name+"$",
		"-ldflags=-X "+pkg+".heapKiB="+kib, ".").CombinedOutput()
	switch {
	case strings.Contains(string(out), "--- PASS: "+name):
	case strings.Contains(string(out), "--- SKIP: "+name):
		t.Skipf("with heapKiB=%s: %s", kib, out)
	case errors.Is(err, exec.ErrNotFound):
		t.Skipf("go test: %v", err)
	default:
		t.Fatalf("with heapKiB=%s: %v\n%s", kib, err, out)
	}
}
