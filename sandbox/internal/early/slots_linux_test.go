package early

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// allocN takes n slots from a and fails the test on an error.
func allocN(t *testing.T, a *Allocator, n int) []uint32 {
	t.Helper()
	var out []uint32
	for range n {
		s, err := a.Alloc()
		if err != nil {
			t.Fatalf("alloc: %v", err)
		}
		out = append(out, s)
	}
	return out
}

// Two allocators on one lease folder, as two Bulwark processes on one
// host have, never hand out the same slot (so the same host uid), taking
// turns across more than one block each.
func TestUIDLeasesDisjoint(t *testing.T) {
	dir := t.TempDir()
	a, b := &Allocator{Dir: dir}, &Allocator{Dir: dir}
	defer a.Close()
	defer b.Close()
	owner := map[uint32]string{}
	for round := range 3 {
		for _, x := range []struct {
			name string
			a    *Allocator
		}{{"first", a}, {"second", b}} {
			for _, s := range allocN(t, x.a, SlotsPerBlock/2+round) {
				if prev, ok := owner[s]; ok {
					t.Fatalf("slot %d (uid %d) handed out by the %s allocator and, before, the %s", s, UIDBase+2*s, x.name, prev)
				}
				owner[s] = x.name
			}
		}
	}
	// A slot given back is handed out again by its own process only.
	s := allocN(t, a, 1)[0]
	a.Free(s)
	if got := allocN(t, b, 1)[0]; got == s {
		t.Errorf("slot %d freed by one process went to the other", s)
	}
}

// A slot an ended holder's sandbox may still have processes in is used
// but not held: Held is the slots handed out and not freed, whatever
// the block's last holder left (as the tests that count them find on a
// host where other processes run sandboxes).
func TestHeldSlotsLeaveOutTheSkipped(t *testing.T) {
	dir := t.TempDir()
	a := &Allocator{Dir: dir, NBlocks: 1, PerBlock: 4, SlotUIDs: noOnesUIDs}
	allocN(t, a, 2)
	a.InitStarted(0, os.Getpid()) // an init that runs
	a.Close()                     // its holder ends without freeing it

	b := &Allocator{Dir: dir, NBlocks: 1, PerBlock: 4, SlotUIDs: noOnesUIDs}
	defer b.Close()
	got := allocN(t, b, 2)
	held := b.Held()
	if !slices.Equal(held, got) {
		t.Errorf("with slots %v handed out, held = %v", got, held)
	}
	for _, s := range got {
		b.Free(s)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.skipped[0]; !ok {
		t.Fatalf("slot 0, whose init runs, was not skipped: %v", b.skipped)
	}
	if held := b.held(); len(held) > 0 {
		t.Errorf("with every slot freed, held = %v (used %v, skipped %v)", held, b.used, b.skipped)
	}
}

// noOnesUIDs maps slot s to a uid above the sandboxes' range, which no
// process has: the slots of a test's lease folder, unlike the host's
// uids, which other sandboxes on the host may be running as.
func noOnesUIDs(s uint32) []uint32 { return []uint32{UIDBase + 2*Slots + s} }

// When a process ends its leases end with it: its blocks go to the next.
func TestUIDLeaseEndsWithItsHolder(t *testing.T) {
	dir := t.TempDir()
	a := &Allocator{Dir: dir, SlotUIDs: noOnesUIDs}
	first := allocN(t, a, 1)[0]
	a.Close()
	b := &Allocator{Dir: dir, SlotUIDs: noOnesUIDs}
	defer b.Close()
	if got := allocN(t, b, 1)[0]; got != first {
		t.Errorf("after the holder closed, slot %d, want its block's first slot %d again", got, first)
	}
}

// The same with two real processes: this test binary, started again as
// the helper below, leases and holds slots while this process takes its
// own; the two sets do not meet.
func TestUIDLeasesTwoProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestUIDLeaseHelperProcess$")
	cmd.Env = append(os.Environ(), "BULWARK_UID_LEASE_HELPER="+dir)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	theirs := map[uint32]bool{}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if line == "held" {
			break
		}
		if v, ok := strings.CutPrefix(line, "slot "); ok {
			n, _ := strconv.ParseUint(v, 10, 32)
			theirs[uint32(n)] = true
		}
	}
	if len(theirs) != SlotsPerBlock+10 {
		t.Fatalf("the helper process leased %d slots, want %d", len(theirs), SlotsPerBlock+10)
	}
	a := &Allocator{Dir: dir}
	defer a.Close()
	for _, s := range allocN(t, a, 2*SlotsPerBlock) {
		if theirs[s] {
			t.Fatalf("slot %d (uid %d) handed out by both processes", s, UIDBase+2*s)
		}
	}
}

