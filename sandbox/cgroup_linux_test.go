package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A slot's cgroups outlive its sandbox and serve the slot's next one. These
// tests prove that the next sandbox gets them as good as new: no process of
// before left in them, its own limits, and counters that say nothing of
// what an earlier sandbox ran into.

func readCgroupFile(t *testing.T, dir, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// leaseSlot leases a uid slot as start does: from the host's leases as
// root, from the user's own ones otherwise (the suite runs as both).
func leaseSlot(t *testing.T) uint32 {
	t.Helper()
	alloc, free := uids.Alloc, uids.Free
	if rl := rootless(); rl != nil {
		alloc, free = rl.alloc, rl.free
	}
	slot, err := alloc()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { free(slot) })
	return slot
}

func TestSlotCgroupReusedEmptyAndReset(t *testing.T) {
	requireSandbox(t)
	ctrls, err := cgroupsOnce()
	if err != nil {
		t.Fatal(err)
	}
	slot := leaseSlot(t)
	first, err := newCgroup(ctrls, int64(slot), 64<<20, 10, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	if !first.keep {
		t.Fatalf("slot %d's groups are not kept for reuse", slot)
	}
	// A leftover: a process in every group of the slot that has charged
	// page cache to it, as a sandbox that wrote a file would have.
	data := filepath.Join(t.TempDir(), "f")
	left := exec.Command("sh", "-c", "read go; dd if=/dev/zero of="+data+" bs=1M count=16 conv=fsync 2>/dev/null; echo written; exec sleep 60")
	in, _ := left.StdinPipe()
	out, _ := left.StdoutPipe()
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	defer left.Process.Kill()
	for _, dir := range first.dirs {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(left.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	in.Write([]byte("go\n"))
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "written\n" {
		t.Fatalf("leftover process: %q, %v", line, err)
	}
	mem := first.dirs["memory"]
	if !first.v2["memory"] {
		if used, _ := strconv.ParseInt(readCgroupFile(t, mem, "memory.usage_in_bytes"), 10, 64); used < 8<<20 {
			t.Fatalf("set-up: the leftover charged %d bytes, want at least 8 MiB", used)
		}
	}

	// The first sandbox gives its groups up with the leftover still in
	// them: release after the init was reaped takes no look at them (its
	// pid namespace held every process of theirs), so only the reuse's
	// reset stands between the leftover and the next sandbox.
	first.release(true)
	if err := left.Process.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("release after the init's end touched the groups: the leftover is gone (%v)", err)
	}
	second, err := newCgroup(ctrls, int64(slot), 128<<20, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer second.remove()
	for c, dir := range first.dirs {
		if second.dirs[c] != dir {
			t.Errorf("controller %s: second sandbox got %s, want the slot's %s again", c, second.dirs[c], dir)
		}
	}
	done := make(chan error, 1)
	go func() { done <- left.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("the leftover process exited normally: it was not killed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the leftover process survived the reuse of its group")
	}
	for c, dir := range second.dirs {
		files := []string{"cgroup.procs"}
		if !second.v2[c] {
			files = append(files, "tasks")
		}
		for _, f := range files {
			if got := readCgroupFile(t, dir, f); got != "" {
				t.Errorf("%s/%s = %q after reuse, want empty", dir, f, got)
			}
		}
	}
	want := map[string]string{"pids/pids.max": "20"}
	if second.v2["memory"] {
		want["memory/memory.max"] = strconv.Itoa(128 << 20)
	} else {
		want["memory/memory.limit_in_bytes"] = strconv.Itoa(128 << 20)
		want["memory/memory.failcnt"] = "0"
	}
	if second.v2["cpu"] {
		want["cpu/cpu.max"] = "100000 100000"
	} else {
		want["cpu/cpu.cfs_quota_us"] = "100000"
	}
	for k, v := range want {
		c, f, _ := strings.Cut(k, "/")
		if got := readCgroupFile(t, second.dirs[c], f); got != v {
			t.Errorf("%s after reuse = %s, want %s", k, got, v)
		}
	}
	if !second.v2["memory"] {
		// The leftover's page cache was given back with the group.
		// The kernel's own objects of the group stay charged (a few
		// hundred KiB); the 16 MiB of the leftover must be gone.
		for _, f := range []string{"memory.usage_in_bytes", "memory.max_usage_in_bytes"} {
			if used, _ := strconv.ParseInt(readCgroupFile(t, mem, f), 10, 64); used > 1<<20 {
				t.Errorf("%s = %d after reuse, want the last sandbox's charges gone", f, used)
			}
		}
	}
}

// TestLimitsHitDoNotLeakToTheSlotsNextSandbox: a sandbox that ran into its
// memory and process limits leaves the oom and pids counters raised (the
// kernel cannot reset them); the slot's next sandbox must not report them.
func TestLimitsHitDoNotLeakToTheSlotsNextSandbox(t *testing.T) {
	requireSandbox(t)
	ctx := context.Background()
	// Fresh inits, and no spare kept: a spare leased its slot while the
	// first sandbox held its own, and the second would take it.
	dropSpare()
	spec := Spec{AllowExec: []string{"python3", "true"}, Memory: 96 << 20, Pids: 8, Timeout: 20 * time.Second, FreshInit: true}.withDefaults()
	spec.Stdin = strings.NewReader(`import os, time
kids = []
try:
    for i in range(20):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        kids.append(pid)
except OSError:
    pass
a = bytearray(512 << 20)
`)
	b, err := start(spec)
	if err != nil {
		t.Fatal(err)
	}
	dirs := b.cg.dirs
	res, err := b.run(ctx, []string{"python3", "-"}, stdio{in: spec.Stdin})
	if err != nil {
		t.Fatal(err)
	}
	b.cleanup()
	if !slicesContains(res.LimitHit, "memory") || !slicesContains(res.LimitHit, "pids") {
		t.Fatalf("set-up: first sandbox LimitHit = %v, want memory and pids (exit %d, stderr %s)", res.LimitHit, res.ExitCode, res.Stderr)
	}
	spec.Stdin = nil
	b, err = start(spec)
	if err != nil {
		t.Fatal(err)
	}
	if b.cg.dirs["memory"] != dirs["memory"] {
		b.cleanup()
		t.Fatalf("the second sandbox got %s, not the slot's group %s again: nothing tested", b.cg.dirs["memory"], dirs["memory"])
	}
	res, err = b.run(ctx, []string{"true"}, stdio{})
	if err != nil {
		t.Fatal(err)
	}
	b.cleanup()
	if res.ExitCode != 0 || len(res.LimitHit) != 0 {
		t.Errorf("second sandbox of the slot: exit %d, LimitHit %v, want 0 and none", res.ExitCode, res.LimitHit)
	}
	assertNothingLeft(t)
}

// A sandbox without a slot of its own (not root, no subordinate ids: every
// sandbox has slot 0) never shares a group with another: reusing the
// slot's name would put concurrent sandboxes in one group, and the reset
// of the second would kill the first's processes.
func TestCgroupWithoutOwnSlotIsFresh(t *testing.T) {
	requireSandbox(t)
	ctrls, err := cgroupsOnce()
	if err != nil {
		t.Fatal(err)
	}
	a, err := newCgroup(ctrls, -1, 64<<20, 10, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	defer a.remove()
	b, err := newCgroup(ctrls, -1, 64<<20, 10, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	defer b.remove()
	if a.keep || b.keep {
		t.Error("groups without a slot are kept for reuse")
	}
	for c, dir := range a.dirs {
		if b.dirs[c] == dir {
			t.Errorf("controller %s: two sandboxes without a slot share %s", c, dir)
		}
		if strings.Contains(filepath.Base(dir), "slot") {
			t.Errorf("controller %s: a sandbox without a slot got the slot group %s", c, dir)
		}
	}
}

// The groups a bulwark process that is gone left behind (named by its
// pid) are swept by the next process that makes such groups itself; a
// slot's groups, named by the slot, are made without a listing of the
// controllers' folders.
func TestStaleGroupsSweptByFreshGroupsOnly(t *testing.T) {
	requireSandbox(t)
	ctrls, err := cgroupsOnce()
	if err != nil {
		t.Fatal(err)
	}
	reapedStale.Clear()
	t.Cleanup(reapedStale.Clear)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	var stale []string
	for _, c := range ctrls {
		dir := filepath.Join(c.Parent, fmt.Sprintf("bulwark-sandbox-%d-1", gone.Process.Pid))
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(dir) })
		stale = append(stale, dir)
	}
	slot, err := newCgroup(ctrls, int64(leaseSlot(t)), 64<<20, 10, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	slot.release(false)
	for _, dir := range stale {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("a slot's groups swept %s (%v): they list the controllers' folders", dir, err)
		}
	}
	fresh, err := newCgroup(ctrls, -1, 64<<20, 10, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	fresh.remove()
	for _, dir := range stale {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("fresh groups left the stale group %s (%v)", dir, err)
		}
	}
}

// Two Bulwark processes whose slot leases disagree (a user's two
// processes with different XDG_RUNTIME_DIR or TMPDIR lease in different
// folders) may both take the same slot. The slot's groups are then still
// one sandbox's at a time: the second gets fresh groups, and its reset
// never kills the first's processes.
func TestSlotCgroupInUseIsNotReset(t *testing.T) {
	requireSandbox(t)
	ctrls, err := cgroupsOnce()
	if err != nil {
		t.Fatal(err)
	}
	slot := leaseSlot(t)
	first, err := newCgroup(ctrls, int64(slot), 64<<20, 10, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	defer first.release(false)
	running := exec.Command("sleep", "60")
	if err := running.Start(); err != nil {
		t.Fatal(err)
	}
	defer running.Process.Kill()
	for _, dir := range first.dirs {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(running.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- running.Wait() }()

	second, err := newCgroup(ctrls, int64(slot), 64<<20, 10, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	second.release(false)
	for c, dir := range first.dirs {
		if second.dirs[c] == dir {
			t.Errorf("controller %s: a second sandbox of slot %d got %s while the first still had it", c, slot, dir)
		}
	}
	select {
	case err := <-done:
		t.Errorf("the first sandbox's process was killed by the second's set-up (%v)", err)
	case <-time.After(200 * time.Millisecond):
	}

	// Once the first gives the groups up, the slot's next sandbox gets
	// them again.
	first.release(false)
	third, err := newCgroup(ctrls, int64(slot), 64<<20, 10, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	defer third.release(false)
	for c, dir := range first.dirs {
		if third.dirs[c] != dir {
			t.Errorf("controller %s: the slot's next sandbox got %s, want the slot's %s again", c, third.dirs[c], dir)
		}
	}
}

// With cgroup v2 every controller is in one group: the slot's lock is
// taken once, or the sandbox would find its own lock and never reuse the
// slot's group. (A folder laid out as a v2 group stands in for one: this
// host's hierarchy may be v1.)
func TestSlotCgroupV2OneLock(t *testing.T) {
	parent := t.TempDir()
	var ctrls []CgroupController
	for _, c := range controllers {
		ctrls = append(ctrls, CgroupController{Name: c, Version: 2, Parent: parent})
	}
	os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("cpu memory pids\n"), 0o644)
	slotDir := filepath.Join(parent, slotCgroup(7))
	os.Mkdir(slotDir, 0o755)
	for _, f := range []string{"cgroup.procs", "memory.current", "memory.events", "pids.events", "memory.max", "memory.swap.max", "pids.max", "cpu.max"} {
		os.WriteFile(filepath.Join(slotDir, f), nil, 0o644)
	}
	cg, err := newCgroup(ctrls, 7, 64<<20, 10, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	defer cg.unlock()
	for c, dir := range cg.dirs {
		if dir != slotDir {
			t.Errorf("controller %s: got %s, want the slot's group %s", c, dir, slotDir)
		}
	}
	if len(cg.locks) != 1 {
		t.Errorf("%d locks held on one group, want 1", len(cg.locks))
	}
}

// A leftover that forks as fast as it can, at its pids limit, races the
// reset's kills: the slot's next sandbox still gets its groups empty, and
// no process of the bomb survives.
func TestSlotCgroupResetOutrunsAForkBomb(t *testing.T) {
	requireSandbox(t)
	ctrls, err := cgroupsOnce()
	if err != nil {
		t.Fatal(err)
	}
	slot := leaseSlot(t)
	first, err := newCgroup(ctrls, int64(slot), 64<<20, 32, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	// This test process's own: another's bomb (a suite running beside
	// this one) is not this reset's to kill.
	marker := fmt.Sprintf("bulwark-forkbomb-leftover-%d", os.Getpid())
	bomb := exec.Command("sh", "-c", "read go; exec python3 -c 'import os, sys\nwhile True:\n    try: os.fork()\n    except OSError: pass' "+marker)
	in, _ := bomb.StdinPipe()
	if err := bomb.Start(); err != nil {
		t.Fatal(err)
	}
	defer bomb.Process.Kill()
	// Whatever fails below, the bomb does not outlive the test: it had
	// (32 processes spinning at their pids limit, found by the next run
	// of this test, anyone's, by the marker).
	defer emptyGroup(first.dirs["pids"], first.v2["pids"])
	for _, dir := range first.dirs {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(bomb.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}
	in.Write([]byte("go\n"))
	go bomb.Wait()
	pids := first.dirs["pids"]
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; n < 24; n = len(strings.Fields(readCgroupFile(t, pids, "cgroup.procs"))) {
		if time.Now().After(deadline) {
			t.Fatalf("set-up: the bomb reached %d processes, want at least 24", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	first.unlock() // given up with the bomb still in its groups

	second, err := newCgroup(ctrls, int64(slot), 64<<20, 32, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	defer second.release(false)
	if second.dirs["pids"] != pids {
		t.Fatalf("the reset gave up on the bomb: the slot's next sandbox got %s, not %s", second.dirs["pids"], pids)
	}
	for c, dir := range second.dirs {
		if got := readCgroupFile(t, dir, "cgroup.procs"); got != "" {
			t.Errorf("%s: %s/cgroup.procs = %q after the reset, want empty", c, dir, got)
		}
	}
	time.Sleep(100 * time.Millisecond)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline")); err == nil && strings.Contains(string(b), marker) {
			t.Errorf("process %s of the bomb survived the reset: %q", e.Name(), b)
		}
	}
}

// v1 lets one thread join a group alone (the init's own way in): a process
// whose only thread in the slot's groups is not its main one is a
// leftover too, and the reset ends the whole process.
func TestSlotCgroupResetKillsAThreadThatJoinedAlone(t *testing.T) {
	requireSandbox(t)
	ctrls, err := cgroupsOnce()
	if err != nil {
		t.Fatal(err)
	}
	slot := leaseSlot(t)
	first, err := newCgroup(ctrls, int64(slot), 64<<20, 32, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	var tasks []string
	for c, dir := range first.dirs {
		if first.v2[c] {
			continue
		}
		tasks = append(tasks, filepath.Join(dir, "tasks"))
	}
	if len(tasks) == 0 {
		first.release(false)
		t.Skip("no v1 controller: a v2 group holds whole processes")
	}
	// Main thread outside; a second thread writes its own id into the
	// groups' tasks files, then both wait.
	prog := `import sys, threading, time
def join():
    for f in sys.argv[1:]:
        with open(f, "w") as t: t.write(str(threading.get_native_id()))
    print("joined", flush=True)
    time.sleep(60)
threading.Thread(target=join).start()
time.sleep(60)
`
	left := exec.Command("python3", append([]string{"-c", prog}, tasks...)...)
	out, _ := left.StdoutPipe()
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	defer left.Process.Kill()
	if line, err := bufio.NewReader(out).ReadString('\n'); line != "joined\n" {
		t.Fatalf("set-up: %q, %v", line, err)
	}
	done := make(chan error, 1)
	go func() { done <- left.Wait() }()
	first.unlock()

	second, err := newCgroup(ctrls, int64(slot), 64<<20, 32, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	defer second.release(false)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a process with one thread in the slot's groups survived their reset")
	}
	for c, dir := range second.dirs {
		if !second.v2[c] {
			if got := readCgroupFile(t, dir, "tasks"); got != "" {
				t.Errorf("%s/tasks = %q after the reset, want empty", dir, got)
			}
		}
	}
}

// A leftover the kernel cannot end yet (frozen by the v1 freezer: its
// SIGKILL waits for the thaw) keeps the slot's groups from being emptied:
// the slot's next sandbox gets fresh groups with its own limits, not the
// groups with the leftover in them.
func TestSlotCgroupWithAFrozenLeftoverIsNotReused(t *testing.T) {
	requireSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("freezing a process needs a freezer group of root's")
	}
	freezerRoot := cgroupRoot + "/freezer"
	if _, err := os.Stat(filepath.Join(freezerRoot, "tasks")); err != nil {
		t.Skip("no v1 freezer hierarchy")
	}
	ctrls, err := cgroupsOnce()
	if err != nil {
		t.Fatal(err)
	}
	slot := leaseSlot(t)
	first, err := newCgroup(ctrls, int64(slot), 64<<20, 10, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	left := exec.Command("sleep", "60")
	if err := left.Start(); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(left.Process.Pid)
	freezer := filepath.Join(freezerRoot, fmt.Sprintf("bulwark-test-frozen-%d", os.Getpid()))
	if err := os.Mkdir(freezer, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.WriteFile(filepath.Join(freezer, "freezer.state"), []byte("THAWED"), 0)
		left.Process.Kill()
		left.Wait()
		for i := 0; i < 100 && os.Remove(freezer) != nil; i++ {
			time.Sleep(10 * time.Millisecond)
		}
	})
	for _, dir := range append(slices.Collect(maps.Values(first.dirs)), freezer) {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(pid), 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(freezer, "freezer.state"), []byte("FROZEN"), 0); err != nil {
		t.Fatal(err)
	}
	first.unlock()

	second, err := newCgroup(ctrls, int64(slot), 128<<20, 20, 1)
	if err != nil {
		t.Fatalf("the slot's next sandbox got no groups at all: %v", err)
	}
	defer second.release(false)
	for c, dir := range first.dirs {
		if second.dirs[c] == dir {
			t.Errorf("controller %s: the slot's next sandbox got %s, with a frozen leftover in it", c, dir)
		}
		if got := readCgroupFile(t, second.dirs[c], "cgroup.procs"); got != "" {
			t.Errorf("%s/cgroup.procs = %q, want a group of the sandbox's own", second.dirs[c], got)
		}
	}
	if got := readCgroupFile(t, second.dirs["pids"], "pids.max"); got != "20" {
		t.Errorf("pids.max = %s, want the sandbox's 20", got)
	}
}

// readKernFile reads a file whole, however long, and writeKernFile
// replaces a file's content but never creates one: a missing optional
// group file (memory.memsw.* without swap accounting) is an ErrNotExist.
func TestKernFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	long := strings.Repeat("0123456789", 700) // several of readKernFile's first buffer
	if err := os.WriteFile(p, []byte(long), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := readKernFile(p); err != nil || string(b) != long {
		t.Errorf("readKernFile of a %d-byte file = %d bytes, %v; want it whole", len(long), len(b), err)
	}
	if err := writeKernFile(p, []byte("12")); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "12" {
		t.Errorf("after writeKernFile(%q) the file holds %q", "12", b)
	}
	missing := filepath.Join(dir, "missing")
	if err := writeKernFile(missing, []byte("1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("writeKernFile of a missing file = %v, want an ErrNotExist", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("writeKernFile created a missing file")
	}
	if _, err := readKernFile(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("readKernFile of a missing file = %v, want an ErrNotExist", err)
	}
	if b, err := readKernFile("/proc/self/status"); err != nil || !strings.Contains(string(b), "\nPid:") {
		t.Errorf("readKernFile(/proc/self/status) = %.40q, %v", b, err)
	}
}

// A write the kernel gives up with EINTR (a memory limit's reclaim with a
// signal pending: TestSlotCgroupResetKillsAThreadThatJoinedAlone failed so,
// its killed child's SIGCHLD arriving) is written again; one that keeps
// failing so ends with the error.
func TestKernFileWriteAgainAfterEINTR(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	defer func() { kernWrite = unix.Write }()
	fails := 3
	kernWrite = func(fd int, b []byte) (int, error) {
		if fails > 0 {
			fails--
			return 0, unix.EINTR
		}
		return unix.Write(fd, b)
	}
	if err := writeKernFile(p, []byte("64")); err != nil {
		t.Fatalf("writeKernFile interrupted 3 times = %v, want it written", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "64" {
		t.Errorf("the file holds %q, want 64", b)
	}
	fails = kernWriteTries + 1
	if err := writeKernFile(p, []byte("1")); !errors.Is(err, unix.EINTR) {
		t.Errorf("writeKernFile interrupted every time = %v, want EINTR", err)
	}
}
