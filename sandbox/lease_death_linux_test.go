package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A host killed while its sandbox runs a command: its uid lease ends at
// once, while its init and command die by the init's parent death signal,
// which takes a while (here as long as the test likes: they are frozen,
// and a frozen process does not die of SIGKILL until thawed). A host that
// leases the block at once is not given that sandbox's slot while a
// process of it remains.
func TestUIDLeaseOfAKilledHost(t *testing.T) {
	requireRootSandbox(t)
	freezer := "/sys/fs/cgroup/freezer"
	if _, err := os.Stat(filepath.Join(freezer, "tasks")); err != nil {
		t.Skip("no v1 freezer here to hold the killed host's sandbox")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUIDLeaseKilledHostHelper$")
	cmd.Env = append(os.Environ(), "BULWARK_KILLED_HOST_HELPER=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() }()
	var slot uint32
	found := false
	sc := bufio.NewScanner(stdout)
	for !found && sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "slot "); ok {
			n, _ := strconv.ParseUint(v, 10, 32)
			slot, found = uint32(n), true
		}
	}
	if !found {
		t.Fatalf("the helper host did not start its sandbox: %v", sc.Err())
	}
	go io.Copy(io.Discard, stdout)
	pids := uidProcesses(slot)
	if len(pids) < 2 {
		t.Fatalf("slot %d: processes %v, want the init and its sleep", slot, pids)
	}
	group := filepath.Join(freezer, fmt.Sprintf("bulwark-test-%d", os.Getpid()))
	if err := os.Mkdir(group, 0o755); err != nil {
		t.Fatal(err)
	}
	thaw := func() {
		os.WriteFile(filepath.Join(group, "freezer.state"), []byte("THAWED"), 0)
	}
	defer func() {
		thaw()
		slotEnded(slot, slotEndWait)
		os.Remove(group)
	}()
	for _, pid := range pids {
		if err := os.WriteFile(filepath.Join(group, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(group, "freezer.state"), []byte("FROZEN"), 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		b, _ := os.ReadFile(filepath.Join(group, "freezer.state"))
		if strings.TrimSpace(string(b)) == "FROZEN" {
			break
		}
		if i == 500 {
			t.Fatalf("the sandbox did not freeze: %s", b)
		}
		time.Sleep(10 * time.Millisecond)
	}

	cmd.Process.Kill()
	cmd.Wait()
	// A new host at once: an allocator of its own, which leases the
	// first block no live process holds, the killed host's among them.
	a := &uidAllocator{}
	defer a.Close()
	for range 3 {
		s, err := a.Alloc()
		if err != nil {
			t.Fatal(err)
		}
		if s == slot {
			t.Fatalf("slot %d handed out while the killed host's sandbox still has processes in it: %v", s, uidProcesses(slot))
		}
		if left := uidProcesses(s); len(left) > 0 {
			t.Fatalf("slot %d handed out while processes run as its uids: %v", s, left)
		}
	}
	// Where this allocator leased the killed host's block (another
	// process may have, on a host that runs other sandboxes), its slot
	// is the one left: not handed out while the sandbox is frozen, and
	// handed out once it has ended.
	mine := a.Leased(slot / slotsPerBlock)
	if mine {
		a.TakeAllBut(slot)
		if s, err := a.Alloc(); err != nil || s == slot {
			t.Fatalf("with only the killed host's slot %d left in its block, alloc = %d, %v, want a slot of another block while its sandbox still has processes: %v", slot, s, err, uidProcesses(slot))
		}
	} else {
		t.Logf("the killed host's block %d was leased by another process", slot/slotsPerBlock)
	}
	thaw()
	if !slotEnded(slot, slotEndWait) {
		t.Fatalf("the killed host's sandbox did not end once thawed: %v", uidProcesses(slot))
	}
	if !mine {
		return
	}
	a.TakeAllBut(slot)
	if s, err := a.Alloc(); err != nil || s != slot {
		t.Errorf("once the killed host's sandbox ended, alloc = %d, %v, want its slot %d", s, err, slot)
	}
}

// slotEndWait bounds the wait for a killed host's sandbox to end: its
// init, whose parent has ended, is reaped by pid 1, which (a VM's agent,
// a container's init) may do so only every second or two, and later
// under load.
const slotEndWait = time.Minute

// slotEnded waits up to d for no process (a zombie too) to run as slot's
// uids, and says whether none does.
func slotEnded(slot uint32, d time.Duration) bool {
	for deadline := time.Now().Add(d); len(uidProcesses(slot)) > 0; {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// TestUIDLeaseKilledHostHelper is the host TestUIDLeaseOfAKilledHost
// kills: it runs sleep in a sandbox, says its slot and waits.
func TestUIDLeaseKilledHostHelper(t *testing.T) {
	if os.Getenv("BULWARK_KILLED_HOST_HELPER") == "" {
		t.Skip("run by TestUIDLeaseOfAKilledHost")
	}
	p, err := Start(context.Background(), Spec{AllowExec: []string{"sleep"}, Timeout: time.Minute}, []string{"sleep", "60"})
	if err != nil {
		t.Fatal(err)
	}
	// The command has started once its output can be read: wait for
	// sleep to run as the command's uid.
	for i := 0; len(uidProcesses(p.box.slot)) < 2 && i < 500; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("slot %d\n", p.box.slot)
	io.Copy(io.Discard, os.Stdin)
}

// uidProcesses lists the processes running as a host uid of slot, by
// /proc/PID's owner (its effective uid).
func uidProcesses(slot uint32) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name(), &st) == nil && (st.Uid == uidBase+2*slot || st.Uid == uidBase+2*slot+1) {
			out = append(out, pid)
		}
	}
	return out
}
