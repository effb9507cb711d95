package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The zygote (zygote_linux.go) forks a root host's inits from its second
// sandbox on. These tests hold its inits to those the host forks itself:
// the same restrictions seen from inside and from the host, nothing of the
// zygote within reach, and nothing left behind when it or the host dies.

// startVia starts a sandbox for spec whose init this process forks itself
// (zygoted false) or the zygote forks (true). It skips the test where no
// zygote can run.
func startVia(t *testing.T, zygoted bool, spec Spec) *box {
	t.Helper()
	if zygoted {
		return startZygoted(t, spec)
	}
	zygoteOff = true
	defer func() { zygoteOff = false }()
	b, err := start(spec.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if !forkedByHost(b) {
		b.cleanup()
		t.Fatal("an init was not forked by this process with the zygote off")
	}
	return b
}

// paths names the two ways an init is forked, for messages.
var paths = map[bool]string{false: "forked by the host", true: "forked by the zygote"}

// initProbe prints, from inside a sandbox, what the command's restrictions
// are: its own and its init's credentials, capabilities, no_new_privs,
// seccomp, signal masks, id maps, groups, limits, mounts (parents by
// mount point, devices of virtual file systems dropped, as their numbers
// differ between instances, in the order of their names, as ids order
// them by when each was made), descriptors, session, scheduling, and which
// processes it sees.
const initProbe = `
import os, re
keys = ("Umask", "Uid", "Gid", "Groups", "SigBlk", "SigIgn", "SigCgt", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters")
def status(pid):
    for line in open("/proc/%s/status" % pid):
        k = line.split(":")[0]
        if k in keys and not (pid == "self" and k == "SigCgt"):
            print(pid, line.rstrip())
for pid in ("self", "1"):
    status(pid)
    for f in ("limits", "cgroup", "cmdline"):
        print("==", pid, f); print(open("/proc/%s/%s" % (pid, f)).read().rstrip())
    st = open("/proc/%s/stat" % pid).read()
    f = st[st.rindex(")") + 2:].split()
    me = st.split()[0]
    print(pid, "stat ppid", f[1], "own group and session", f[2:4] == [me, me], "tty tpgid", f[4:6], "prio nice", f[15:17], "exit_signal", f[35], "rt policy", f[37:39])
for f in ("uid_map", "gid_map", "setgroups", "oom_score_adj", "loginuid", "sessionid", "coredump_filter", "personality", "timerslack_ns", "environ"):
    print("==", f); print(open("/proc/self/" + f).read().rstrip())
print("== mounts")
ids = {}
rows = [l.split() for l in open("/proc/self/mountinfo")]
for r in rows:
    ids[r[0]] = r[4]
mounts = []
for r in rows:
    dev = r[2] if not r[2].startswith("0:") else "virtual"
    mounts.append(" ".join([ids.get(r[1], "outside"), dev, re.sub(r"bulwark-ws-[0-9]+", "bulwark-ws-N", " ".join(r[3:]))]))
print("\n".join(sorted(mounts)))
print("== fds", sorted(os.listdir("/proc/self/fd")))
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("== cwd", os.getcwd(), "pids", len(pids), pids[0], os.getpid() in pids)
print("== sched", sorted(os.sched_getaffinity(0)), os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0), os.uname().nodename)
print("== ids", os.getresuid(), os.getresgid(), os.getgroups(), os.getsid(0) == os.getpid(), os.getpgid(0) == os.getpid(), os.getppid())
`

// hostView is what the host sees of an init that is prepared (before its
// command): its parent, session and process group, which of this
// process's namespaces it shares, its credentials and restrictions, its
// groups and its descriptors.
func hostView(t *testing.T, b *box) string {
	t.Helper()
	proc := func(f string) string {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", b.pid, f))
		if err != nil {
			t.Fatalf("read the init's %s: %v", f, err)
		}
		return string(data)
	}
	var out strings.Builder
	st := proc("stat")
	f := strings.Fields(st[strings.LastIndexByte(st, ')')+2:])
	ppid, _ := strconv.Atoi(f[1])
	fmt.Fprintf(&out, "parent is this process %v, session and group its own %v %v\n", ppid == os.Getpid(), f[3] == strconv.Itoa(b.pid), f[2] == strconv.Itoa(b.pid))
	for _, ns := range []string{"user", "mnt", "pid", "ipc", "uts", "cgroup", "net", "time"} {
		mine, _ := os.Readlink("/proc/self/ns/" + ns)
		its, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", b.pid, ns))
		fmt.Fprintf(&out, "ns %s shared %v (%v)\n", ns, mine == its, err)
	}
	for _, line := range strings.Split(proc("status"), "\n") {
		k, _, _ := strings.Cut(line, ":")
		if slices.Contains([]string{"Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters", "SigBlk", "SigIgn", "Umask"}, k) {
			out.WriteString(line + "\n")
		}
	}
	out.WriteString(proc("cgroup"))
	out.WriteString(proc("limits"))
	out.WriteString(proc("uid_map"))
	out.WriteString(proc("gid_map"))
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", b.pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", b.pid, e.Name()))
		fmt.Fprintf(&out, "fd %s %s\n", e.Name(), regexp.MustCompile(`\[[0-9]+\]`).ReplaceAllString(l, ""))
	}
	return out.String()
}

