package prefault

import "unsafe"

// madvise is the system call, made without telling the runtime: it runs
// in a package init, before any other goroutine could want this thread's
// P, and the runtime needs none of the pages to be one way or the other
// (they are zero whether faulted in now or later).
func madvise(addr, n, advice uintptr) (errno uintptr)

const madvPopulateWrite = 23 // MADV_POPULATE_WRITE, Linux 5.14

// populated is the range the init asked to map in and the error number
// it got back, for tests.
var populated struct{ start, n, errno uintptr }

func init() {
	// The main goroutine's stack was among the first things the runtime
	// allocated from the heap, which grows upwards from there: the pages
	// above it are what the package inits and main allocate next. Pages
	// below the heap's end are mapped in already and cost the call a
	// look; one past the end of the heap's mapping (it grows in 4 MiB
	// chunks) stops the call there with an error.
	var here byte
	start, n := span(uintptr(unsafe.Pointer(&here)), heapSize(heapKiB))
	populated.start, populated.n = start, n
	populated.errno = madvise(start, n, madvPopulateWrite)
}

// Extend maps in the heap from where the init's call stopped up to kib
// KiB above where it started, for a process about to allocate past the
// init's budget. What the init could not map in because the heap's
// mapping ended first (in a third to a half of the runs measured: the
// heap's base is random) is there once the heap has grown into the next
// chunk, as it usually has by the end of the package inits, so a later
// call maps it in. Pages mapped in already cost a look each (about 0.2
// us), not a populate, so the call starts past them. Every failure is
// ignored, as the init's.
//
// The system call holds the calling goroutine's thread and P (a few
// hundred microseconds at most; the call is not made through package
// syscall, whose init would run before this package's).
func Extend(kib int) {
	from, to := extendRange(populated.start, populated.n, populated.errno, uintptr(kib)<<10)
	if from < to {
		madvise(from, to-from, madvPopulateWrite)
	}
}
