package prefault

import "unsafe"

// madvise is the system call, made without telling the runtime: it runs
// in a package init, before any other goroutine could want this thread's
// P, and the runtime needs none of the pages to be one way or the other
// (what they hold is the same whether mapped in now or later, in small
// pages or a huge one).
func madvise(addr, n, advice uintptr) (errno uintptr) {
	_, errno = syscall3(sysMadvise, addr, n, advice)
	return errno
}

// syscall3 is a system call of up to three arguments, made without
// telling the runtime (madvise_linux_amd64.s).
func syscall3(trap, a1, a2, a3 uintptr) (r1, errno uintptr)

const (
	sysRead    = 0
	sysOpen    = 2
	sysClose   = 3
	sysMadvise = 28

	oRdonlyCloexec = 0x80000 // O_RDONLY|O_CLOEXEC
)

const (
	madvHugepage      = 14 // MADV_HUGEPAGE
	madvPopulateRead  = 22 // MADV_POPULATE_READ, Linux 5.14
	madvPopulateWrite = 23 // MADV_POPULATE_WRITE, Linux 5.14
	madvCollapse      = 25 // MADV_COLLAPSE, Linux 6.1
)

// populated is the range the init asked to map in (none: n is 0) and the
// error number it got back, for tests.
var populated struct{ start, n, errno uintptr }

// binary is what the init asked to map in of the binary's read-only
// segments (mapInBinary), for tests: each range and its errno.
var binary [2]struct{ start, n, errno uintptr }

// huge is what the init asked of the heap's arena (hugeHeap), for tests:
// whether the host's setting turned it off, the arena and the advice's
// errno, the region collapsed and its errno.
var huge struct {
	off                                 bool
	arena, errno, region, collapseErrno uintptr
}

