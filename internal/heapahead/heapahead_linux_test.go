//go:build linux && (amd64 || arm64)

package heapahead

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/internal/mincore"
)

// kept holds what grow allocated, and what the heap grew by, for the
// test binary's life: freed, it would be laid out again by a later test
// on pages resident already. Its pages are released once each test ends.
var kept [][]byte

// grow makes the heap grow by a large allocation, which the runtime lays
// out on freshly mapped chunks and does not touch (they are zero), and
// returns it and the whole chunks it covers. With fresh, grow checks
// that none of them is resident yet.
func grow(t *testing.T, fresh bool) (b []byte, from, to uintptr) {
	t.Helper()
	b = make([]byte, 24<<20)
	kept = append(kept, b)
	p := uintptr(unsafe.Pointer(&b[0]))
	from = (p + chunkSize - 1) &^ (chunkSize - 1)
	to = (p + uintptr(len(b))) &^ (chunkSize - 1)
	t.Cleanup(func() { unix.Madvise(b, unix.MADV_DONTNEED) })
	for i, in := range mincore.Resident(t, from, to-from) {
		if in && fresh {
			t.Skipf("page %d of the fresh allocation's chunks resident before any populate", i)
		}
	}
	return b, from, to
}

func startOrSkip(t *testing.T, a *ahead) {
	t.Helper()
	if !a.start() {
		t.Skip("this kernel has no MADV_POPULATE_WRITE (Linux 5.14)")
	}
}

// The chunks the heap grows into are resident once populate has run,
// though nothing touched them, and populate says how many it mapped in.
func TestPopulateMapsInTheGrownHeap(t *testing.T) {
	var a ahead
	startOrSkip(t, &a)
	_, from, to := grow(t, true)
	if n := a.populate(); n < to-from {
		t.Errorf("populate mapped in %d bytes, want at least %d", n, to-from)
	}
	for i, in := range mincore.Resident(t, from, to-from) {
		if !in {
			t.Fatalf("page %d of the grown heap not resident after populate", i)
		}
	}
	if n := a.populate(); n != 0 {
		t.Errorf("a second populate, the heap not grown, mapped in %d bytes", n)
	}
}

