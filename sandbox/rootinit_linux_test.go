package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// A root host forks its own init with syscall.ForkExec, not exec.Cmd's
// Start (whose first use in a process forks and reaps a child of its own
// to check pidfds, and opens /dev/null three times): the init is known by
// the pidfd of its clone, its stdio is /dev/null and its control socket
// is descriptor 3, as before; a kill through the pidfd ends it.
func TestRootInitForkedWithItsPidfd(t *testing.T) {
	b := beginHostForked(t)
	if !forkedByHost(b) || b.cmd.Process != nil || b.pidfd < 0 {
		t.Fatalf("host-forked init: started Cmd %v, pidfd %d; want no Cmd started, the clone's pidfd", b.cmd != nil && b.cmd.Process != nil, b.pidfd)
	}
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PIDFD, b.pidfd, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil); err != nil {
		t.Fatalf("waitid on the init's pidfd: %v (not this process's child?)", err)
	}
	for fd, want := range map[string]string{"0": "/dev/null", "1": "/dev/null", "2": "/dev/null", "3": "socket:"} {
		got, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", b.pid, fd))
		if err != nil || !strings.HasPrefix(got, want) {
			t.Errorf("the init's descriptor %s is %q (%v), want %s", fd, got, err, want)
		}
	}
	if err := b.awaitReady(); err != nil {
		t.Fatalf("the init did not get ready: %v", err)
	}
	b.kill()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the init did not end after a kill through its pidfd")
	}
}

// An init that a root host forks itself (no zygote, cgroup v1) is
// vforked from a thread set to the init's uid, its maps written after its
// execve (vforkInit). It must be what initproc.InitAttr made it: the same
// id maps, setgroups denied, new namespaces of each kind, and the init's
// host uid and gid from its start (never host root), with no
// supplementary groups.
func TestRootInitAsBefore(t *testing.T) {
	b := beginHostForked(t)
	if !forkedByHost(b) {
		t.Fatal("the init was not forked by this process")
	}
	checkInitAsInitAttr(t, b)
	if err := b.awaitReady(); err != nil {
		t.Fatalf("the init did not get ready: %v", err)
	}
}

// checkInitAsInitAttr checks that b's init has initproc.InitAttr's id
// maps for its slot, setgroups denied, its host uid and gid (never host
// root) and no supplementary groups, and a new namespace of each kind.
func checkInitAsInitAttr(t *testing.T, b *box) {
	t.Helper()
	initUID := uint32(uidBase + 2*b.slot + 1)
	cmdUID := initUID - 1
	attr := initproc.InitAttr(initUID, cmdUID, -1)
	proc := func(name string) string {
		t.Helper()
		out, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", b.pid, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	fields := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, m := range []struct {
		file string
		want []syscall.SysProcIDMap
	}{{"uid_map", attr.UidMappings}, {"gid_map", attr.GidMappings}} {
		var want []string
		for _, e := range m.want {
			want = append(want, fmt.Sprintf("%d %d %d", e.ContainerID, e.HostID, e.Size))
		}
		if got := fields(proc(m.file)); got != strings.Join(want, " ") {
			t.Errorf("the init's %s = %q, want %q (initproc.InitAttr's)", m.file, got, strings.Join(want, " "))
		}
	}
	if got := fields(proc("setgroups")); got != "deny" {
		t.Errorf("the init's setgroups = %q, want deny", got)
	}
	id := fmt.Sprint(initUID)
	for _, line := range strings.Split(proc("status"), "\n") {
		k, v, _ := strings.Cut(line, ":")
		switch k {
		case "Uid", "Gid":
			if got := fields(v); got != strings.Repeat(id+" ", 3)+id {
				t.Errorf("the init's host %s = %q, want %s four times", k, got, id)
			}
		case "Groups":
			if got := fields(v); got != "" {
				t.Errorf("the init's supplementary groups = %q, want none", got)
			}
		}
	}
	for _, ns := range []string{"user", "mnt", "pid", "ipc", "uts", "cgroup", "net"} {
		mine, _ := os.Readlink("/proc/self/ns/" + ns)
		its, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", b.pid, ns))
		if its == "" || its == mine {
			t.Errorf("the init's %s namespace is %q, this process's %q: want a new one", ns, its, mine)
		}
	}
}

