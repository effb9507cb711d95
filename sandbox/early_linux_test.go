package sandbox

import (
	"context"
	"errors"
	"os"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/bulwark-agents/bulwark/sandbox/internal/early"
)

// startEarly starts an init as a cold `bulwark sandbox exec` does at its
// start (package early) and returns its pid and slot, after prepareEarly.
func startEarly(t *testing.T) (int, uint32) {
	t.Helper()
	prepareEarly(t)
	return beginEarly(t)
}

// prepareEarly sees to it that an init can be started early: the
// standalone init cached and checked for this binary, which a sandbox run
// does, and no spare init.
func prepareEarly(t *testing.T) {
	t.Helper()
	requireRootSandbox(t)
	if initPath() == selfExe {
		t.Skip("no standalone init (BULWARK_TEST_STANDALONE_INIT=1 and go generate ./sandbox): none is started early")
	}
	dropSpare()
	mustRun(t, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second}, "true")
	dropSpare()
}

// beginEarly starts an init early and returns its pid and slot.
func beginEarly(t *testing.T) (int, uint32) {
	t.Helper()
	early.Start()
	pid, slot, ok := early.Pending()
	if !ok {
		t.Fatal("no init was started early, with the standalone init cached and checked for this binary")
	}
	t.Cleanup(EndEarlyInit)
	return pid, slot
}

// gone says whether process pid has ended and been reaped.
func gone(pid int) bool {
	return errors.Is(unix.Kill(pid, 0), unix.ESRCH)
}

// An init started early that no sandbox takes (a CLI's usage error, its
// --help, a failed check) is ended by EndEarlyInit, which the CLI calls
// as it exits: killed and reaped, its slot freed, no descriptor, process
// or group left.
func TestEarlyInitEndedUnlessTaken(t *testing.T) {
	prepareEarly(t)
	fds := openFds(t)
	pid, slot := beginEarly(t)
	if gone(pid) || !uids.Used(slot) {
		t.Fatalf("set-up: the early init %d runs: %v, its slot %d used: %v", pid, !gone(pid), slot, uids.Used(slot))
	}
	EndEarlyInit()
	if !gone(pid) {
		t.Errorf("the early init %d still runs (or is not reaped) after EndEarlyInit", pid)
	}
	if uids.Used(slot) {
		t.Errorf("the early init's slot %d is still used after EndEarlyInit", slot)
	}
	// (The sandbox run before closes its namespaces in the background.)
	for deadline := time.Now().Add(5 * time.Second); openFds(t) > fds && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if n := openFds(t); n > fds {
		t.Errorf("%d descriptors open after EndEarlyInit, %d before the early start", n, fds)
	}
	if pids := sandboxProcesses(); len(pids) > 0 {
		t.Errorf("sandbox processes left: %v", pids)
	}
	if left := groupsLeft(t); len(left) > 0 {
		t.Errorf("groups left: %v", left)
	}
}

// A sandbox takes the init started early when it would have forked that
// same init itself: its trace says so, it runs its command, and once it
// has ended nothing of the early init is left.
func TestRunTakesTheEarlyInit(t *testing.T) {
	pid, slot := startEarly(t)
	tr := &Trace{}
	res := mustRun(t, Spec{AllowExec: []string{"sh"}, Timeout: 20 * time.Second, Trace: tr}, "sh", "-c", "echo ok")
	if string(res.Stdout) != "ok\n" || res.ExitCode != 0 {
		t.Fatalf("the command in the early init's sandbox: exit %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	if !slices.ContainsFunc(tr.Phases(), func(p Phase) bool { return p.Name == EarlyPhase }) {
		t.Errorf("the sandbox did not take the init started early (trace %v)", tr.Phases())
	}
	if _, _, ok := early.Pending(); ok {
		t.Error("the init started early is still there to take after a sandbox ran")
	}
	teardowns.Wait()
	// The sandbox's end may have asked for a spare init (two sandboxes
	// in a row), which may have taken the freed slot: the spare is
	// ended first, which frees only its own.
	spares.drop()
	if !gone(pid) || uids.Used(slot) {
		t.Errorf("after the sandbox ended: its init %d gone: %v, its slot %d used: %v", pid, gone(pid), slot, uids.Used(slot))
	}
}

// A sandbox that must not take it (here one that asks for an init of its
// own) ends it, and runs with one it forks.
func TestRunEndsAnEarlyInitItCannotUse(t *testing.T) {
	pid, slot := startEarly(t)
	tr := &Trace{}
	res, err := Run(context.Background(), Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second, Trace: tr, FreshInit: true}, []string{"true"})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Run: %v, %+v", err, res)
	}
	t.Cleanup(func() { assertNothingLeft(t) })
	if slices.ContainsFunc(tr.Phases(), func(p Phase) bool { return p.Name == EarlyPhase }) {
		t.Error("a sandbox with FreshInit took the init started early")
	}
	if !gone(pid) || uids.Used(slot) {
		t.Errorf("the early init %d gone: %v, its slot %d used: %v", pid, gone(pid), slot, uids.Used(slot))
	}
}

// Which processes start an init early: a root host's sandbox exec only.
func TestEarlyStartWanted(t *testing.T) {
	for _, args := range [][]string{
		{"bulwark"}, {"bulwark", "version"}, {"bulwark", "sandbox"}, {"bulwark", "sandbox", "check"},
		{"bulwark", "run", "sandbox", "exec"}, {"bulwark", "sandbox", "exec2"}, {"bulwark", "--data", "x", "sandbox", "exec"},
		{"bulwark", "sandbox", "exec", "--help"}, {"bulwark", "sandbox", "exec", "-h"}, {"bulwark", "sandbox", "exec", "--workspace", "w", "-help"},
	} {
		if early.Wanted(args) {
			t.Errorf("Wanted(%q) = true", args)
		}
	}
	var sfs unix.Statfs_t
	_, set := os.LookupEnv("BULWARK_SANDBOX")
	want := os.Geteuid() == 0 && !set && unix.Statfs("/sys/fs/cgroup", &sfs) == nil && sfs.Type != unix.CGROUP2_SUPER_MAGIC
	exec := []string{"bulwark", "sandbox", "exec", "--", "true"}
	for _, args := range [][]string{exec, {"bulwark", "sandbox", "exec", "--", "ls", "--help"}} {
		if got := early.Wanted(args); got != want {
			t.Errorf("Wanted(%q) = %v, want %v", args, got, want)
		}
	}
	t.Setenv("BULWARK_SANDBOX", "off")
	if early.Wanted(exec) {
		t.Errorf("Wanted(%q) with BULWARK_SANDBOX=off", exec)
	}
}

// A sandbox that starts its inits from another file than the one the
// early init was executed from (here this binary, as after the kernel
// refused the standalone init) ends it rather than configure it: the
// init a sandbox runs is always the one its own checks chose.
func TestRunEndsAnEarlyInitOfAnotherFile(t *testing.T) {
	pid, slot := startEarly(t)
	standaloneRefused.Store(true)
	defer standaloneRefused.Store(false)
	tr := &Trace{}
	mustRun(t, Spec{AllowExec: []string{"true"}, Timeout: 20 * time.Second, Trace: tr}, "true")
	if slices.ContainsFunc(tr.Phases(), func(p Phase) bool { return p.Name == EarlyPhase }) {
		t.Error("a sandbox whose init is this binary took the early init, executed from the standalone one")
	}
	if !gone(pid) || uids.Used(slot) {
		t.Errorf("the early init %d gone: %v, its slot %d used: %v", pid, gone(pid), slot, uids.Used(slot))
	}
}
