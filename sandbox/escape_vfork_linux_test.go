package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A root host forks its own inits (vforkInit) from a thread set to the
// init's host uid with its capabilities kept (initproc.BecomeID), and the
// zygote forks its inits from its one thread set so for each fork. These
// tests hold the promises that change rests on: no other goroutine of the
// host ever runs on such a thread, none is left once its init has ended
// or its fork failed, the zygote is root again after a failed request,
// and no process of the host's user namespace but that thread has a
// sandbox's init uid (it owns the init's user namespace, and so would
// have every capability in it).

// threadIDs lists this process's threads whose real, effective, saved or
// file-system uid or gid is not 0, with their status lines.
func threadIDs(t *testing.T) map[string]string {
	t.Helper()
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil {
		t.Fatal(err)
	}
	odd := map[string]string{}
	for _, f := range tasks {
		data, err := os.ReadFile(f)
		if err != nil {
			continue // ended since
		}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if (k == "Uid" || k == "Gid") && strings.Join(strings.Fields(v), " ") != "0 0 0 0" {
				odd[filepath.Base(filepath.Dir(f))] += line + " "
			}
		}
	}
	return odd
}

// waitAllThreadsRoot fails the test unless, within a few seconds, every
// thread of this process has uid and gid 0 (a thread that forked an init
// ends with its goroutine, shortly after it).
func waitAllThreadsRoot(t *testing.T, what string) {
	t.Helper()
	var odd map[string]string
	for i := 0; i < 500; i++ {
		if odd = threadIDs(t); len(odd) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%s: threads of this process with ids other than root's: %v", what, odd)
}

// No goroutine of the host runs on the thread that forked an init, while
// it has the init's uid, and that thread is gone once the init has ended:
// goroutines that look at their thread's ids, groups and capabilities
// while sandboxes start and run see root's only.
func TestInitForkingThreadNotShared(t *testing.T) {
	hostForksInits(t)
	waitAllThreadsRoot(t, "before any sandbox")
	stop := make(chan struct{})
	var seen atomic.Value
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
			var data [2]unix.CapUserData
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Raw system calls: each answers for the thread it runs on.
				uid, gid := syscall.Getuid(), syscall.Getgid()
				euid, egid := syscall.Geteuid(), syscall.Getegid()
				if uid != 0 || gid != 0 || euid != 0 || egid != 0 {
					seen.Store(fmt.Sprintf("uid %d euid %d gid %d egid %d", uid, euid, gid, egid))
				}
				if err := unix.Capget(&hdr, &data[0]); err == nil && data[0].Inheritable|data[1].Inheritable != 0 {
					seen.Store(fmt.Sprintf("inheritable capabilities %x %x", data[0].Inheritable, data[1].Inheritable))
				}
				time.Sleep(50 * time.Microsecond)
			}
		}()
	}
	spec := Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}
	for i := 0; i < 6; i++ {
		res, err := Run(context.Background(), spec, []string{"true"})
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("Run %d: %v %+v", i, err, res)
		}
	}
	close(stop)
	wg.Wait()
	if s, ok := seen.Load().(string); ok {
		t.Errorf("a goroutine of the host ran on a thread with an init's credentials: %s", s)
	}
	assertNothingLeft(t)
	waitAllThreadsRoot(t, "after the sandboxes")
}

// A fork the kernel refuses leaves no thread of the host with the init's
// uid: the thread set to it ends with its goroutine.
func TestVforkInitFailedForkLeavesNoThread(t *testing.T) {
	requireRootSandbox(t)
	slot, err := uids.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	defer uids.Free(slot)
	waitAllThreadsRoot(t, "before the fork")
	b := &box{ctrl: -1, pidfd: -1, slot: slot, done: make(chan struct{})}
	b.cmd = &exec.Cmd{Path: "/nonexistent/bulwark-sandbox-init", Args: []string{initArg}, Env: []string{}}
	err = b.vforkInit(uidBase+2*slot+1, uidBase+2*slot)
	if err == nil {
		t.Fatal("vforkInit of a missing program succeeded")
	}
	if b.pid != 0 {
		t.Errorf("vforkInit of a missing program gave pid %d", b.pid)
	}
	waitAllThreadsRoot(t, "after a refused fork")
}