// An init the zygote forks is vforked as well (initproc.VforkAttr), from
// the zygote's thread set to the init's uid for the fork: the init must
// be what InitAttr made it, and the zygote's thread root again after each
// fork (ReturnToRoot), or the next request's namespace and fork would be
// made by a thread with a sandbox's uid.
func TestZygotedInitAsBefore(t *testing.T) {
	requireRootSandbox(t)
	if cgroupV2Here(t) {
		t.Skip("a v2 group is entered at the clone: such an init is forked as before")
	}
	for i := 0; i < 2; i++ {
		b := startZygoted(t, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second})
		checkInitAsInitAttr(t, b)
		zyg.mu.Lock()
		z := zyg.pid
		zyg.mu.Unlock()
		if !zygoteIsRoot(t, z, "a fork") {
			t.Fatal("the zygote is gone after a fork")
		}
		b.cleanup()
	}
	assertNothingLeft(t)
}

// zygoteIsRoot checks that zygote z is uid and gid 0 with its permitted
// capabilities effective, after when (it forks from its main thread,
// whose ids /proc/PID/status shows); false when z is gone.
func zygoteIsRoot(t *testing.T, z int, when string) bool {
	t.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", z))
	if err != nil {
		return false
	}
	caps := map[string]string{}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		v = strings.Join(strings.Fields(v), " ")
		switch k {
		case "Uid", "Gid":
			if v != "0 0 0 0" {
				t.Errorf("the zygote's %s after %s = %q, want 0 four times", k, when, v)
			}
		case "CapPrm", "CapEff":
			caps[k] = v
		}
	}
	if caps["CapEff"] == "" || caps["CapEff"] != caps["CapPrm"] {
		t.Errorf("the zygote's effective capabilities after %s = %q, want its permitted ones %q", when, caps["CapEff"], caps["CapPrm"])
	}
	return true
}

// An init that no thread set to a sandbox's uid could fork is refused
// before anything is forked: uid 0 is host root, and -1 would leave the
// thread's uid as it is (root).
func TestRootInitRefusesRootUIDs(t *testing.T) {
	requireRootSandbox(t)
	for _, ids := range [][2]uint32{{0, uidBase}, {^uint32(0), uidBase}, {uidBase + 1, 0}} {
		before := childrenOfThisProcess(t)
		b := &box{ctrl: -1, pidfd: -1, done: make(chan struct{})}
		err := b.vforkInit(ids[0], ids[1])
		if err == nil || b.pid != 0 {
			t.Errorf("vforkInit(%d, %d) = %v, pid %d: want refused, nothing forked", ids[0], ids[1], err, b.pid)
		}
		if after := childrenOfThisProcess(t); len(after) > len(before) {
			t.Errorf("vforkInit(%d, %d) left a child: %v, before %v", ids[0], ids[1], after, before)
		}
	}
}

// Maps the kernel refuses fail the init's start with the reason, and its
// cleanup leaves no process: the init is killed and reaped.
func TestRootInitMapFailureLeavesNothing(t *testing.T) {
	requireRootSandbox(t)
	zygoteOff = true
	defer func() { zygoteOff = false }()
	slot, err := uids.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	before := childrenOfThisProcess(t)
	b := &box{ctrl: -1, pidfd: -1, slot: slot, done: make(chan struct{}), exitWait: 10 * time.Second}
	// Command uid 2^32-1 plus one id wraps: the kernel refuses the map.
	err = b.startInit(uidBase+2*slot+1, ^uint32(0), -1)
	if err == nil || !strings.Contains(err.Error(), "write the id maps of the init") {
		t.Errorf("startInit with maps the kernel refuses = %v, want an error saying the id maps could not be written", err)
	}
	if b.pid == 0 {
		t.Fatal("no init was forked: the test tests nothing")
	}
	b.cleanup()
	for _, pid := range childrenOfThisProcess(t) {
		if !slices.Contains(before, pid) {
			t.Errorf("process %s, a child of this process, is left after the init's failed start", pid)
		}
	}
	if err := unix.Kill(b.pid, 0); err != unix.ESRCH {
		t.Errorf("the init %d still exists after its failed start: kill(0) = %v", b.pid, err)
	}
}