// slotNames replaces what names b's uid slot (its host uids, its groups)
// in s, so that two sandboxes' views compare.
func slotNames(b *box, s string) string {
	cmdUID := uidBase + 2*b.slot
	s = strings.ReplaceAll(s, strconv.FormatUint(uint64(cmdUID+1), 10), "INIT_UID")
	s = strings.ReplaceAll(s, strconv.FormatUint(uint64(cmdUID), 10), "CMD_UID")
	return strings.ReplaceAll(s, slotCgroup(b.slot), "SLOT_GROUP")
}

// An init the zygote forks is restricted exactly as one the host forks:
// inside, its command has the same credentials, capabilities,
// no_new_privs, seccomp filter, id maps, groups, limits, mounts,
// descriptors and view of processes; from the host, the init has the
// same parent (this process), session, namespaces, groups, limits and
// descriptors. Both are held to their values too, so that a change that
// loosens both paths alike does not pass for a match.
func TestZygotedInitLikeDirect(t *testing.T) {
	requireSandbox(t)
	spec := Spec{AllowExec: []string{"python3"}, Timeout: 30 * time.Second}
	// A first sandbox, so that both below find the process's caches
	// (exec plan, root tree) as they are.
	mustRun(t, spec, "python3", "-c", "")
	if !zygoteHere() {
		t.Skip("no zygote here (not root, or not the standalone init)")
	}
	var host, inside [2]string
	for i, zygoted := range []bool{false, true} {
		b := startVia(t, zygoted, spec)
		host[i], inside[i] = probeInit(t, b)
	}
	for _, c := range []struct {
		what string
		got  [2]string
		want []string
	}{
		{"the host's view of the init", host, []string{
			"parent is this process true, session and group its own true true",
			"ns user shared false", "ns mnt shared false", "ns pid shared false", "ns net shared false",
			"ns ipc shared false", "ns uts shared false", "ns cgroup shared false",
			"Uid:\tINIT_UID\tINIT_UID", "NoNewPrivs:\t1", "Seccomp:\t2", "CapBnd:\t0000000000000000",
			"pids:/SLOT_GROUP", "fd 3 socket:\n",
		}},
		{"the command's view", inside, []string{
			"self Uid:\t1000\t1000\t1000\t1000", "self NoNewPrivs:\t1", "self Seccomp:\t2",
			"self CapEff:\t0000000000000000", "self CapBnd:\t0000000000000000", "self CapAmb:\t0000000000000000",
			"1 NoNewPrivs:\t1", "1 Seccomp:\t2", "1 CapBnd:\t0000000000000000",
			"0 INIT_UID 1", "1000 CMD_UID 1", "== setgroups\ndeny",
			"Max processes             256", "Max core file size        0",
			"== fds ['0', '1', '2', '3']", "pids 2 1 True", "own group and session True",
		}},
	} {
		if c.got[0] != c.got[1] {
			t.Errorf("%s differs between an init %s and one %s:\n%s", c.what, paths[false], paths[true], lineDiff(c.got[0], c.got[1]))
		}
		for _, w := range c.want {
			if !strings.Contains(strings.Join(strings.Fields(c.got[1]), " "), strings.Join(strings.Fields(w), " ")) {
				t.Errorf("%s, init %s, lacks %q:\n%s", c.what, paths[true], w, c.got[1])
			}
		}
	}
}

// probeInit returns the host's view of b's init and its command's view
// of its sandbox (initProbe), and ends b.
func probeInit(t *testing.T, b *box) (host, inside string) {
	t.Helper()
	ran := false
	defer func() {
		if !ran {
			b.cleanup()
		}
	}()
	host = slotNames(b, hostView(t, b))
	ran = true
	res, err := b.run(context.Background(), []string{"python3", "-c", initProbe}, stdio{})
	if err == nil {
		b.cleanup() // as Run does: a run that failed has cleaned up
	}
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("the probe: %v %+v", err, res)
	}
	return host, slotNames(b, string(res.Stdout))
}

// lineDiff lists the lines of a and b that the other lacks.
func lineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out strings.Builder
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out.WriteString("+ " + l + "\n")
		}
	}
	return out.String()
}

