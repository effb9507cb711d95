package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// parentOf returns the parent pid of pid, from /proc.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatal(err)
	}
	return ppid
}

// forkedByHost says b's init was forked by this process (b.cmd), not
// by the zygote: both are known by a pidfd on a root host.
func forkedByHost(b *box) bool { return b.cmd != nil }

// startZygoted starts a sandbox whose init the zygote forked (a process
// starts its zygote in the background at its second sandbox).
func startZygoted(t *testing.T, spec Spec) *box {
	t.Helper()
	if !zygoteHere() {
		t.Skip("no zygote here (not root, or not the standalone init)")
	}
	for i := 0; i < 100; i++ {
		b, err := start(spec.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		if !forkedByHost(b) {
			return b
		}
		b.cleanup()
		time.Sleep(20 * time.Millisecond)
	}
	t.Skip("no init was started by a zygote here (not root, or not the standalone init)")
	return nil
}

// zygoteHere says whether this process's sandboxes may use a zygote.
func zygoteHere() bool { return os.Geteuid() == 0 && initPath() != selfExe && !zygoteOff }

// An init the zygote forks is this process's child (CLONE_PARENT), which
// reaps and supervises it as one it forked itself: the zygote's death
// leaves it running, and the next sandbox gets a new zygote.
func TestZygotedInitIsOurChild(t *testing.T) {
	requireSandbox(t)
	b := startZygoted(t, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second})
	defer b.cleanup()
	if p := parentOf(t, b.pid); p != os.Getpid() {
		t.Fatalf("the init's parent is %d, not this process (%d)", p, os.Getpid())
	}
	zyg.mu.Lock()
	z, ended := zyg.pid, zyg.ended
	zyg.mu.Unlock()
	if err := syscall.Kill(z, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-ended
	// The sandbox lives on, this process's child: the thread its parent
	// death signal refers to is kept until it is reaped.
	res, err := b.run(context.Background(), []string{"true"}, stdio{})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("the sandbox after its zygote died: %v, %+v", err, res)
	}
	if _, err := Run(context.Background(), Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}, []string{"true"}); err != nil {
		t.Fatalf("Run after the zygote died: %v", err)
	}
	b2 := startZygoted(t, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second})
	defer b2.cleanup()
	zyg.mu.Lock()
	z2 := zyg.pid
	zyg.mu.Unlock()
	if z2 == z {
		t.Errorf("the dead zygote %d still serves", z)
	}
}

// The host's death ends its sandboxes (the init's parent death signal,
// which the zygote's fork keeps: the init is the host's child) and its
// zygote, even while a command runs and no init reads its socket.
// With the zygote killed first, the sandbox it started ends with the host
// all the same: the thread its parent death signal refers to is kept.
func TestHostDeathEndsSandboxAndZygote(t *testing.T) {
	requireSandbox(t)
	t.Run("zygote running", func(t *testing.T) { hostDeath(t, "1") })
	t.Run("zygote killed", func(t *testing.T) { hostDeath(t, "kill-zygote") })
}

