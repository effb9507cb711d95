// Package prefault maps in, as a process starts, the heap pages its start
// is about to touch: one madvise(MADV_POPULATE_WRITE) call instead of a
// page fault a page. On the VMs Bulwark is measured on (PVM guests) a page
// fault costs about 9 us and populating a page under 1 us, and the heap
// is where most of a Go program's start-up faults land after the runtime's
// own start (BENCHMARKS.md, "Issue 17, the heap mapped in at start").
//
// Its init does the work, so a program imports it for that side effect:
// package initproc does, so that the sandbox init and every binary that
// links the sandbox (bulwark) run it. It imports nothing that has an init
// of its own, and the linker runs the inits that are ready in the order
// of their import paths, so it runs before nearly every other package's
// init and what it maps in is there for theirs. It does nothing off
// linux/amd64 and where the kernel has no MADV_POPULATE_WRITE (before
// Linux 5.14): the call fails and is ignored, as is any other failure.
package prefault

// heapKiB is how much of the heap, in KiB, is mapped in from the page of
// the main goroutine's stack on (the start of the heap as the runtime
// left it). A program whose start allocates less sets it with
// -ldflags=-X: the sandbox init does (package initgen). An empty or
// malformed value leaves the default.
var heapKiB = "2048"

const (
	pageSize        = 4096
	defaultHeapSize = 2 << 20
)

// heapSize returns heapKiB in bytes, or the default when it is not a
// number of KiB from 4 to 64 MiB.
func heapSize(kib string) uintptr {
	n := uintptr(0)
	for i := 0; i < len(kib); i++ {
		c := kib[i]
		if c < '0' || c > '9' || n > 64<<10 {
			return defaultHeapSize
		}
		n = n*10 + uintptr(c-'0')
	}
	if n < 4 || n > 64<<10 {
		return defaultHeapSize
	}
	return n << 10
}

// span returns the page-aligned range of size bytes (rounded up to pages)
// that starts at the page of p.
func span(p, size uintptr) (start, n uintptr) {
	return p &^ (pageSize - 1), (size + pageSize - 1) &^ (pageSize - 1)
}

// chunkSize is the granule of the runtime's heap mappings (its
// pallocChunkBytes on 64-bit Linux): it maps the heap in 4 MiB chunks
// aligned to 4 MiB, each when the heap first grows into it, so where the
// init's call failed past the end of the mapping, it failed at the next
// such boundary above its start, and the pages below it were mapped in.
const chunkSize = 4 << 20

// extendRange is the range Extend maps in, of the init's range at start
// of n bytes that ended with errno, for a heap of size bytes from start:
// empty when the init made no call. (A range that runs into the reserved,
// inaccessible part of the heap fails with EINVAL, as a kernel without
// MADV_POPULATE_WRITE does: there a second call fails too, and costs a
// system call once.)
func extendRange(start, n, errno, size uintptr) (from, to uintptr) {
	if n == 0 {
		return 0, 0
	}
	from = start + n
	if errno != 0 {
		from = (start + chunkSize) &^ (chunkSize - 1)
	}
	_, size = span(start, size)
	return from, start + size
}