// awaitZygote returns the pid of a running zygote, running sandboxes
// A request to a zygote that is gone fails cleanly: the start falls back
// to a fork of its own (errZygoteOff). (A failed request once ended this
// A request the zygote cannot fork for (here, both uids the same host
// uid: the kernel refuses such id maps) fails that start with the
// zygote's reason, records no init, and leaves the zygote serving. (It
// zombieChildren lists the children of this process that have ended
// A zygote killed at any point of a start, before, during or after its
// fork of the init, costs that start nothing: the start forks its own
// init when the zygote's answer is lost (it once failed, saying user
// namespaces may not be allowed), and afterwards no process of the
// sandboxes is left, no child of this process is left unreaped (an init
// forked for a lost answer was once left a zombie) and no descriptor is
// Starts from several goroutines at once, while the zygote is killed
// twice, each run their command or fail, and leave nothing behind (run
// A command cannot reach the zygote, another sandbox's init or another
// sandbox's command by their host pids: it cannot signal them, open a
// pidfd of them, trace them or read their /proc entries (its pid
// namespace holds none of them), join their process group, or reach a
// cgroup file system to move into another group.
func TestEscapeZygoteAndNeighbours(t *testing.T) {
	requireSandbox(t)
	z := awaitZygote(t)
	// A neighbour: a zygote-forked sandbox whose command runs.
	nb := startZygoted(t, Spec{AllowExec: []string{"sleep"}, Timeout: 60 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { nb.run(ctx, []string{"sleep", "60"}, stdio{}); close(ran) }()
	defer func() { cancel(); <-ran; nb.cleanup() }()
	var cmd int
	for i := 0; i < 1000 && cmd == 0; i++ { // a hang guard of 10 s: a loaded host starts it late
		time.Sleep(10 * time.Millisecond)
		for _, p := range sandboxProcesses() {
			pid, uid, _ := strings.Cut(p, ":")
			if uid == strconv.FormatUint(uint64(uidBase+2*nb.slot), 10) {
				cmd, _ = strconv.Atoi(pid)
			}
		}
	}
	if cmd == 0 {
		t.Fatal("the neighbour's command did not start")
	}
	targets := map[string]int{"zygote": z, "neighbour init": nb.pid, "neighbour command": cmd, "host": os.Getpid()}
	// And the spare init, started ahead for the next sandbox and waiting
	// for its configuration, where one is made: this command's sandbox
	// starts its own (FreshInit) and leaves it there.
	var spare *spareInit
	if rootless() == nil && !cgroupV2Here(t) {
		spare = awaitSpare(t)
		targets["spare init"] = spare.b.pid
	}
	res := py(t, Spec{AllowExec: []string{"python3"}, FreshInit: true}, fmt.Sprintf(`
import ctypes, os, signal
libc = ctypes.CDLL(None, use_errno=True)
targets = %s
mine = [int(p) for p in os.listdir("/proc") if p.isdigit()]
for name, pid in targets.items():
    if pid in mine:
        print("ESCAPED", name, pid, "is in this pid namespace")
        continue
    for what, act in (
        ("signal", lambda: os.kill(pid, 0)),
        ("pidfd", lambda: os.pidfd_open(pid)),
        ("proc", lambda: open("/proc/%%d/status" %% pid).read()),
    ):
        try:
            act()
            print("ESCAPED", what, name)
        except OSError as e:
            print("BLOCKED", what, name, e.strerror)
    if libc.ptrace(16, pid, 0, 0) == 0:  # PTRACE_ATTACH
        print("ESCAPED ptrace", name)
    else:
        print("BLOCKED ptrace", name, os.strerror(ctypes.get_errno()))
    try:
        os.setpgid(0, pid); print("ESCAPED joined the process group of", name)
    except OSError as e:
        print("BLOCKED process group", name, e.strerror)
# The groups: no cgroup file system to move into another group, nor a
# way to mount one.
print("ESCAPED /sys/fs/cgroup" if os.path.exists("/sys/fs/cgroup") else "BLOCKED no /sys/fs/cgroup")
os.makedirs("/tmp/cg", exist_ok=True)
if libc.mount(b"cgroup", b"/tmp/cg", b"cgroup", 0, b"pids") == 0 or libc.mount(b"cgroup2", b"/tmp/cg", b"cgroup2", 0, None) == 0:
    print("ESCAPED mounted a cgroup file system")
else:
    print("BLOCKED cgroup mount", os.strerror(ctypes.get_errno()))
`, pyDict(targets)))
	assertContained(t, res, 5*len(targets)+2)
	// From the host: the neighbour's command is in its sandbox's groups
	// and in a session of its sandbox, not the host's or the zygote's.
	cg, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(cg), "pids:/"+slotCgroup(nb.slot)+"\n") && !strings.Contains(string(cg), "/"+slotCgroup(nb.slot)) {
		t.Errorf("the neighbour's command is not in its sandbox's groups:\n%s", cg)
	}
	sid, _ := unix.Getsid(cmd)
	for name, pid := range map[string]int{"host": os.Getpid(), "zygote": z} {
		if other, _ := unix.Getsid(pid); sid == other {
			t.Errorf("the neighbour's command is in the session of the %s (%d)", name, sid)
		}
	}
	leader, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", sid))
	if own, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", cmd)); leader != own {
		t.Errorf("the neighbour's command's session (%d) is led from outside its sandbox", sid)
	}
	if err := syscall.Kill(z, 0); err != nil {
		t.Errorf("the zygote is gone: %v", err)
	}
	if err := syscall.Kill(cmd, 0); err != nil {
		t.Errorf("the neighbour's command is gone: %v", err)
	}
	if spare != nil {
		spares.mu.Lock()
		still := spares.ready == spare
		spares.mu.Unlock()
		if ok, _ := spare.fresh(); !still || !ok {
			t.Errorf("the spare init %d is no longer ready and alive after the command's attempts", spare.b.pid)
		}
	}
}

