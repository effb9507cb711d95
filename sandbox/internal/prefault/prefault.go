// Package prefault prepares, as a process starts, the memory its start is
// about to touch, where a page fault costs most of a short command's time
// (10 to 18 us each on the PVM guests Bulwark is measured on). It first
// times two page faults of its own (faultsCostly): where the cheaper
// costs under costlyFaultNS, as on a guest with nested paging (about 1
// us), the work below costs more than the faults it saves and none is
// done. Otherwise, in every program that imports it:
//   - it maps the binary's code and read-only data into the page tables,
//     one madvise(MADV_POPULATE_READ) each (mapInBinary): a fault a 64 KiB
//     window becomes about 0.1 us a page;
//   - it asks for transparent huge pages in the heap's arena and collapses
//     the start's first 2 MiB into one (hugeHeap): a fault a region
//     instead of a fault a page.
//
// In a program built to ask for it (heapKiB), it also maps in the heap
// pages above the stack with one madvise(MADV_POPULATE_WRITE): the
// sandbox init is (package initgen). bulwark is not: a page populated
// costs about as much as a page faulted in, so the pages its start would
// not touch made its 2 MiB a loss, about a sixth of `bulwark version`'s
// CPU (BENCHMARKS.md, "Issue 17, `version`'s start without the heap
// mapped in (session 35, start)").
//
// Its init does the work, so a program imports it for that side effect:
// package initproc does, so that the sandbox init runs it. It imports
// nothing that has an init of its own, and the linker runs the inits
// that are ready in the order of their import paths, so it runs before
// nearly every other package's init and what it maps in is there for
// theirs. It does nothing off linux/amd64 and where the kernel has no
// MADV_POPULATE_* (before Linux 5.14) or no huge pages: the call fails
// and is ignored, as is any other failure. It changes no memory's
// content, only when its pages are mapped.
package prefault

// faultCost, set with -ldflags=-X, takes the measure's place (faultsCostly):
// "high" does the work whatever a fault costs, "low" none of it. Tests set
// it to hold what each way does on any host. Unset, or anything else, the
// measure decides.
var faultCost string

// costlyFaultNS is the cost of a first-touch page fault, in ns, from
// which prefault does its work. A fault costs 10 to 18 us on the PVM
// guests (the guest's page tables shadowed by the host) that the work
// was measured on, and 0.7 to 1.3 us on a KVM guest with nested paging,
// where mapping in the whole binary (30 MB, 0.1 us a page) costs more
// than the 200 faults it saves: `version` took 3.00x hello-world's time
// with the work and 2.46x without (BENCHMARKS.md, session 45).
const costlyFaultNS = 4000

// costly decides from the cheaper of the faults measured (ns; none taken
// is no measure, 0) and faultCost whether prefault does its work.
func costly(measured []int64, force string) bool {
	switch force {
	case "high":
		return true
	case "low":
		return false
	}
	if len(measured) == 0 {
		return false
	}
	least := measured[0]
	for _, ns := range measured[1:] {
		least = min(least, ns)
	}
	return least >= costlyFaultNS
}

// heapKiB is how much of the heap, in KiB, is mapped in from the page of
// the main goroutine's stack on (the start of the heap as the runtime
// left it). A program sets it with -ldflags=-X: the sandbox init does
// (package initgen). Unset, empty or malformed, nothing is mapped in.
var heapKiB string

const pageSize = 4096

// hugePageSize is a transparent huge page on amd64, and heapArenaBytes
// the Go runtime's heap arena on 64-bit Linux: the heap is reserved and
// mapped in arenas of this size, aligned to it.
const (
	hugePageSize   = 2 << 20
	heapArenaBytes = 64 << 20
)

// heapSize returns heapKiB in bytes, or 0 (no call) when it is not a
// number of KiB from 4 to 64 MiB.
func heapSize(kib string) uintptr {
	n := uintptr(0)
	for i := 0; i < len(kib); i++ {
		c := kib[i]
		if c < '0' || c > '9' || n > 64<<10 {
			return 0
		}
		n = n*10 + uintptr(c-'0')
	}
	if n < 4 || n > 64<<10 {
		return 0
	}
	return n << 10
}

// span returns the page-aligned range of size bytes (rounded up to pages)
// that starts at the page of p.
func span(p, size uintptr) (start, n uintptr) {
	return p &^ (pageSize - 1), (size + pageSize - 1) &^ (pageSize - 1)
}
