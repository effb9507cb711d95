//go:build linux && (amd64 || arm64)

package heapahead

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ahead is where the heap's chunks are mapped in up to: next is the
// start of the first chunk not yet mapped in. huge: each chunk is to be
// populated in huge pages (the host gives them only where advised).
type ahead struct {
	next uintptr
	huge bool
}

// heapProbe is an allocation of Run's, made on the heap: where the heap
// is mapped up to is found from it.
var heapProbe *[64]byte

// start finds where the runtime has mapped the heap up to (Run maps in
// what it maps after: what it mapped before, the process has touched or
// not, and its scavenger may have given back) and says whether Run can
// work: whether the kernel maps in a page of the heap with
// MADV_POPULATE_WRITE (a kernel before Linux 5.14 fails with EINVAL).
func (a *ahead) start() bool {
	heapProbe = new([64]byte)
	p := uintptr(unsafe.Pointer(heapProbe))
	page := p &^ uintptr(os.Getpagesize()-1)
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, page, uintptr(os.Getpagesize()), unix.MADV_POPULATE_WRITE); errno != 0 {
		return false
	}
	end := mappingEnd(p)
	if end == 0 {
		return false
	}
	a.next = (end + chunkSize - 1) &^ (chunkSize - 1)
	if a.huge = hugeOnlyAdvised(); a.huge {
		// The start's advice (sandbox/internal/prefault's, over the
		// heap's first arena) ends here, for the reason populate ends
		// its own.
		arena := p &^ (heapArenaBytes - 1)
		advise(arena, min(a.next, arena+heapArenaBytes)-arena, unix.MADV_NOHUGEPAGE)
	}
	return true
}

// heapArenaBytes is the Go runtime's heap arena on 64-bit Linux, as in
// prefault.
const heapArenaBytes = 64 << 20

// thpEnabled is the host's setting for transparent huge pages.
const thpEnabled = "/sys/kernel/mm/transparent_hugepage/enabled"

// hugeOnlyAdvised says whether the host gives transparent huge pages
// only to memory advised MADV_HUGEPAGE ("always [madvise] never"): with
// "always" the heap gets them without advice, with "never" not at all.
func hugeOnlyAdvised() bool {
	b, err := os.ReadFile(thpEnabled)
	return err == nil && bytes.Contains(b, []byte("[madvise]"))
}

// mappingEnd returns the end of the heap's mapping that holds addr, from
// /proc/self/maps, or 0: the end of the mapping that holds it, followed
// through the anonymous read-write mappings that go on from each end.
// The runtime maps its chunks one after another, and the kernel keeps
// adjacent ones as one mapping, but not where advice tells them apart:
// prefault's huge-page advice falls on the chunks mapped at the start,
// populate's on those it maps in, and a chunk mapped between the two has
// none (TestStartLeavesWhatWasMapped).
func mappingEnd(addr uintptr) uintptr {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0
	}
	defer f.Close()
	return heapEnd(bufio.NewScanner(f), addr)
}

// heapEnd is mappingEnd's reading of the lines of /proc/self/maps.
func heapEnd(sc *bufio.Scanner, addr uintptr) uintptr {
	end := uintptr(0)
	for sc.Scan() {
		// 7f0000000000-7f0000400000 rw-p 00000000 00:00 0
		lo, rest, _ := bytes.Cut(sc.Bytes(), []byte("-"))
		hi, rest, _ := bytes.Cut(rest, []byte(" "))
		from, err1 := strconv.ParseUint(string(lo), 16, 64)
		to, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || to <= from {
			continue // not a range (the kernel writes none such)
		}
		switch {
		case end == 0 && uintptr(from) <= addr && addr < uintptr(to):
			end = uintptr(to)
		case end != 0 && uintptr(from) == end && anonymousRW(rest):
			end = uintptr(to)
		case end != 0:
			return end
		}
	}
	return end
}

// anonymousRW says whether the rest of a line of /proc/self/maps after
// the range, "rw-p 00000000 00:00 0", is a private anonymous mapping
// that can be read and written, as the runtime maps its heap: unnamed,
// or named as the runtime names its heap where the kernel lets it
// ("[anon: Go: heap]", GODEBUG decoratemappings, Go 1.25).
func anonymousRW(rest []byte) bool {
	f := bytes.Fields(rest)
	if len(f) < 4 || string(f[0]) != "rw-p" || string(f[2]) != "00:00" || string(f[3]) != "0" {
		return false
	}
	return len(f) == 4 || string(bytes.Join(f[4:], []byte(" "))) == "[anon: Go: heap]"
}

// populate maps in every chunk from a.next on that the runtime has
// mapped, and returns how many bytes. The call over the first chunk the
// runtime has not mapped fails (EINVAL: the heap's reservation has no
// access; ENOMEM: nothing is mapped there) and the chunk is tried again
// next time. The runtime maps whole chunks, so a call that fails there
// has populated none of it.
//
// Where the host gives huge pages only where advised (a.huge), a chunk
// is advised MADV_HUGEPAGE before its first piece, so that each of its
// 2 MiB regions the process has not touched yet is populated as one huge
// page, not 512 pages: on the VMs Bulwark is measured on, a page
// populated costs about 5.6 us and a huge page about 130 (BENCHMARKS.md,
// session 41). Once populated, it is advised MADV_NOHUGEPAGE, which keeps
// the huge pages made and is the host's default for the heap from then
// on: left advised, the kernel's khugepaged would collapse again each
// region the runtime's scavenger gave back pages of (a page kept there
// is enough), undoing the scavenger's work for as long as the process
// runs; that is why the runtime stopped asking for huge pages (Go 1.21.1).
// The advice given to a chunk the runtime has not mapped yet falls on its
// reservation and is lost when it is mapped; it is given again at the
// next look.
func (a *ahead) populate() uintptr {
	from := a.next
	for {
		if a.huge && a.next%chunkSize == 0 {
			advise(a.next, chunkSize, unix.MADV_HUGEPAGE)
		}
		if populatePiece(a.next) != nil {
			break
		}
		a.next += pieceSize
		if a.huge && a.next%chunkSize == 0 {
			advise(a.next-chunkSize, chunkSize, unix.MADV_NOHUGEPAGE)
		}
	}
	return a.next - from
}

// pieceSize is how much of a chunk one call maps in: about 64 us of a
// system call that holds the process's memory map for reading, in which
// the runtime cannot map the heap's next chunk (it waits for the write
// lock). A whole chunk a call took a millisecond, and now and then, the
// thread descheduled on a loaded host, over a hundred.
const pieceSize = 256 << 10

// populatePiece maps in the piece at addr, writable. The call is made
// without telling the runtime, as a page fault is: told, the runtime
// gives the goroutine's P to another after 20 us, and the goroutine,
// back from each piece, waits for one behind every runnable goroutine
// (a thousand agents'), while the heap it should map in ahead is touched
// a page at a time. A piece holds the P no longer than the faults it
// saves would.
func populatePiece(addr uintptr) error {
	return advise(addr, pieceSize, unix.MADV_POPULATE_WRITE)
}

// advise is madvise, made without telling the runtime (populatePiece).
func advise(addr, n uintptr, advice int) error {
	_, _, errno := unix.RawSyscall(unix.SYS_MADVISE, addr, n, uintptr(advice))
	if errno != 0 {
		return errno
	}
	return nil
}