// pyDict writes m as a Python dict literal.
func pyDict(m map[string]int) string {
	var b strings.Builder
	b.WriteString("{")
	for k, v := range m {
		fmt.Fprintf(&b, "%q: %d, ", k, v)
	}
	b.WriteString("}")
	return b.String()
}

// A sandbox's kill after its init was reaped (a Process's Kill may come at
// any time) signals nothing, even when another process now has the init's
// pid: the host signals an init through its pidfd (zygote) or its
// os.Process, never by its number.
func TestKillAfterPidReuse(t *testing.T) {
	requireSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("setting the next pid (ns_last_pid) needs root")
	}
	for _, zygoted := range []bool{false, true} {
		b := startVia(t, zygoted, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second})
		pid := b.pid
		b.kill()
		<-b.done
		victim := processWithPid(t, pid)
		if victim == nil {
			b.cleanup()
			t.Logf("init %s: pid %d was not taken again in time (a busy machine)", paths[zygoted], pid)
			continue
		}
		exited := make(chan struct{})
		go func() { victim.Wait(); close(exited) }()
		b.kill()
		b.cleanup()
		b.kill()
		select {
		case <-exited:
			t.Errorf("a kill of a sandbox whose init (%s) was reaped ended the process that took its pid %d", paths[zygoted], pid)
		case <-time.After(300 * time.Millisecond):
		}
		victim.Process.Kill()
		<-exited
	}
}

// processWithPid starts a sleeping process with pid, setting the pid the
// kernel hands out next, or returns nil if other processes keep taking it.
func processWithPid(t *testing.T, pid int) *exec.Cmd {
	t.Helper()
	for i := 0; i < 200; i++ {
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			t.Skipf("cannot set the next pid: %v", err)
		}
		c := exec.Command("sleep", "60")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if c.Process.Pid == pid {
			return c
		}
		c.Process.Kill()
		c.Wait()
	}
	return nil
}

// A zygote that stops answering (here, stopped; its answers awaited for
// 200 ms rather than 20 s) costs the start its wait only: the start forks
// its own init. The zygote, once it runs again, forks an init for the
// request it had not read, which ends as its socket is closed and is
// A sandbox that ends while another start waits on a zygote that does not
// answer is torn down without waiting for that answer: its end is
// recorded apart from the lock that orders the zygote's requests (it
// once waited for it, and its cleanup gave up on its init, keeping its
// waitsOnZygote says whether a request to the zygote is waiting for its
// A double-forked daemon in its own session dies with its sandbox on
// both paths: nothing a command starts outlives the end of its run.
func TestDaemonDiesEitherPath(t *testing.T) {
	requireSandbox(t)
	if !zygoteHere() {
		t.Skip("no zygote here (not root, or not the standalone init)")
	}
	daemon := `
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(600)
    os._exit(0)
time.sleep(0.2)
print("daemon started")
`
	for _, zygoted := range []bool{false, true} {
		b := startVia(t, zygoted, Spec{AllowExec: []string{"python3"}, Timeout: 20 * time.Second})
		res, err := b.run(context.Background(), []string{"python3", "-c", daemon}, stdio{})
		if err != nil {
			t.Fatalf("init %s: %v", paths[zygoted], err)
		}
		b.cleanup()
		dropSpare() // its end asked for one: a sandbox process too
		if !strings.Contains(string(res.Stdout), "daemon started") {
			t.Errorf("init %s: the daemon did not start: %s %s", paths[zygoted], res.Stdout, res.Stderr)
		}
		if left := sandboxProcesses(); len(left) > 0 {
			t.Errorf("init %s: processes outlived the run: %v", paths[zygoted], left)
		}
	}
}
