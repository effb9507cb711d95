package prefault

import (
	"os"
	"runtime"
	"strconv"
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

// The init of this test binary asked for heapKiB of the heap from its
// stack's page on, and got it: the last pages of the range, which nothing
// in this small process has touched, are resident. Where the heap's
// mapping (4 MiB chunks from a random offset) ends within the range, the
// call fails there, and the pages up to that end are resident.
func TestInitPopulatedTheHeap(t *testing.T) {
	p := populated
	if p.n != defaultHeapSize {
		t.Fatalf("the init asked for %d bytes, want %d", p.n, defaultHeapSize)
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

// mappingEnd returns the end of the accessible mapping of this process
// that holds addr, from /proc/self/maps.
func mappingEnd(t *testing.T, addr uintptr) uintptr {
	t.Helper()
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		z, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 == nil && err2 == nil && uintptr(a) <= addr && addr < uintptr(z) && strings.HasPrefix(f[1], "rw") {
			return uintptr(z)
		}
	}
	t.Fatalf("no writable mapping holds %#x", addr)
	return 0
}

// Extend maps in the heap past what the init did, up to its size or the
// end of the heap's mapping: the last pages of that, which nothing in
// this small process touched, are resident after the call and were not
// before it.
func TestExtendMapsInTheRest(t *testing.T) {
	const kib = 3 << 10
	p := populated
	// The heap grown past the range, as a process's that calls Extend
	// has: a large allocation is laid out on fresh pages, not touched.
	grown := make([]byte, 8<<20)
	defer runtime.KeepAlive(grown)
	from, to := extendRange(p.start, p.n, p.errno, kib<<10)
	to = min(to, mappingEnd(t, p.start+p.n-pageSize))
	if to < from+4*pageSize {
		t.Skipf("the heap's mapping ends %d bytes past the init's range", int(to)-int(from))
	}
	last := to - 4*pageSize
	for i, in := range mincore.Resident(t, last, 4*pageSize) {
		if in {
			t.Skipf("page %d of the last 4 before %#x resident before Extend", i, to)
		}
	}
	Extend(kib)
	for i, in := range mincore.Resident(t, last, 4*pageSize) {
		if !in {
			t.Errorf("page %d of the last 4 before %#x not resident after Extend (init's range %#x+%#x, errno %d)", i, to, p.start, p.n, p.errno)
		}
	}
}