// cgroupV2Here says whether this host's sandbox groups are v2 ones.
func cgroupV2Here(t *testing.T) bool {
	t.Helper()
	ctrls, err := cgroupsOnce()
	if err != nil {
		t.Fatal(err)
	}
	return slices.ContainsFunc(ctrls, func(c CgroupController) bool { return c.Version == 2 })
}

// hostForksInits skips t unless this host forks its inits itself, as root
// on cgroup v1 (a v2 group is entered at the clone: such an init is
// forked as before), and turns the zygote off until t ends.
func hostForksInits(t *testing.T) {
	t.Helper()
	requireRootSandbox(t)
	if cgroupV2Here(t) {
		t.Skip("a v2 group is entered at the clone: such an init is forked as before")
	}
	zygoteOff = true
	t.Cleanup(func() { zygoteOff = false })
}

// beginHostForked begins a sandbox whose init this process forks itself
// (hostForksInits), cleaned up when t ends, with nothing left behind.
func beginHostForked(t *testing.T) *box {
	t.Helper()
	hostForksInits(t)
	b, err := begin(Spec{AllowExec: []string{"true"}}.withDefaults())
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	t.Cleanup(func() {
		b.cleanup()
		assertNothingLeft(t)
	})
	return b
}

// startBareInit starts an init forked by this process (hostForksInits)
// and gives it no configuration: it waits for one, at its first read.
// It is ended when t ends, with nothing left behind.
func startBareInit(t *testing.T) *box {
	t.Helper()
	hostForksInits(t)
	slot, err := uids.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	b := &box{ctrl: -1, pidfd: -1, slot: slot, done: make(chan struct{})}
	t.Cleanup(func() {
		b.cleanup()
		assertNothingLeft(t)
	})
	cmdUID := uint32(uidBase + 2*slot)
	if err := b.startInit(cmdUID+1, cmdUID, -1); err != nil {
		t.Fatal(err)
	}
	return b
}

// An init brings its loopback up before it reads its configuration, which
// it mostly waits for: an init forked by this process and given none has
// lo up in its network namespace (its own, made at its clone).
func TestInitLoopbackUpBeforeItsConfig(t *testing.T) {
	b := startBareInit(t)
	if ns, own := netnsOf(t, b.pid), netnsOf(t, os.Getpid()); ns == own {
		t.Fatalf("the init is in this process's network namespace (%s)", ns)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		up, err := loopbackUpIn(b.pid)
		if err != nil {
			t.Fatal(err)
		}
		if up {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the init's lo is still down: it waits for its configuration to bring it up")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An init does the set-up that needs nothing from its configuration while
// it waits for it: given none, it has made every mount of its namespace
// private and emptied its main thread's bounding and ambient capability
// sets (the thread the command is forked from).
func TestInitSetUpBeforeItsConfig(t *testing.T) {
	b := startBareInit(t)
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.pid))
		if err != nil {
			t.Fatal(err)
		}
		mounts, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", b.pid))
		if err != nil {
			t.Fatal(err)
		}
		bounded := strings.Contains(string(status), "CapBnd:\t0000000000000000\n") &&
			strings.Contains(string(status), "CapAmb:\t0000000000000000\n")
		private := !strings.Contains(string(mounts), " shared:") && !strings.Contains(string(mounts), " master:")
		if bounded && private {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the init waits for its configuration to drop its bounding set (%v) or make its mounts private (%v)", bounded, private)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// loopbackUpIn says whether lo is up in the network namespace of process
// pid, asked from a thread moved there, which ends with the answer.
func loopbackUpIn(pid int) (bool, error) {
	type answer struct {
		up  bool
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends in that namespace
		ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- answer{err: err}
			return
		}
		defer unix.Close(ns)
		if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
			ch <- answer{err: fmt.Errorf("setns: %w", err)}
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			ch <- answer{err: err}
			return
		}
		defer unix.Close(fd)
		ifr, err := unix.NewIfreq("lo")
		if err == nil {
			err = unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr)
		}
		ch <- answer{up: err == nil && ifr.Uint16()&unix.IFF_UP != 0, err: err}
	}()
	a := <-ch
	return a.up, a.err
}