// hostDeath kills a host (TestHostDeathHelper, told how by mode) that runs
// a command in a sandbox its zygote started, and checks that the init and
// the zygote end.
func hostDeath(t *testing.T, mode string) {
	c := exec.Command(os.Args[0], "-test.run=^TestHostDeathHelper$", "-test.v")
	c.Env = append(os.Environ(), "BULWARK_TEST_HOST_DEATH="+mode)
	c.Stderr = os.Stderr
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Wait()
	defer c.Process.Kill()
	var initPid, zygPid, sparePid int
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "HOSTDEATH %d %d %d", &initPid, &zygPid, &sparePid); err == nil {
			break
		}
	}
	switch {
	case sc.Err() != nil || initPid == 0 && zygPid == 0 && !strings.HasPrefix(sc.Text(), "HOSTDEATH"):
		t.Fatal("the helper did not start a sandbox")
	case initPid == 0:
		t.Skip("the helper's inits were not started by a zygote (not root, or not the standalone init)")
	}
	startOf := func(pid int) string {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if i := strings.LastIndexByte(string(b), ')'); i >= 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 19 {
				return f[19] // start time: a reused pid has another
			}
		}
		return ""
	}
	initStart, zygStart := startOf(initPid), startOf(zygPid)
	if initStart == "" {
		t.Fatal("the sandbox's init ended before its host")
	}
	// The host's spare init, waiting for a configuration that will not
	// come, and holding host uids whose lease ends with the host.
	spareStart := ""
	if sparePid != 0 {
		spareStart = startOf(sparePid)
	} else if rootless() == nil && !cgroupV2Here(t) {
		t.Error("the helper, root on cgroup v1 with its zygote running, made no spare init")
	}
	c.Process.Kill()
	c.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for {
		i, z, s := startOf(initPid), startOf(zygPid), startOf(sparePid)
		if (i == "" || i != initStart) && (z == "" || z != zygStart) && (s == "" || s != spareStart) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the host's death: the init lives %v, the zygote lives %v, the spare init lives %v", i == initStart, z == zygStart, s != "" && s == spareStart)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHostDeathHelper is the host TestHostDeathEndsSandboxAndZygote kills:
// it runs a command in a zygote's sandbox and says which processes to
// watch.
func TestHostDeathHelper(t *testing.T) {
	if os.Getenv("BULWARK_TEST_HOST_DEATH") == "" {
		t.Skip("run by TestHostDeathEndsSandboxAndZygote")
	}
	for i := 0; zygoteHere() && i < 100; i++ {
		b, err := start(Spec{AllowExec: []string{"sleep"}, Timeout: 60 * time.Second}.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		if forkedByHost(b) {
			b.cleanup()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		go b.run(context.Background(), []string{"sleep", "60"}, stdio{})
		time.Sleep(300 * time.Millisecond) // the command runs
		zyg.mu.Lock()
		z, ended := zyg.pid, zyg.ended
		zyg.mu.Unlock()
		// A spare init for the next sandbox, made before the zygote
		// is killed (then it would be ended as stale).
		spare := 0
		spares.want()
		for i := 0; i < 500 && spare == 0; i++ {
			spares.settle()
			spares.mu.Lock()
			if s := spares.ready; s != nil {
				spare = s.b.pid
			}
			spares.mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
		if os.Getenv("BULWARK_TEST_HOST_DEATH") == "kill-zygote" {
			syscall.Kill(z, syscall.SIGKILL)
			<-ended
		}
		fmt.Printf("HOSTDEATH %d %d %d\n", b.pid, z, spare)
		time.Sleep(60 * time.Second)
	}
	fmt.Printf("HOSTDEATH 0 0 0\n")
}

// netnsOf is the network namespace of process pid, as readlink names it.
func netnsOf(t *testing.T, pid int) string {
	t.Helper()
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// The zygote makes each init's network namespace ahead, with lo up
// (initproc.freshNet): every init it forks has one of its own, which no
// other sandbox, nor the host, nor the zygote shares, and whose loopback
// works. Three sandboxes are held at once, so that a namespace given
// twice would show.
func TestZygotedInitsOwnNetworks(t *testing.T) {
	requireSandbox(t)
	// No spare on the way while the zygote's namespace is read below:
	// one taken right after the zygote gave it its namespace would find
	// the zygote still there, making its next one.
	dropSpare()
	spec := Spec{AllowExec: []string{"python3"}, Timeout: 30 * time.Second, FreshInit: true}
	seen := map[string]string{netnsOf(t, os.Getpid()): "this process"}
	var boxes []*box
	defer func() {
		for _, b := range boxes {
			b.cleanup()
		}
	}()
	for i := 0; i < 3; i++ {
		b := startZygoted(t, spec)
		boxes = append(boxes, b)
		ns := netnsOf(t, b.pid)
		if who, ok := seen[ns]; ok {
			t.Fatalf("sandbox %d's init is in the network namespace of %s (%s)", i, who, ns)
		}
		seen[ns] = fmt.Sprintf("sandbox %d", i)
		zyg.mu.Lock()
		z := zyg.pid
		zyg.mu.Unlock()
		if zns := netnsOf(t, z); seen[zns] != "" {
			t.Fatalf("the zygote (%d) is in the network namespace of %s, which it would give the next init", z, seen[zns])
		}
	}
	if rootless() == nil && !cgroupV2Here(t) {
		// A spare init, made while those run, has one of its own too.
		s := awaitSpare(t)
		if who, ok := seen[netnsOf(t, s.b.pid)]; ok {
			t.Fatalf("the spare init is in the network namespace of %s", who)
		}
	}
	for len(boxes) > 0 {
		b, i := boxes[0], 3-len(boxes)
		boxes = boxes[1:]
		res, err := b.run(context.Background(), []string{"python3", "-c", `
import socket
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
c = socket.create_connection(l.getsockname(), timeout=3); a, _ = l.accept()
c.sendall(b"lo-up"); print(a.recv(8).decode())
`}, stdio{})
		if err == nil {
			b.cleanup() // as Run does: a run that failed has cleaned up
		}
		if err != nil || res.ExitCode != 0 || string(res.Stdout) != "lo-up\n" {
			t.Errorf("sandbox %d's loopback: %v %+v, want lo up", i, err, res)
		}
	}
}
