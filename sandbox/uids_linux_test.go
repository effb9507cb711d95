package sandbox

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// allocN takes n slots from a and fails the test on an error.
func allocN(t *testing.T, a *uidAllocator, n int) []uint32 {
	t.Helper()
	var out []uint32
	for range n {
		s, err := a.alloc()
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
	a, b := &uidAllocator{dir: dir}, &uidAllocator{dir: dir}
	defer a.close()
	defer b.close()
	owner := map[uint32]string{}
	for round := range 3 {
		for _, x := range []struct {
			name string
			a    *uidAllocator
		}{{"first", a}, {"second", b}} {
			for _, s := range allocN(t, x.a, slotsPerBlock/2+round) {
				if prev, ok := owner[s]; ok {
					t.Fatalf("slot %d (uid %d) handed out by the %s allocator and, before, the %s", s, uidBase+2*s, x.name, prev)
				}
				owner[s] = x.name
			}
		}
	}
	// A slot given back is handed out again by its own process only.
	s := allocN(t, a, 1)[0]
	a.free(s)
	if got := allocN(t, b, 1)[0]; got == s {
		t.Errorf("slot %d freed by one process went to the other", s)
	}
}

// When a process ends its leases end with it: its blocks go to the next.
func TestUIDLeaseEndsWithItsHolder(t *testing.T) {
	dir := t.TempDir()
	a := &uidAllocator{dir: dir}
	first := allocN(t, a, 1)[0]
	a.close()
	b := &uidAllocator{dir: dir}
	defer b.close()
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
	if len(theirs) != slotsPerBlock+10 {
		t.Fatalf("the helper process leased %d slots, want %d", len(theirs), slotsPerBlock+10)
	}
	a := &uidAllocator{dir: dir}
	defer a.close()
	for _, s := range allocN(t, a, 2*slotsPerBlock) {
		if theirs[s] {
			t.Fatalf("slot %d (uid %d) handed out by both processes", s, uidBase+2*s)
		}
	}
}

// TestUIDLeaseHelperProcess is the other process of TestUIDLeasesTwoProcesses.
func TestUIDLeaseHelperProcess(t *testing.T) {
	dir := os.Getenv("BULWARK_UID_LEASE_HELPER")
	if dir == "" {
		t.Skip("run by TestUIDLeasesTwoProcesses")
	}
	a := &uidAllocator{dir: dir}
	for _, s := range allocN(t, a, slotsPerBlock+10) {
		fmt.Printf("slot %d\n", s)
	}
	fmt.Println("held")
	io.Copy(io.Discard, os.Stdin) // hold the leases until the parent is done
}
