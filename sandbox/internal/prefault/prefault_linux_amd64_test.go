package prefault

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"text/template"
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
	if heapKiB == "" || !faults.costly {
		runWith(t, "TestInitPopulatedTheHeap", "heapKiB=512", "faultCost=high") // the sandbox init's
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

// runWith runs the test named in a test binary of this package built
// with the variables set (each "name=value", as -ldflags=-X sets them),
// and fails or skips as it did.
func runWith(t *testing.T, name string, vars ...string) {
	t.Helper()
	const pkg = "github.com/bulwark-agents/bulwark/sandbox/internal/prefault"
	var flags []string
	for _, v := range vars {
		flags = append(flags, "-X "+pkg+"."+v)
	}
	out, err := exec.Command("go", "test", "-count=1", "-v", "-run", "^"+name+"$",
		"-ldflags="+strings.Join(flags, " "), ".").CombinedOutput()
	switch {
	case strings.Contains(string(out), "--- PASS: "+name):
	case strings.Contains(string(out), "--- SKIP: "+name):
		t.Skipf("with %v: %s", vars, out)
	case errors.Is(err, exec.ErrNotFound):
		t.Skipf("go test: %v", err)
	default:
		t.Fatalf("with %v: %v\n%s", vars, err, out)
	}
}

// costlyHere says whether the init did its work in this test binary
// (faults cost enough here); when not, it runs the test named again in a
// test binary where faultCost makes it, and that run's verdict is the
// test's.
func costlyHere(t *testing.T, name string) bool {
	t.Helper()
	if faults.costly {
		return true
	}
	runWith(t, name, "faultCost=high")
	return false
}

// The init took its two faults in probe, two pages 17 apart, and decided
// from them (the decision's rule is TestCostly's): each page holds the
// byte written, and nothing else of probe was written.
func TestInitMeasuredTwoFaults(t *testing.T) {
	first := (pageSize - uintptr(unsafe.Pointer(&probe[0]))&(pageSize-1)) & (pageSize - 1)
	for i, v := range probe {
		want := byte(0)
		if uintptr(i) == first || uintptr(i) == first+17*pageSize {
			want = 1
		}
		if v != want {
			t.Fatalf("probe[%d] = %d, want %d (the pages probed start at %d)", i, v, want, first)
		}
	}
	if faults.ns[0] < 0 || faults.ns[1] < 0 {
		t.Errorf("fault times %v: the clock went back", faults.ns)
	}
	if want := costly(faults.ns[:], faultCost); faults.costly != want {
		t.Errorf("decided costly=%v from %v ns (faultCost %q), the rule says %v", faults.costly, faults.ns, faultCost, want)
	}
	t.Logf("the init's faults: %v ns; costly: %v", faults.ns, faults.costly)
}

// Where faults are cheap the init does nothing: no heap populated (even
// with heapKiB set, as in the sandbox init), no huge-page advice, no
// binary mapped in.
func TestInitDoesNothingWhereFaultsAreCheap(t *testing.T) {
	if faultCost != "low" {
		runWith(t, "TestInitDoesNothingWhereFaultsAreCheap", "heapKiB=512", "faultCost=low")
		return
	}
	if faults.costly {
		t.Fatal("faultCost=low, yet the init found faults costly")
	}
	if populated.n != 0 || huge.arena != 0 || huge.region != 0 || huge.off {
		t.Errorf("the init asked for the heap: populated %+v, huge %+v", populated, huge)
	}
	for i, r := range binary {
		if r.n != 0 {
			t.Errorf("the init mapped in range %d of the binary: %+v", i, r)
		}
	}
}

// The init asked for huge pages in the heap's arena, in every binary (this
// test binary has no heapKiB), and collapsed its stack's region into one:
// the mapping that holds that region has the advice ("hg"), and the
// kernel said it collapsed the region. A kernel without transparent huge
// pages, or without MADV_COLLAPSE (Linux 6.1), skips what it cannot do.
func TestInitAskedForHugePages(t *testing.T) {
	if !costlyHere(t, "TestInitAskedForHugePages") {
		return
	}
	h := huge
	if thp, _ := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); strings.Contains(string(thp), "[never]") {
		// The host turned them off: nothing asked, nothing collapsed.
		if !h.off || h.arena != 0 || h.region != 0 {
			t.Errorf("huge pages are off on this host (%q), yet the init asked: %+v", thp, h)
		}
		return
	}
	if h.off {
		t.Fatal("the init found huge pages off on a host whose setting is not never")
	}
	if h.arena == 0 || h.arena%heapArenaBytes != 0 {
		t.Fatalf("the init's arena %#x: not one of 64 MiB", h.arena)
	}
	if h.errno == uintptr(unix.EINVAL) {
		t.Skip("madvise(MADV_HUGEPAGE): EINVAL: this kernel has no transparent huge pages")
	}
	if h.errno != 0 {
		t.Fatalf("madvise(MADV_HUGEPAGE) over the heap's arena %#x: %v", h.arena, unix.Errno(h.errno))
	}
	if h.region < h.arena || h.region >= h.arena+heapArenaBytes || h.region%hugePageSize != 0 {
		t.Fatalf("the region collapsed, %#x, is no 2 MiB region of the arena %#x", h.region, h.arena)
	}
	m := mincore.MappingOf(t, h.region)
	if !m.HasFlag("hg") {
		t.Errorf("the heap's mapping %#x-%#x has no huge-page advice: flags %v", m.Start, m.End, m.Flags)
	}
	switch h.collapseErrno {
	case 0:
		// The runtime's scavenger may have split the page since: the
		// count is told, not held.
		t.Logf("collapsed %#x; the mapping holds %d KiB in huge pages now", h.region, m.AnonHugePagesKiB)
	case uintptr(unix.EINVAL):
		t.Skip("madvise(MADV_COLLAPSE): EINVAL: this kernel has no MADV_COLLAPSE (Linux 6.1)")
	default:
		t.Errorf("madvise(MADV_COLLAPSE) of %#x: %v", h.region, unix.Errno(h.collapseErrno))
	}
}

