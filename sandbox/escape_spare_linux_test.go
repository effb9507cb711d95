package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Attacks on the spare init (spare_linux.go): what it holds from its fork
// until a sandbox takes it must not differ from what a fresh init would
// have at that sandbox's start.

// A spare's mount namespace is a copy of the host's at the spare's fork,
// and the init binds from it what the host resolved in its own view (the
// allowed programs over the root tree, every source when it builds its
// root itself). A mount the host makes after the spare's fork, on a host
// whose mounts do not propagate (private, as in most containers), is
// not in that copy: a sandbox started after it must still run what the
// host sees and checked, not what was there before.
func TestSpareSeesTheHostsMountsOfNow(t *testing.T) {
	bothRoots(t, func(t *testing.T) {
		base, err := os.MkdirTemp("/var/tmp", "bulwark-spare-mnt-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(base) })
		os.Chmod(base, 0o755)
		// base a private mount of its own: the tmpfs below reaches no
		// other namespace, whatever the host's propagation.
		if err := unix.Mount(base, base, "", unix.MS_BIND, ""); err != nil {
			t.Skipf("cannot bind-mount: %v", err)
		}
		t.Cleanup(func() { unix.Unmount(base, unix.MNT_DETACH) })
		if err := unix.Mount("", base, "", unix.MS_PRIVATE, ""); err != nil {
			t.Fatal(err)
		}
		ro := filepath.Join(base, "ro")
		prog := filepath.Join(ro, "prog.sh")
		if err := os.Mkdir(ro, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(prog, []byte("#!/bin/sh\necho before-the-mount\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		dropSpare() // the next one is forked with base mounted
		s := awaitSpare(t)
		if err := unix.Mount("tmpfs", ro, "tmpfs", 0, "mode=0755,size=64k"); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmount(ro, unix.MNT_DETACH) })
		if err := os.WriteFile(prog, []byte("#!/bin/sh\necho the-hosts-view\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		spec := Spec{ReadOnly: []string{ro}, AllowExec: []string{"sh", prog}, Timeout: 20 * time.Second}
		res := mustRun(t, spec, prog)
		if got := strings.TrimSpace(string(res.Stdout)); got != "the-hosts-view" {
			t.Errorf("a sandbox started after the host mounted over %s ran %q (stderr %q), want the-hosts-view (the spare was %d)", ro, got, res.Stderr, s.b.pid)
		}
		// And a spare made since serves again.
		b := beginSpared(t, spec)
		b.cleanup()
	})
}

// On a host whose mounts change all the time, every spare would be
// stale when taken, and each would cost a fork for nothing: after
// maxMoved spares in a row found stale because of a mount, none is made
// for spareMaxAge; a spare found stale once is made again at once.
func TestSparesQuietWhileMountsMove(t *testing.T) {
	awaitSpare(t)
	spares.mu.Lock()
	spares.moved = 0
	spares.mu.Unlock()
	base, err := os.MkdirTemp("/var/tmp", "bulwark-spare-quiet-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	spec := Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}
	for i := 1; i <= maxMoved; i++ {
		s := awaitSpare(t)
		if err := unix.Mount("tmpfs", base, "tmpfs", 0, "size=64k"); err != nil {
			t.Skipf("cannot mount: %v", err)
		}
		unix.Unmount(base, unix.MNT_DETACH)
		b, err := begin(spec.withDefaults())
		if err != nil {
			t.Fatal(err)
		}
		if b.pid == s.b.pid {
			t.Fatalf("a spare forked before a mount changed was taken")
		}
		b.cleanup()
		teardowns.Wait()
		spares.settle()
		spares.mu.Lock()
		ready, quiet := spares.ready != nil, time.Now().Before(spares.quietUntil)
		spares.mu.Unlock()
		switch {
		case i < maxMoved && (!ready || quiet):
			t.Fatalf("after %d spares in a row stale from mounts: a spare ready %v, quiet %v; want one made again", i, ready, quiet)
		case i == maxMoved && (ready || !quiet):
			t.Fatalf("after %d spares in a row stale from mounts: a spare ready %v, quiet %v; want none made for a while", i, ready, quiet)
		}
	}
	mustRun(t, spec, "true")
	teardowns.Wait()
	spares.settle()
	spares.mu.Lock()
	ready := spares.ready != nil
	spares.mu.Unlock()
	if ready {
		t.Errorf("a spare was made while spares are quiet")
	}
	awaitSpare(t) // and they come back (the quiet ended by hand)
}

// A spare is made only while sandboxes come less than spareMaxAge apart:
// one made after a sandbox that came alone would be ended unused.
func TestSpareOnlyWhenSandboxesComeOften(t *testing.T) {
	awaitSpare(t)
	dropSpare()
	spares.mu.Lock()
	spares.lastTake = time.Now().Add(-2 * spareMaxAge)
	spares.mu.Unlock()
	spec := Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}
	ready := func() bool {
		teardowns.Wait()
		spares.settle()
		spares.mu.Lock()
		defer spares.mu.Unlock()
		return spares.ready != nil
	}
	mustRun(t, spec, "true")
	if ready() {
		t.Errorf("a spare was made after a sandbox that came %v after the one before", 2*spareMaxAge)
	}
	mustRun(t, spec, "true")
	if !ready() {
		t.Errorf("no spare was made after a sandbox that came at once after the one before")
	}
}

// A spare runs the very file this process checked (the standalone init
// whose stamp matched its sources, standaloneInit), however long it
// waits: the inode this process holds open, not whatever a path names
// when the spare is taken. A new init written to the cache's path since
// (another version's process, cachedExe) or renamed over it changes
// nothing for it, and the file cannot be written while it runs.
func TestSpareRunsTheInitChecked(t *testing.T) {
	s := awaitSpare(t)
	var want, got unix.Stat_t
	if err := unix.Stat(initPath(), &want); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(fmt.Sprintf("/proc/%d/exe", s.b.pid), &got); err != nil {
		t.Fatal(err)
	}
	if got.Dev != want.Dev || got.Ino != want.Ino {
		t.Errorf("the spare %d runs inode %d:%d, this process checked %d:%d (%s)", s.b.pid, got.Dev, got.Ino, want.Dev, want.Ino, initPath())
	}
	fd, err := unix.Open(initPath(), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd) // nothing written
		t.Errorf("the init a spare runs could be opened for writing while it waits")
	}
	b := beginSpared(t, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second})
	b.cleanup()
}

// Many Runs at once, some failing, some with their context already
// canceled, while the host's mounts change (each spare forked before is
// stale) and the zygote is killed (its spare too): every Run that takes a
// spare takes its own, and once the spare is dropped nothing is left: no
// process, zombie, descriptor (the spares' mount watches too) or slot.
// (Run with -race.)
func TestSpareManyRunsLeaveNothing(t *testing.T) {
	awaitSpare(t)
	dropSpare()
	// The mounts below make spares stale on purpose: on a loaded host
	// three in a row would stop spares for half a minute (as on a host
	// whose mounts move all the time), and no Run here would take one.
	spares.mu.Lock()
	moved := maxMoved
	maxMoved = 1 << 20
	spares.mu.Unlock()
	t.Cleanup(func() {
		spares.mu.Lock()
		maxMoved = moved
		spares.mu.Unlock()
	})
	// Less the id-mapping namespaces kept for the slots used (idmaps): a
	// cache, not a leak.
	openFds := func(t *testing.T) int {
		idmaps.mu.Lock()
		defer idmaps.mu.Unlock()
		return openFds(t) - len(idmaps.fds)
	}
	fds := openFds(t)
	base, err := os.MkdirTemp("/var/tmp", "bulwark-spare-many-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	spec := Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	var mu sync.Mutex
	spared := map[int]int{} // init pid -> Runs that took it as a spare
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 12; i++ {
				s, ctx := spec, context.Background()
				s.Trace = &Trace{}
				switch (g + i) % 6 {
				case 2:
					s.Workspace = "/nonexistent/bulwark-spare-many"
				case 4:
					ctx = canceled
				}
				b, err := begin(s.withDefaults())
				if err != nil {
					if s.Workspace == "" {
						t.Errorf("begin: %v", err)
					}
					continue
				}
				if b.fromSpare {
					mu.Lock()
					spared[b.pid]++
					mu.Unlock()
				}
				// As Run: a run that fails has cleaned up its box.
				res, err := b.run(ctx, []string{"true"}, stdio{})
				switch {
				case err != nil:
					if ctx != canceled {
						t.Errorf("Run: %v", err)
					}
				default:
					if res.ExitCode != 0 {
						t.Errorf("Run: %+v", res)
					}
					b.endAfterRun()
				}
			}
		}()
	}
	for i := 0; i < 6; i++ {
		time.Sleep(20 * time.Millisecond)
		if i == 3 {
			zyg.mu.Lock()
			z := zyg.pid
			zyg.mu.Unlock()
			syscall.Kill(z, syscall.SIGKILL)
			continue
		}
		if err := unix.Mount("tmpfs", base, "tmpfs", 0, "size=4k"); err == nil {
			unix.Unmount(base, unix.MNT_DETACH)
		}
	}
	wg.Wait()
	for pid, n := range spared {
		if n > 1 {
			t.Errorf("the spare init %d served %d sandboxes", pid, n)
		}
	}
	if len(spared) == 0 {
		t.Error("no Run took a spare")
	}
	t.Logf("%d Runs took a spare", len(spared))
	dropSpare()
	deadline := time.Now().Add(10 * time.Second)
	for len(zombieChildren()) > 0 || len(sandboxProcesses()) > 0 || openFds(t) > fds {
		if time.Now().After(deadline) {
			t.Fatalf("after many Runs with spares: unreaped children %v, sandbox processes %v, %d descriptors open (%d before)", zombieChildren(), sandboxProcesses(), openFds(t), fds)
		}
		time.Sleep(50 * time.Millisecond)
		dropSpare()
	}
	if held := uids.Held(); len(held) > 0 {
		t.Errorf("slots still used after every sandbox ended: %v", held)
	}
}

// What a command finds of its process and its sandbox does not tell
// whether its init was a spare: its umask, rlimits, status (credentials,
// seccomp, no_new_privs, signals), mounts, host name, environment,
// groups, descriptors, OOM score, login ids, personality, timer slack,
// security label and root. A spare holds since its fork what the zygote
// gave it; a fresh init of the same zygote the same. (The volatile
// fields, pids, sizes and counts, are left out, the mounts sorted (their
// order follows the root tree's clone) and the slot's host ids in the
// options of /tmp and /dev/shm named alike.)
func TestSpareCommandSeesWhatAFreshOneSees(t *testing.T) {
	const script = `umask; ulimit -a
grep -vE '^(Pid|PPid|TracerPid|Tgid|Ngid|NSpid|NStgid|NSpgid|NSsid|Vm|Rss|voluntary|nonvoluntary|Threads|SigQ|State|Name|Kthread|HugetlbPages)' /proc/self/status
awk '{print $5, $6, $9, $10, $11}' /proc/self/mountinfo | sed -E 's/(uid|gid)=[0-9]+/\1=SLOT/g' | sort
hostname; env | sort; cat /proc/self/cgroup; ls /proc/self/fd
cat /proc/self/oom_score_adj /proc/self/loginuid /proc/self/sessionid /proc/self/personality /proc/self/timerslack_ns
cat /proc/self/attr/current 2>&1; ls -A /; id`
	spec := Spec{AllowExec: []string{"sh", "grep", "awk", "sed", "hostname", "env", "sort", "cat", "ls", "id"}, Timeout: 20 * time.Second}
	b := beginSpared(t, spec)
	res, err := b.run(context.Background(), []string{"sh", "-c", script}, stdio{})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("the spare's sandbox: %v, %+v", err, res)
	}
	b.endAfterRun()
	spec.FreshInit = true
	fresh := mustRun(t, spec, "sh", "-c", script)
	got, want := strings.Split(string(res.Stdout), "\n"), strings.Split(string(fresh.Stdout), "\n")
	if len(got) != len(want) {
		t.Fatalf("the command of a spare init saw:\n%s\nof a fresh one:\n%s", res.Stdout, fresh.Stdout)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("the command of a spare init saw %q where that of a fresh one saw %q", got[i], want[i])
		}
	}
}

