package sandbox

import (
	"context"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Spare inits (spare_linux.go): one sandbox each, the same init as a
// fresh one for the command, and nothing left once ended.

// awaitSpare returns the ready spare once there is one, leaving it ready,
// and skips the test where none can be made.
func awaitSpare(t *testing.T) *spareInit {
	t.Helper()
	requireRootSandbox(t)
	if cgroupV2Here(t) {
		t.Skip("a v2 group is entered at the clone: no spare init")
	}
	awaitZygote(t)
	spares.mu.Lock()
	spares.quietUntil = time.Time{} // mounts moved by a test before
	spares.mu.Unlock()
	for i := 0; i < 100; i++ {
		spares.settle()
		spares.mu.Lock()
		s := spares.ready
		spares.mu.Unlock()
		if s != nil {
			return s
		}
		// A sandbox that could have had a spare asks for one as it ends.
		mustRun(t, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}, "true")
		teardowns.Wait()
	}
	t.Fatal("no spare init was made, where the zygote runs on cgroup v1 as root")
	return nil
}

// beginSpared begins a sandbox of spec with the ready spare, and fails
// the test unless it took it.
func beginSpared(t *testing.T, spec Spec) *box {
	t.Helper()
	s := awaitSpare(t)
	b, err := begin(spec.withDefaults())
	if err != nil {
		t.Fatal(err)
	}
	if !b.fromSpare || b.pid != s.b.pid {
		b.cleanup()
		t.Fatalf("begin did not take the spare (pid %d): from a spare %v, pid %d", s.b.pid, b.fromSpare, b.pid)
	}
	return b
}

// The init of a spare is what a fresh one is: InitAttr's maps, host ids,
// groups and namespaces, and the zygote root after its fork; and the
// command it runs has the ids, groups, capabilities, no_new_privs and
// seccomp filters a fresh init's command has.
func TestSpareInitAsBefore(t *testing.T) {
	b := beginSpared(t, Spec{AllowExec: []string{"cat"}, Timeout: 20 * time.Second})
	checkInitAsInitAttr(t, b)
	zyg.mu.Lock()
	z := zyg.pid
	zyg.mu.Unlock()
	zygoteIsRoot(t, z, "a spare's fork")
	res, err := b.run(context.Background(), []string{"cat", "/proc/self/status"}, stdio{})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("cat in a spare's sandbox: %v, %+v", err, res)
	}
	b.endAfterRun()
	fresh := mustRun(t, Spec{AllowExec: []string{"cat"}, Timeout: 20 * time.Second, FreshInit: true}, "cat", "/proc/self/status")
	got, want := credentials(string(res.Stdout)), credentials(string(fresh.Stdout))
	if got != want || !strings.Contains(want, "Seccomp:\t2") || !strings.Contains(want, "NoNewPrivs:\t1") {
		t.Errorf("the command of a spare init:\n%s\nwant a fresh init's command's:\n%s", got, want)
	}
	assertNothingLeft(t)
}

// credentials keeps the lines of /proc/PID/status that say what a process
// may do.
func credentials(status string) string {
	var out []string
	for _, line := range strings.Split(status, "\n") {
		k, _, _ := strings.Cut(line, ":")
		switch k {
		case "Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters":
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// A spare serves one sandbox: of sandboxes begun at once, one takes it,
// the others start their own inits, and no two share an init or a slot.
// (Run with -race.)
func TestSpareTakenOnce(t *testing.T) {
	for round := 0; round < 5; round++ {
		s := awaitSpare(t)
		const n = 4
		boxes := make([]*box, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				boxes[i], errs[i] = begin(Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}.withDefaults())
			}()
		}
		wg.Wait()
		taken, pids, slots := 0, map[int]bool{}, map[uint32]bool{}
		for i, b := range boxes {
			if errs[i] != nil {
				t.Fatalf("begin %d: %v", i, errs[i])
			}
			if b.fromSpare {
				taken++
				if b.pid != s.b.pid {
					t.Errorf("a sandbox took init %d as a spare, the spare was %d", b.pid, s.b.pid)
				}
			}
			if pids[b.pid] || slots[b.slot] {
				t.Errorf("two sandboxes with init %d or slot %d", b.pid, b.slot)
			}
			pids[b.pid], slots[b.slot] = true, true
		}
		if taken != 1 {
			t.Errorf("round %d: %d sandboxes took the spare, want 1", round, taken)
		}
		for _, b := range boxes {
			res, err := b.run(context.Background(), []string{"true"}, stdio{})
			if err != nil || res.ExitCode != 0 {
				t.Errorf("a sandbox begun at once with others: %v, %+v", err, res)
			}
			b.endAfterRun()
		}
	}
	assertNothingLeft(t)
}

// A spare's sandbox that fails after taking it (here its workspace is
// missing) ends the spare with it: it is never another's, and its slot
// is freed once it has ended.
func TestSpareEndsWithAFailedStart(t *testing.T) {
	s := awaitSpare(t)
	_, err := begin(Spec{Workspace: "/nonexistent/bulwark-spare", AllowExec: []string{"true"}, Timeout: 20 * time.Second}.withDefaults())
	if err == nil {
		t.Fatal("begin with a missing workspace succeeded")
	}
	checkSpareEnded(t, s)
	b := beginSpared(t, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second})
	if b.pid == s.b.pid {
		t.Errorf("the failed sandbox's spare %d served again", s.b.pid)
	}
	b.cleanup()
	assertNothingLeft(t)
}