// Where the host gives huge pages only where advised, populate advises
// each chunk it maps in MADV_HUGEPAGE first (the runtime maps its chunks
// with no advice) and MADV_NOHUGEPAGE once it is populated (so that
// khugepaged does not collapse what the scavenger gives back later). On a
// heap of its own, as the runtime lays one out (two chunks mapped, then
// the reservation, no access): both chunks end with "nh" and populated,
// in huge pages where the host had them; the reservation stays as it was.
func TestPopulateAsksForHugePages(t *testing.T) {
	if !hugeOnlyAdvised() {
		t.Skip("this host does not give huge pages only where advised: no advice is needed")
	}
	res, err := unix.Mmap(-1, 0, 4*chunkSize, unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(res)
	from := (uintptr(unsafe.Pointer(&res[0])) + chunkSize - 1) &^ (chunkSize - 1)
	if _, _, errno := unix.Syscall6(unix.SYS_MMAP, from, 2*chunkSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, ^uintptr(0), 0); errno != 0 {
		t.Fatalf("mmap of the chunks: %v", errno)
	}
	a := ahead{next: from, huge: true}
	if n := a.populate(); n != 2*chunkSize {
		if n == 0 {
			t.Skip("populate mapped in nothing: this kernel has no MADV_POPULATE_WRITE (Linux 5.14)?")
		}
		t.Fatalf("populate mapped in %d bytes, want the two chunks' %d", n, 2*chunkSize)
	}
	huge := 0
	for c := from; c < from+2*chunkSize; c += chunkSize {
		m := mincore.MappingOf(t, c)
		if !m.HasFlag("nh") || m.HasFlag("hg") || m.Start > c || m.End < c+chunkSize {
			t.Errorf("chunk %#x populated: mapping %#x-%#x, flags %v; want the chunk's with nh, not hg", c, m.Start, m.End, m.Flags)
		}
		if m.Start == c {
			huge += m.AnonHugePagesKiB
		}
	}
	for i, in := range mincore.Resident(t, from, 2*chunkSize) {
		if !in {
			t.Fatalf("page %d of the chunks not resident after populate", i)
		}
	}
	if r := mincore.MappingOf(t, from+2*chunkSize); r.HasFlag("nh") {
		t.Errorf("the reservation after the chunks was advised nh: %#x-%#x %v", r.Start, r.End, r.Flags)
	}
	t.Logf("the chunks hold %d KiB in huge pages", huge)
	if huge == 0 && hugePageFromAdvice(t) {
		t.Error("populate made no huge page, where a region advised and touched gets one")
	}
}

// hugePageFromAdvice says whether a 2 MiB region of a fresh mapping,
// advised MADV_HUGEPAGE and touched once, is a huge page: the host may
// have none to give (its memory fragmented).
func hugePageFromAdvice(t *testing.T) bool {
	b, err := unix.Mmap(-1, 0, 2*chunkSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	p := uintptr(unsafe.Pointer(&b[0]))
	r := (p + chunkSize - 1) &^ (chunkSize - 1)
	if err := unix.Madvise(b[r-p:r-p+chunkSize], unix.MADV_HUGEPAGE); err != nil {
		t.Fatal(err)
	}
	b[r-p] = 1
	return mincore.MappingOf(t, r).AnonHugePagesKiB > 0
}

// hugeOnlyAdvised reads the host's setting as the kernel writes it.
func TestHugeOnlyAdvised(t *testing.T) {
	b, err := os.ReadFile(thpEnabled)
	if err != nil {
		if hugeOnlyAdvised() {
			t.Error("huge pages only where advised, with no setting to read")
		}
		t.Skipf("no setting: %v", err)
	}
	if want := strings.Contains(string(b), "[madvise]"); hugeOnlyAdvised() != want {
		t.Errorf("hugeOnlyAdvised() = %v with %q", !want, b)
	}
}

// Pages given back to the system after their chunk was mapped in (as the
// runtime's scavenger does) are not mapped in again.
func TestPopulateLeavesReleasedPages(t *testing.T) {
	var a ahead
	startOrSkip(t, &a)
	_, from, to := grow(t, true)
	a.populate()
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, from, to-from, unix.MADV_DONTNEED); errno != 0 {
		t.Fatalf("madvise(MADV_DONTNEED): %v", errno)
	}
	a.populate()
	for i, in := range mincore.Resident(t, from, to-from) {
		if in {
			t.Fatalf("page %d, released, resident again after populate", i)
		}
	}
}

// Run maps in the heap as it grows, and returns when its context ends.
func TestFollowMapsInTheHeapAsItGrows(t *testing.T) {
	var a ahead
	startOrSkip(t, &a)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.follow(ctx); close(done) }()
	_, from, to := grow(t, false)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		in := mincore.Resident(t, to-chunkSize, chunkSize)
		if in[0] && in[len(in)-1] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the grown heap's last chunk (%#x-%#x) not resident after 30 s of follow", from, to)
		}
	}
	cancel()
	<-done
}

// What the heap had mapped when Run started is left as it is: the process
// has touched what it uses of it, and the rest may be what the runtime's
// scavenger gave back.
func TestStartLeavesWhatWasMapped(t *testing.T) {
	_, from, to := grow(t, true)
	var a ahead
	startOrSkip(t, &a)
	if a.next < to {
		t.Errorf("start leaves the heap from %#x on to populate, below the end of what was mapped (%#x)", a.next, to)
	}
	if n := a.populate(); n != 0 {
		t.Logf("populate mapped in %d bytes the heap grew into meanwhile", n)
	}
	for i, in := range mincore.Resident(t, from, to-from) {
		if in {
			t.Fatalf("page %d of what the heap had mapped before start resident after it", i)
		}
	}
}