// While a host-forked sandbox runs, the one process of the host's user
// namespace with its init's uid is the thread of this process that forked
// it, never the main thread (whose ids /proc and the kernel's checks take
// for the process'): the init's user namespace belongs to that uid, and a
// process of it there would have every capability in the sandbox (enter
// its namespaces, trace its init). The zygote's inits have none.
func TestInitUIDOnlyTheForkingThread(t *testing.T) {
	requireRootSandbox(t)
	if cgroupV2Here(t) {
		t.Skip("a v2 group is entered at the clone: such an init is forked as before")
	}
	for _, zygoted := range []bool{false, true} {
		b := startVia(t, zygoted, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second})
		initUID := fmt.Sprint(uidBase + 2*b.slot + 1)
		myUserns, _ := os.Readlink("/proc/self/ns/user")
		var holders []string
		tasks, _ := filepath.Glob("/proc/[0-9]*/task/[0-9]*")
		for _, task := range tasks {
			if ns, err := os.Readlink(task + "/ns/user"); err != nil || ns != myUserns {
				continue
			}
			data, err := os.ReadFile(task + "/status")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(data), "\n") {
				k, v, _ := strings.Cut(line, ":")
				if (k == "Uid" || k == "Gid") && strings.Contains(" "+strings.Join(strings.Fields(v), " ")+" ", " "+initUID+" ") {
					holders = append(holders, task)
					break
				}
			}
		}
		self := fmt.Sprintf("/proc/%d/task/", os.Getpid())
		switch {
		case zygoted && len(holders) != 0:
			t.Errorf("init %s: processes of the host's user namespace with its uid %s: %v, want none", paths[zygoted], initUID, holders)
		case !zygoted && (len(holders) != 1 || !strings.HasPrefix(holders[0], self) || holders[0] == self+fmt.Sprint(os.Getpid())):
			t.Errorf("init %s: processes of the host's user namespace with its uid %s: %v, want one thread of this process (%d), not its main one", paths[zygoted], initUID, holders, os.Getpid())
		}
		b.cleanup()
	}
	assertNothingLeft(t)
	waitAllThreadsRoot(t, "after the sandboxes")
}

// A request whose init's maps the kernel refuses fails with the reason;
// the zygote is root again, with its capabilities, and forks the next
// init as InitAttr makes it.
func TestZygoteRootAfterRefusedMaps(t *testing.T) {
	requireRootSandbox(t)
	if cgroupV2Here(t) {
		t.Skip("a v2 group is entered at the clone: such an init is forked as before")
	}
	b := startZygoted(t, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second})
	b.cleanup()
	slot, ctrl := leaseForSpawn(t)
	// Command uid 2^32-1 plus one id wraps: the kernel refuses the map.
	pid, pidfd, _, err := zyg.spawn(uidBase+2*slot+1, ^uint32(0), ctrl, -1)
	if err == nil {
		unix.Close(pidfd)
		t.Fatalf("the zygote forked init %d with maps the kernel refuses", pid)
	}
	if !strings.Contains(err.Error(), "id maps") {
		t.Errorf("spawn with maps the kernel refuses = %v, want an error about the id maps", err)
	}
	zyg.mu.Lock()
	z := zyg.pid
	zyg.mu.Unlock()
	if !zygoteIsRoot(t, z, "a refused request") {
		t.Fatal("the zygote is gone after a refused request")
	}

	b = startZygoted(t, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second})
	checkInitAsInitAttr(t, b)
	b.cleanup()
	assertNothingLeft(t)
}

// netProbe lists, from inside a sandbox, every network sysctl the command
// sees with its owner and mode, the ones it can open for writing, the
// interfaces of its network namespace and whether an abstract Unix
// socket name is free to bind.
const netProbe = `
import os, socket, sys
writable = []
for root, dirs, files in os.walk("/proc/sys/net"):
    for f in files:
        p = os.path.join(root, f)
        st = os.stat(p)
        print("sysctl", p, st.st_uid, oct(st.st_mode & 0o777))
        try:
            open(p, "w").close()
            writable.append(p)
        except OSError:
            pass
print("writable", writable)
print("ifaces", sorted(n for _, n in socket.if_nameindex()))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("\0" + sys.argv[1])
    print("abstract reached")
except OSError as e:
    print("abstract", e.errno)
`

