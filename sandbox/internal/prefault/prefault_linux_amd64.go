package prefault

import "unsafe"

// madvise is the system call, made without telling the runtime: it runs
// in a package init, before any other goroutine could want this thread's
// P, and the runtime needs none of the pages to be one way or the other
// (they are zero whether faulted in now or later).
func madvise(addr, n, advice uintptr) (errno uintptr)

const (
	madvHugepage      = 14 // MADV_HUGEPAGE
	madvPopulateWrite = 23 // MADV_POPULATE_WRITE, Linux 5.14
	madvCollapse      = 25 // MADV_COLLAPSE, Linux 6.1
)

// populated is the range the init asked to map in (none: n is 0) and the
// error number it got back, for tests.
var populated struct{ start, n, errno uintptr }

// huge is what the init asked of the heap's arena (hugeHeap), for tests:
// the arena and the advice's errno, the region collapsed and its errno.
var huge struct{ arena, errno, region, collapseErrno uintptr }

func init() {
	// The main goroutine's stack was among the first things the runtime
	// allocated from the heap, which grows upwards from there: the pages
	// above it are what the package inits and main allocate next.
	var here byte
	hugeHeap(uintptr(unsafe.Pointer(&here)))
	size := heapSize(heapKiB)
	if size == 0 {
		return
	}
	// Pages below the heap's end are mapped in already and cost the call
	// a look; one past the end of the heap's mapping (it grows in 4 MiB
	// chunks) stops the call there with an error.
	start, n := span(uintptr(unsafe.Pointer(&here)), size)
	populated.start, populated.n = start, n
	populated.errno = madvise(start, n, madvPopulateWrite)
}

// hugeHeap asks for transparent huge pages in the heap arena that holds
// here (the main goroutine's stack), and collapses the pages the start
// has touched in here's 2 MiB region into a huge page: on the VMs Bulwark is measured
// on, a page fault costs about 10 us and a huge page about 130 us (300
// to collapse one), so a region the process goes on to touch 13 pages of
// or more is a gain. The Go runtime asks for none: it leaves huge pages
// to the system's setting, which is "madvise" on those VMs. A region the
// process has not touched yet gets a huge page when it is first touched;
// one of a chunk the runtime maps after this does not (package heapahead
// advises those in long-running commands). Collapsing the region below
// here's too, where the heap may have begun, measured slower (BENCHMARKS.md,
// session 41). The calls fail where the kernel cannot (no huge pages, or
// no MADV_COLLAPSE before Linux 6.1), and the heap is then as it was.
func hugeHeap(here uintptr) {
	huge.arena = here &^ (heapArenaBytes - 1)
	if huge.errno = madvise(huge.arena, heapArenaBytes, madvHugepage); huge.errno != 0 {
		return
	}
	huge.region = here &^ (hugePageSize - 1)
	huge.collapseErrno = madvise(huge.region, hugePageSize, madvCollapse)
}