// A spare's init that dies once taken (between the look of take and the
// command) fails that one sandbox, which then leaves nothing, not even
// its slot; the next Run does not notice.
func TestSpareDyingOnceTakenFailsOnlyItsSandbox(t *testing.T) {
	spec := Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}
	b := beginSpared(t, spec)
	pid, slot := b.pid, b.slot
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, err := b.run(context.Background(), []string{"true"}, stdio{}); err == nil {
		t.Fatalf("a command ran in the sandbox of the killed spare %d", pid)
	}
	teardowns.Wait()
	if err := syscall.Kill(pid, 0); err != syscall.ESRCH {
		t.Errorf("the killed spare %d: kill(0) = %v", pid, err)
	}
	mustRun(t, spec, "true")
	dropSpare()
	used := uids.Used(slot)
	if used {
		t.Errorf("the killed spare's slot %d is still used", slot)
	}
	assertNothingLeft(t)
}

// A box cleaned up twice (a caller that cleans up after a run that did)
// frees its slot once: by the second, the slot may be another sandbox's,
// or the spare's, which would then share host uids with the next.
func TestCleanupTwiceFreesTheSlotOnce(t *testing.T) {
	requireRootSandbox(t)
	dropSpare()
	b, err := begin(Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second, FreshInit: true}.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	slot := b.slot
	b.cleanup()
	if uids.Used(slot) {
		t.Fatalf("set-up: slot %d still used after its box's cleanup", slot)
	}
	uids.SetUsed(slot) // leased again, to another sandbox
	defer uids.Free(slot)
	b.cleanup()
	used := uids.Used(slot)
	if !used {
		t.Errorf("a second cleanup freed slot %d, leased again since", slot)
	}
}