// checkSpareEnded fails the test unless spare s's init is reaped, its
// descriptors closed and its slot free.
func checkSpareEnded(t *testing.T, s *spareInit) {
	t.Helper()
	select {
	case <-s.b.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("the spare %d did not end", s.b.pid)
	}
	// Whatever sandbox or spare came since may have the slot again.
	teardowns.Wait()
	spares.drop()
	deadline := time.Now().Add(10 * time.Second)
	for {
		used := uids.Used(s.b.slot)
		s.b.pidMu.Lock()
		pidfd := s.b.pidfd
		s.b.pidMu.Unlock()
		if !used && pidfd < 0 && s.b.ctrl < 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ended spare %d: slot %d used %v, pidfd %d, control socket %d", s.b.pid, s.b.slot, used, pidfd, s.b.ctrl)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := syscall.Kill(s.b.pid, 0); err != syscall.ESRCH {
		t.Errorf("the spare's init %d still exists: kill(0) = %v", s.b.pid, err)
	}
}

// A spare that can no longer serve is ended, and the sandbox that finds
// it starts its own init: one whose init died, one whose zygote died, one
// too old.
func TestSpareStaleIsEnded(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(t *testing.T, s *spareInit)
	}{
		{"init killed", func(t *testing.T, s *spareInit) {
			pidfd, err := unix.PidfdOpen(s.b.pid, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(pidfd)
			if err := syscall.Kill(s.b.pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Until its end it is taken: an init that dies after its
			// look fails its sandbox's start, as a fresh one would.
			fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
			if n, err := unix.Poll(fds, 10_000); n != 1 || err != nil {
				t.Fatalf("the killed spare did not end: %d, %v", n, err)
			}
		}},
		{"zygote killed", func(t *testing.T, s *spareInit) {
			zyg.mu.Lock()
			z := zyg.pid
			zyg.mu.Unlock()
			syscall.Kill(z, syscall.SIGKILL)
			<-s.gen.ended
		}},
		{"too old", func(t *testing.T, s *spareInit) {
			spares.mu.Lock()
			s.made = s.made.Add(-spareMaxAge - time.Second)
			spares.mu.Unlock()
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := awaitSpare(t)
			c.spoil(t, s)
			spec := Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second, Trace: &Trace{}}
			b, err := begin(spec.withDefaults())
			if err != nil {
				t.Fatal(err)
			}
			if b.pid == s.b.pid || b.fromSpare {
				t.Errorf("a sandbox took the spoiled spare %d (its own init %d, from a spare %v)", s.b.pid, b.pid, b.fromSpare)
			}
			res, err := b.run(context.Background(), []string{"true"}, stdio{})
			if err != nil || res.ExitCode != 0 {
				t.Errorf("the sandbox after a spoiled spare: %v, %+v", err, res)
			}
			b.endAfterRun()
			checkSpareEnded(t, s)
			assertNothingLeft(t)
		})
	}
}

// The trace says where the init came from; a FreshInit sandbox leaves the
// spare for the next.
func TestSpareTraced(t *testing.T) {
	s := awaitSpare(t)
	fresh := Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second, FreshInit: true, Trace: &Trace{}}
	mustRun(t, fresh, "true")
	spared := fresh
	spared.FreshInit, spared.Trace = false, &Trace{}
	mustRun(t, spared, "true")
	has := func(tr *Trace, prefix string) bool {
		for _, p := range tr.Phases() {
			if strings.HasPrefix(p.Name, prefix) {
				return true
			}
		}
		return false
	}
	if !has(fresh.Trace, "host: init forked") || has(fresh.Trace, "host: init taken from a spare") {
		t.Errorf("a FreshInit sandbox's trace: %v", fresh.Trace.Phases())
	}
	if has(spared.Trace, "host: init forked") || !has(spared.Trace, "host: init taken from a spare") {
		t.Errorf("a spare's sandbox's trace: %v", spared.Trace.Phases())
	}
	if err := syscall.Kill(s.b.pid, 0); err != syscall.ESRCH {
		checkSpareEnded(t, s) // the second Run took it, and it ended with that sandbox
	}
	assertNothingLeft(t)
}

