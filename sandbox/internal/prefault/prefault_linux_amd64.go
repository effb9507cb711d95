package prefault

import "unsafe"

// madvise is the system call, made without telling the runtime: it runs
// in a package init, before any other goroutine could want this thread's
// P, and the runtime needs none of the pages to be one way or the other
// (they are zero whether faulted in now or later).
func madvise(addr, n, advice uintptr) (errno uintptr)

const madvPopulateWrite = 23 // MADV_POPULATE_WRITE, Linux 5.14

// populated is the range the init asked to map in (none: n is 0) and the
// error number it got back, for tests.
var populated struct{ start, n, errno uintptr }

func init() {
	size := heapSize(heapKiB)
	if size == 0 {
		return
	}
	// The main goroutine's stack was among the first things the runtime
	// allocated from the heap, which grows upwards from there: the pages
	// above it are what the package inits and main allocate next. Pages
	// below the heap's end are mapped in already and cost the call a
	// look; one past the end of the heap's mapping (it grows in 4 MiB
	// chunks) stops the call there with an error.
	var here byte
	start, n := span(uintptr(unsafe.Pointer(&here)), size)
	populated.start, populated.n = start, n
	populated.errno = madvise(start, n, madvPopulateWrite)
}