// A region the process has not touched gets a huge page at its first
// touch once it has the advice, and collapsing one it has touched keeps
// what its pages hold: the two things hugeHeap relies on.
func TestHugePagesAdvisedAndCollapsed(t *testing.T) {
	if thp, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || strings.Contains(string(thp), "[never]") {
		t.Skipf("transparent huge pages: %q, %v", thp, err)
	}
	b, err := unix.Mmap(-1, 0, 3*hugePageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	p := uintptr(unsafe.Pointer(&b[0]))
	r := (p + hugePageSize - 1) &^ (hugePageSize - 1) // two whole regions from r
	b[r-p+5*pageSize] = 7                             // the first touched before the advice
	if errno := madvise(r, 2*hugePageSize, madvHugepage); errno != 0 {
		t.Fatalf("madvise(MADV_HUGEPAGE): %v", unix.Errno(errno))
	}
	b[r-p+hugePageSize+pageSize] = 9 // the second's first touch, after
	if kib := mincore.MappingOf(t, r).AnonHugePagesKiB; kib < 2048 {
		t.Errorf("the advised region touched after: %d KiB in huge pages, want 2048", kib)
	}
	if errno := madvise(r, hugePageSize, madvCollapse); errno != 0 {
		if errno == uintptr(unix.EINVAL) {
			t.Skip("madvise(MADV_COLLAPSE): EINVAL: this kernel has no MADV_COLLAPSE (Linux 6.1)")
		}
		t.Fatalf("madvise(MADV_COLLAPSE): %v", unix.Errno(errno))
	}
	if kib := mincore.MappingOf(t, r).AnonHugePagesKiB; kib < 4096 {
		t.Errorf("after the collapse: %d KiB in huge pages, want 4096", kib)
	}
	for i, v := range b[r-p : r-p+2*hugePageSize] {
		if want := map[uintptr]byte{5 * pageSize: 7, hugePageSize + pageSize: 9}[uintptr(i)]; v != want {
			t.Fatalf("byte %d of the regions is %d after the collapse, want %d", i, v, want)
		}
	}
}

// The init mapped the binary's code and read-only data in, every page of
// them: two ranges, in order, each in the page tables whole. Without the
// call, a fault maps in the 16 pages around the one read, and this test
// binary links code it never runs (bigCode) so that most of it is never
// read.
func TestInitMappedTheBinaryIn(t *testing.T) {
	if len(bigCode) == 0 {
		t.Fatal("bigCode is empty")
	}
	if !costlyHere(t, "TestInitMappedTheBinaryIn") {
		return
	}
	for i, r := range binary {
		if r.n == 0 {
			t.Fatalf("range %d: the init asked for nothing", i)
		}
		if r.errno == uintptr(unix.EINVAL) {
			t.Skip("madvise(MADV_POPULATE_READ): EINVAL: this kernel has no MADV_POPULATE_READ (Linux 5.14)")
		}
		if r.errno != 0 {
			t.Fatalf("range %d, %#x+%#x: madvise: %v", i, r.start, r.n, unix.Errno(r.errno))
		}
		missing := 0
		for _, in := range mincore.Mapped(t, r.start, r.n) {
			if !in {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("range %d, %#x+%#x: %d of its %d pages not mapped", i, r.start, r.n, missing, r.n/pageSize)
		}
	}
	if text, ro := binary[0], binary[1]; text.start+text.n > ro.start {
		t.Errorf("the code %#x+%#x runs into the read-only data at %#x", text.start, text.n, ro.start)
	}
}

// bigCode links code this test binary never runs: an HTTP server and
// client, TLS and templates, some MB of it.
var bigCode = []any{http.ListenAndServeTLS, http.Get, tls.Dial, template.New, json.Marshal}

// thpNever reads the setting as the kernel writes it: "never" only when
// it is the one in brackets.
func TestHasNever(t *testing.T) {
	for in, want := range map[string]bool{
		"always madvise [never]\n": true,
		"always [madvise] never\n": false,
		"[always] madvise never\n": false,
		"[never]":                  true,
		"[neve":                    false,
		"":                         false,
	} {
		if got := hasNever([]byte(in)); got != want {
			t.Errorf("hasNever(%q) = %v, want %v", in, got, want)
		}
	}
	thp, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if want := err == nil && strings.Contains(string(thp), "[never]"); thpNever() != want {
		t.Errorf("thpNever() = %v with the setting %q (%v)", !want, thp, err)
	}
}