// heapEnd follows the heap through mappings that advice split apart, and
// stops at the first that is not the heap's: a gap, no write access, a
// file's or a named mapping's.
func TestHeapEnd(t *testing.T) {
	const maps = `00400000-00c00000 r-xp 00000000 08:01 12 /bin/x
c000000000-c000400000 rw-p 00000000 00:00 0
c000400000-c000c00000 rw-p 00000000 00:00 0
c000c00000-c001000000 rw-p 00000000 00:00 0
c001000000-c004000000 ---p 00000000 00:00 0
7f0000000000-7f0000400000 rw-p 00000000 00:00 0
7f0000400000-7f0000600000 rw-p 00000000 00:00 0 [stack]
7f0000800000-7f0000a00000 rw-p 00000000 00:00 0
7f0000a00000-7f0000c00000 rw-p 00001000 08:01 13 /tmp/f
7f1000000000-7f1000400000 rw-p 00000000 00:00 0                          [anon: Go: heap]
7f1000400000-7f1000800000 rw-p 00000000 00:00 0                          [anon: Go: heap]
7f1000800000-7f1000c00000 rw-p 00000000 00:00 0                          [anon: Go: page alloc]
`
	for _, c := range []struct{ addr, want uintptr }{
		{0xc000001000, 0xc001000000},     // three advised apart, then the reservation
		{0xc000c00000, 0xc001000000},     // from the last
		{0x7f0000000000, 0x7f0000400000}, // then a named mapping
		{0x7f0000800000, 0x7f0000a00000}, // then a file's
		{0x7f1000000000, 0x7f1000800000}, // named by the runtime, then another name
		{0x5000, 0},                      // in none
		{0x7f0000700000, 0},              // in a gap
	} {
		if got := heapEnd(bufio.NewScanner(strings.NewReader(maps)), c.addr); got != c.want {
			t.Errorf("heapEnd(%#x) = %#x, want %#x", c.addr, got, c.want)
		}
	}
}

// start ends the huge-page advice prefault gives the heap's first arena
// at a process's start: the heap mapped so far is advised nh, as populate
// leaves the chunks it maps in.
func TestStartEndsTheStartsAdvice(t *testing.T) {
	if !hugeOnlyAdvised() {
		t.Skip("this host does not give huge pages only where advised: no advice is needed")
	}
	probe := new([64]byte)
	p := uintptr(unsafe.Pointer(probe))
	chunk := p &^ (chunkSize - 1)
	if err := advise(chunk, chunkSize, unix.MADV_HUGEPAGE); err != nil {
		t.Fatal(err)
	}
	if m := mincore.MappingOf(t, p); !m.HasFlag("hg") {
		t.Fatalf("the heap's chunk not advised hg: %v", m.Flags)
	}
	var a ahead
	startOrSkip(t, &a)
	if m := mincore.MappingOf(t, p); !m.HasFlag("nh") || m.HasFlag("hg") {
		t.Errorf("the heap's chunk after start: %#x-%#x %v, want nh, not hg", m.Start, m.End, m.Flags)
	}
	runtime.KeepAlive(probe)
}

// heapEnd reads whatever text it is given without failing, and an end it
// gives is past the address and the end of a line's range.
func FuzzHeapEnd(f *testing.F) {
	f.Add("c000000000-c000400000 rw-p 00000000 00:00 0\nc000400000-c000800000 rw-p 00000000 00:00 0 [anon: Go: heap]\n", uint64(0xc000001000))
	f.Add("0-1 rw-p\n1-2 rw-p 00000000 00:00 0\n", uint64(0))
	f.Add("ffffffffffffffff-0 r\n-\n\n", uint64(1))
	f.Fuzz(func(t *testing.T, maps string, addr uint64) {
		end := heapEnd(bufio.NewScanner(strings.NewReader(maps)), uintptr(addr))
		if end == 0 {
			return
		}
		if end <= uintptr(addr) {
			t.Fatalf("heapEnd(%#x) = %#x, not past the address", addr, end)
		}
		for sc := bufio.NewScanner(strings.NewReader(maps)); sc.Scan(); {
			_, r, _ := strings.Cut(sc.Text(), "-")
			r, _, _ = strings.Cut(r, " ")
			if hi, err := strconv.ParseUint(r, 16, 64); err == nil && uintptr(hi) == end {
				return
			}
		}
		t.Fatalf("heapEnd(%#x) = %#x, no line's end", addr, end)
	})
}