// TestUIDLeaseHelperProcess is the other process of TestUIDLeasesTwoProcesses.
func TestUIDLeaseHelperProcess(t *testing.T) {
	dir := os.Getenv("BULWARK_UID_LEASE_HELPER")
	if dir == "" {
		t.Skip("run by TestUIDLeasesTwoProcesses")
	}
	a := &Allocator{Dir: dir}
	for _, s := range allocN(t, a, SlotsPerBlock+10) {
		fmt.Printf("slot %d\n", s)
	}
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin) // hold the leases until the parent is done
}

// A holder that ends leaves its sandboxes' inits dying (their parent
// death signal) and each init's end waits for its commands: the next
// holder of the block skips every slot whose recorded init still runs,
// and every slot taken with no init recorded whose uids a process still
// has, until they are gone; the rest of the block it hands out as before.
func TestUIDLeaseSkipsSlotsOfAnEndedHolder(t *testing.T) {
	dir := t.TempDir()
	self := uint32(os.Geteuid())
	// Slot 3's uids are this process's own: a process runs as them.
	uidsOf := func(s uint32) []uint32 {
		if s == 3 {
			return []uint32{self}
		}
		return noOnesUIDs(s)
	}
	a := &Allocator{Dir: dir, NBlocks: 1, PerBlock: 5, SlotUIDs: uidsOf}
	allocN(t, a, 4)
	live := exec.Command("sleep", "60")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { live.Process.Kill(); live.Wait() }()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	a.InitStarted(0, live.Process.Pid) // its init runs
	a.InitStarted(1, gone.Process.Pid) // its init has ended
	// 2 and 3 taken with no init recorded: 3's uids have a process.
	a.Close() // the holder ends without freeing them

	b := &Allocator{Dir: dir, NBlocks: 1, PerBlock: 5, SlotUIDs: uidsOf}
	defer b.Close()
	got := allocN(t, b, 3)
	if want := []uint32{1, 2, 4}; !slices.Equal(got, want) {
		t.Fatalf("the next holder handed out slots %v, want %v (0's init runs, 3's uids have a process)", got, want)
	}
	_, err := b.Alloc()
	if err == nil || !strings.Contains(err.Error(), "2 slots skipped") {
		t.Fatalf("with only skipped slots left, alloc = %v, want an error that says 2 slots were skipped", err)
	}
	live.Process.Kill()
	live.Wait()
	if s, err := b.Alloc(); err != nil || s != 0 {
		t.Fatalf("once slot 0's init has ended, alloc = %d, %v, want slot 0", s, err)
	}
	b.Free(0)
	if s, err := b.Alloc(); err != nil || s != 0 {
		t.Fatalf("slot 0 freed: alloc = %d, %v, want it again", s, err)
	}
}

// What a holder records is cleared as its slots are freed: a holder that
// freed its slots before it ended leaves the next one the whole block.
func TestUIDLeaseFreedSlotsLeaveNoMark(t *testing.T) {
	dir := t.TempDir()
	a := &Allocator{Dir: dir, NBlocks: 1, PerBlock: 3}
	slots := allocN(t, a, 3)
	a.InitStarted(slots[0], os.Getpid()) // a pid that runs
	for _, s := range slots {
		a.Free(s)
	}
	a.Close()
	b := &Allocator{Dir: dir, NBlocks: 1, PerBlock: 3}
	defer b.Close()
	if got := allocN(t, b, 3); !slices.Equal(got, []uint32{0, 1, 2}) {
		t.Fatalf("after a holder freed its slots the next one got %v, want all three", got)
	}
}