// Dropping the spare (what the tests do before counting) and ending the
// zygote leave no process, zombie, descriptor or slot.
func TestSpareLeavesNothing(t *testing.T) {
	awaitSpare(t)
	spares.drop()
	fds := openFds(t)
	for i := 0; i < 3; i++ {
		s := awaitSpare(t)
		if i == 1 {
			zyg.mu.Lock()
			z := zyg.pid
			zyg.mu.Unlock()
			syscall.Kill(z, syscall.SIGKILL)
			// Ended by its keeper, with no sandbox to find it.
			select {
			case <-s.b.done:
			case <-time.After(10 * time.Second):
				t.Fatal("the spare of an ended zygote was not ended")
			}
		} else {
			spares.drop()
		}
		checkSpareEnded(t, s)
	}
	spares.drop()
	teardowns.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for len(zombieChildren()) > 0 || len(sandboxProcesses()) > 0 || openFds(t) > fds {
		if time.Now().After(deadline) {
			t.Fatalf("after spares: unreaped children %v, sandbox processes %v, %d descriptors open (%d before)", zombieChildren(), sandboxProcesses(), openFds(t), fds)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if held := uids.Held(); len(held) > 0 {
		t.Errorf("slots still used after every sandbox ended: %v", held)
	}
}

// A spare whose init has ended is not fresh before its waiter has reaped
// it: its pidfd says so.
func TestSpareFreshLooksAtThePidfd(t *testing.T) {
	requireSandbox(t)
	c := exec.Command("sleep", "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Wait()
	pidfd, err := unix.PidfdOpen(c.Process.Pid, 0)
	if err != nil {
		t.Skip("no pidfds here")
	}
	defer unix.Close(pidfd)
	mounts, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(mounts)
	s := &spareInit{b: &box{pid: c.Process.Pid, pidfd: pidfd, done: make(chan struct{})}, gen: &zygoteGen{ended: make(chan struct{})}, made: time.Now(), mounts: mounts}
	if ok, _ := s.fresh(); !ok {
		t.Fatal("a spare whose init runs is not fresh")
	}
	c.Process.Kill()
	var info unix.Siginfo
	// Waited for without reaping it (WNOWAIT): a zombie, done not closed.
	if err := unix.Waitid(unix.P_PID, c.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.fresh(); ok {
		t.Error("a spare whose init has ended (not reaped) is fresh")
	}
}

// With the zygote off (a root host's own fork, which TestRootInitAsBefore
// checks), spares off or Spec.FreshInit, a sandbox starts its own init and
// leaves the spare.
func TestSpareNotTakenWhenOff(t *testing.T) {
	for _, c := range []struct {
		name string
		knob *bool
	}{{"zygoteOff", &zygoteOff}, {"sparesOff", &sparesOff}, {"FreshInit", nil}} {
		s := awaitSpare(t)
		spec := Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}
		if c.knob != nil {
			*c.knob = true
		} else {
			spec.FreshInit = true
		}
		b, err := begin(spec.withDefaults())
		if c.knob != nil {
			*c.knob = false
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.fromSpare || b.pid == s.b.pid {
			t.Errorf("%s: the sandbox took the spare %d", c.name, s.b.pid)
		}
		if c.knob == &zygoteOff && !forkedByHost(b) {
			t.Errorf("zygoteOff: the init was not forked by this process")
		}
		b.cleanup()
	}
	assertNothingLeft(t)
}

// A sandbox whose configuration cannot be sent to its spare init ends
// that init: the spare is never put back for another sandbox. (A stand-in
// spare: a process of the test's own whose control socket's other end is
// closed, so that the send fails.)
func TestSpareFailedSendNotReturned(t *testing.T) {
	awaitSpare(t)
	spares.drop()
	c := exec.Command("sleep", "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pidfd, err := unix.PidfdOpen(c.Process.Pid, 0)
	if err != nil {
		c.Process.Kill()
		c.Wait()
		t.Fatal(err)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(pair[1])
	slot, err := uids.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill() })
	// Its own mount watch, which its leaving closes: without one, fd 0
	// was closed then, and the next run's pidfd, given fd 0, was closed by
	// the next leaving, so the spare's SIGKILL went nowhere and it did not
	// end (-count 2 failed).
	mounts, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := &box{pid: c.Process.Pid, pidfd: pidfd, ctrl: pair[0], slot: slot, done: make(chan struct{})}
	go func() { c.Wait(); close(b.done) }()
	s := &spareInit{b: b, gen: &zygoteGen{ended: make(chan struct{}), known: map[int]bool{}}, made: time.Now(), mounts: mounts, gone: make(chan struct{})}
	spares.mu.Lock()
	spares.ready = s
	spares.mu.Unlock()
	_, err = begin(Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}.withDefaults())
	if err == nil || !strings.Contains(err.Error(), "cannot configure the init") {
		t.Fatalf("begin with a spare that cannot be configured = %v, want the send's failure", err)
	}
	spares.mu.Lock()
	back := spares.ready == s
	spares.mu.Unlock()
	if back {
		t.Error("the spare whose configuration failed was put back")
	}
	checkSpareEnded(t, s)
	assertNothingLeft(t)
}