func init() {
	if faults.costly = faultsCostly(); !faults.costly {
		return
	}
	// The main goroutine's stack was among the first things the runtime
	// allocated from the heap, which grows upwards from there: the pages
	// above it are what the package inits and main allocate next.
	var here byte
	hugeHeap(uintptr(unsafe.Pointer(&here)))
	mapInBinary()
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

// faults is what the init measured (faultsCostly), for tests: the two
// faults' times in ns, and the decision.
var faults struct {
	ns     [2]int64
	costly bool
}

// probe is memory nothing else touches: two of its pages, 17 pages apart
// (in two 64 KiB blocks, where a host gives anonymous memory in folios of
// that size), are where faultsCostly takes its faults. It is in the
// binary's bss, zero pages the kernel maps in at their first touch, and
// costs those two pages.
var probe [19 * pageSize]byte

//go:linkname nanotime runtime.nanotime
func nanotime() int64

// faultsCostly times the first touch of two pages of probe and says
// whether the cheaper fault costs enough for the work (costly; faultCost
// overrides it). Two, for a fault slowed by an interrupt, or one that
// gave a huge page and left the other nothing to fault; about 2 us in
// all where faults are cheap, 20 to 36 where they are not (and then
// saved several times over). The store is through a pointer the compiler
// cannot see the end of, so it is made, and made between the two clock
// reads: the fault is taken as the store retires, before the second read.
func faultsCostly() bool {
	base := unsafe.Pointer(&probe[0])
	first := (pageSize - uintptr(base)&(pageSize-1)) & (pageSize - 1)
	for i := range faults.ns {
		p := (*byte)(unsafe.Add(base, first+uintptr(i)*17*pageSize))
		t := nanotime()
		*p = 1
		faults.ns[i] = nanotime() - t
	}
	return costly(faults.ns[:], faultCost)
}

// hugeHeap asks for transparent huge pages in the heap arena that holds
// here (the main goroutine's stack), and collapses the pages the start
// has touched in here's 2 MiB region into a huge page: on the VMs Bulwark
// is measured on, a page fault costs about 10 us and a huge page about
// 130 us (300 to collapse one), so a region the process goes on to touch
// 13 pages of or more is a gain. The Go runtime asks for none: it leaves
// huge pages to the system's setting, which is "madvise" on those VMs. A
// region the process has not touched yet gets a huge page when it is
// first touched; one of a chunk the runtime maps after this does not
// (package heapahead advises those in long-running commands, and ends
// this advice). Collapsing the region below here's too, where the heap
// may have begun, measured slower (BENCHMARKS.md, session 41). The calls
// fail where the kernel cannot (no huge pages, or no MADV_COLLAPSE before
// Linux 6.1), and the heap is then as it was. Where the host's setting is
// "never", none is made: MADV_COLLAPSE would make a huge page all the
// same, against the setting.
func hugeHeap(here uintptr) {
	if huge.off = thpNever(); huge.off {
		return
	}
	huge.arena = here &^ (heapArenaBytes - 1)
	if huge.errno = madvise(huge.arena, heapArenaBytes, madvHugepage); huge.errno != 0 {
		return
	}
	huge.region = here &^ (hugePageSize - 1)
	huge.collapseErrno = madvise(huge.region, hugePageSize, madvCollapse)
}

// The bounds of the binary's code and of its read-only data (the types'
// data, the function tables the runtime reads to unwind and scan stacks),
// as the linker placed them.
//
//go:linkname text runtime.text
var text byte

//go:linkname etext runtime.etext
var etext byte

//go:linkname rodata runtime.rodata
var rodata byte

//go:linkname epclntab runtime.epclntab
var epclntab byte

// mapInBinary maps the binary's code and read-only data into the page
// tables, each in one madvise(MADV_POPULATE_READ), instead of a fault
// for each 64 KiB the process first reads in them. The pages are the
// file's, in the page cache and shared with every process of the binary
// (read from disk by the call if they are not there yet): nothing is
// allocated, only mapped. On the VMs Bulwark is measured on, a fault
// costs 10 to 18 us and the call about 0.1 us a page; bulwark's `version`
// took about 110 faults in its code and 85 in its read-only data, and
// the call over both about 1.2 ms. `version` went from 2.57x to 2.39x
// hello-world's time, the cold CLI's CPU down 10% (BENCHMARKS.md,
// session 41).
func mapInBinary() {
	for i, r := range [2][2]uintptr{
		{uintptr(unsafe.Pointer(&text)), uintptr(unsafe.Pointer(&etext))},
		{uintptr(unsafe.Pointer(&rodata)), uintptr(unsafe.Pointer(&epclntab))},
	} {
		start := r[0] &^ (pageSize - 1)
		n := (r[1] - start + pageSize - 1) &^ (pageSize - 1)
		binary[i].start, binary[i].n = start, n
		binary[i].errno = madvise(start, n, madvPopulateRead)
	}
}

// thpEnabled is the host's setting for transparent huge pages, with a
// terminating NUL for open(2).
const thpEnabled = "/sys/kernel/mm/transparent_hugepage/enabled\x00"

// thpNever says whether the host's setting for transparent huge pages is
// "never" ("always madvise [never]"). A setting that cannot be read (a
// kernel without them) is not: the calls then fail on their own.
func thpNever() bool {
	path := thpEnabled
	fd, errno := syscall3(sysOpen, uintptr(unsafe.Pointer(unsafe.StringData(path))), oRdonlyCloexec, 0)
	if errno != 0 {
		return false
	}
	var buf [64]byte
	n, errno := syscall3(sysRead, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	syscall3(sysClose, fd, 0, 0)
	if errno != 0 {
		return false
	}
	return hasNever(buf[:n])
}

// hasNever says whether b holds "[never]".
func hasNever(b []byte) bool {
	const never = "[never]"
	for i := 0; i+len(never) <= len(b); i++ {
		if string(b[i:i+len(never)]) == never {
			return true
		}
	}
	return false
}