// The network namespace the zygote makes ahead for an init
// (initproc.freshNet) belongs to the host's user namespace, not the
// init's: the command must see and reach in it no more than in one its
// init made itself. It can write no network sysctl, sees only lo, and
// reaches no abstract Unix socket of the host or of another sandbox.
func TestZygotedNetworkNoMoreReach(t *testing.T) {
	requireSandbox(t)
	if !zygoteHere() {
		t.Skip("no zygote here (not root, or not the standalone init)")
	}
	// An abstract socket of this process (the host's network namespace)
	// that a command must not reach.
	name := fmt.Sprintf("bulwark-test-%d", os.Getpid())
	l, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(l)
	if err := unix.Bind(l, &unix.SockaddrUnix{Name: "@" + name}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(l, 1); err != nil {
		t.Fatal(err)
	}
	spec := Spec{AllowExec: []string{"python3"}, Timeout: 30 * time.Second}
	for _, zygoted := range []bool{false, true} {
		b := startVia(t, zygoted, spec)
		res, err := b.run(context.Background(), []string{"python3", "-c", netProbe, name}, stdio{})
		if err == nil {
			b.cleanup()
		}
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("the probe, init %s: %v %+v", paths[zygoted], err, res)
		}
		out := string(res.Stdout)
		for _, want := range []string{"writable []\n", "ifaces ['lo']\n", "abstract 111\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("init %s: the command's view of its network lacks %q:\n%s", paths[zygoted], strings.TrimSpace(want), lastLines(out, 4))
			}
		}
	}
	// The zygote's namespace shows a few sysctls more (xfrm, ipv6
	// route: the kernel hides them in a namespace of a user namespace
	// other than the host's), read-only to the command as every other.
	assertNothingLeft(t)
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// The host resolves the allowlist (initproc.ResolveAllowed) and the init
// only checks what it is handed: a name whose link in a system folder
// leads outside the system folders and the read-only paths is refused at
// setup with the reason, as the init's own resolution refused it, and a
// link into a read-only path allows that file only while the path is a
// read-only one.
func TestAllowlistLinkOutOfSystemFolders(t *testing.T) {
	requireSandbox(t)
	// Outside /tmp (the sandbox's own), and reachable by every uid, so
	// that the host (root) and the init resolve the link alike.
	dir, err := os.MkdirTemp("/var/tmp", "bulwark-test-link-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	prog := filepath.Join(dir, "prog")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\necho ran-the-linked-program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("bulwark-test-link-%d", os.Getpid())
	link := filepath.Join("/usr/local/bin", name)
	if err := os.Symlink(prog, link); err != nil {
		t.Skipf("cannot make a link in a system folder: %v", err)
	}
	t.Cleanup(func() { os.Remove(link) })
	for _, allowed := range []string{name, link} {
		res, err := Run(context.Background(), Spec{AllowExec: []string{allowed, "sh"}}, []string{link})
		if err == nil || !strings.Contains(err.Error(), "outside the system folders") || !strings.Contains(err.Error(), prog) {
			t.Errorf("AllowExec %q, a link to %s: %v, want refused as outside the system folders", allowed, prog, err)
		}
		if res != nil && strings.Contains(string(res.Stdout), "ran-the-linked-program") {
			t.Errorf("AllowExec %q, a link to %s: the program ran", allowed, prog)
		}
	}
	res := mustRun(t, Spec{ReadOnly: []string{dir}, AllowExec: []string{name, "sh"}}, name)
	if res.ExitCode != 0 || strings.TrimSpace(string(res.Stdout)) != "ran-the-linked-program" {
		t.Errorf("AllowExec %q, a link into the read-only path %s: %+v %s", name, dir, res, res.Stderr)
	}
}

// A fork the kernel refuses the zygote (its pids group full) fails the
// request and leaves the zygote root again with its capabilities, or
// ended: never alive with the init's uid, which the next request's fork
// and network namespace would then have.
func TestZygoteRefusedForkStaysRoot(t *testing.T) {
	requireRootSandbox(t)
	if cgroupV2Here(t) {
		t.Skip("a v2 group is entered at the clone: such an init is forked as before")
	}
	const pids = "/sys/fs/cgroup/pids"
	if _, err := os.Stat(pids + "/cgroup.procs"); err != nil {
		t.Skip("no v1 pids hierarchy here")
	}
	z := awaitZygote(t)
	home, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", z))
	if err != nil {
		t.Fatal(err)
	}
	back := pids
	for _, line := range strings.Split(string(home), "\n") {
		if f := strings.SplitN(line, ":", 3); len(f) == 3 && f[1] == "pids" {
			back = pids + f[2]
		}
	}
	full := filepath.Join(pids, fmt.Sprintf("bulwark-test-zygote-%d", os.Getpid()))
	if err := os.Mkdir(full, 0o755); err != nil {
		t.Skipf("cannot make a pids group: %v", err)
	}
	defer os.Remove(full)
	write := func(file, v string) error { return os.WriteFile(filepath.Join(full, file), []byte(v), 0o644) }
	if err := write("cgroup.procs", fmt.Sprint(z)); err != nil {
		t.Fatal(err)
	}
	defer os.WriteFile(filepath.Join(back, "cgroup.procs"), []byte(fmt.Sprint(z)), 0o644)
	cur, err := os.ReadFile(filepath.Join(full, "pids.current"))
	if err != nil {
		t.Fatal(err)
	}
	if err := write("pids.max", strings.TrimSpace(string(cur))); err != nil {
		t.Fatal(err)
	}
	slot, ctrl := leaseForSpawn(t)
	pid, pidfd, _, err := zyg.spawn(uidBase+2*slot+1, uidBase+2*slot, ctrl, -1)
	if err == nil {
		unix.Close(pidfd)
		t.Fatalf("the zygote forked init %d in a full pids group", pid)
	}
	t.Logf("refused: %v", err)
	zygoteIsRoot(t, z, "a refused fork") // gone: nothing to check

	write("pids.max", "max")
	if res, err := Run(context.Background(), Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}, []string{"true"}); err != nil || res.ExitCode != 0 {
		t.Errorf("a sandbox after the refused fork: %v %+v", err, res)
	}
	assertNothingLeft(t)
}

// leaseForSpawn leases a uid slot and makes a control socket pair for a
// request made to the zygote by hand; both are given back at the test's
// end. It returns the slot and the init's end of the pair.
func leaseForSpawn(t *testing.T) (slot uint32, ctrl int) {
	t.Helper()
	slot, err := uids.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uids.Free(slot) })
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(pair[:]) })
	return slot, pair[1]
}
