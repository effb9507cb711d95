package sandbox

import (
	"context"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The escape battery runs attacks inside real sandboxes. The test binary is
// the sandbox init (it imports this package), so nothing is built first.
// It needs user namespaces, Landlock, seccomp and cgroups, and root or a
// delegated cgroup: it runs where BULWARK_TEST_SANDBOX=1 says the host has
// them, and skips, saying why, elsewhere. Run as root, TestNonRoot runs it
// all again as a user that is not root.

func requireSandbox(t *testing.T) {
	t.Helper()
	testfamily.Sandbox.Require(t)
	if r := Check(); !r.OK() {
		t.Fatalf("BULWARK_TEST_SANDBOX=1 but the host cannot sandbox: %s", r.Problem())
	}
	if Disabled() {
		t.Fatal("BULWARK_SANDBOX=off is set: the battery would test nothing")
	}
}

// mustRun runs cmd in a fresh sandbox and fails the test if the sandbox
// could not be set up.
func mustRun(t *testing.T, spec Spec, cmd ...string) *Result {
	t.Helper()
	res, err := Run(context.Background(), spec, cmd)
	if err != nil {
		t.Fatalf("Run(%q): %v", cmd, err)
	}
	t.Cleanup(func() { assertNothingLeft(t) })
	return res
}

// py runs a Python program in a sandbox that allows only python3 and bash.
func py(t *testing.T, spec Spec, program string) *Result {
	t.Helper()
	if spec.AllowExec == nil {
		spec.AllowExec = []string{"python3", "bash"}
	}
	spec.Stdin = strings.NewReader(program)
	return mustRun(t, spec, "python3", "-")
}

// assertContained checks the attack's own report: it prints BLOCKED lines
// for what failed, and ESCAPED for anything that worked.
func assertContained(t *testing.T, res *Result, wantBlocked int) {
	t.Helper()
	out := string(res.Stdout)
	if testing.Verbose() {
		t.Logf("attack report:\n%s", out)
	}
	if strings.Contains(out, "ESCAPED") || strings.Count(out, "BLOCKED") < wantBlocked {
		t.Errorf("attack not contained (exit %d):\nstdout:\n%s\nstderr:\n%s", res.ExitCode, out, res.Stderr)
	}
}

func init() {
	uids.RecordEver()
}

// assertNothingLeft checks that no process of a sandbox this test process
// made is alive on the host: the sandbox's processes all died with it.
// (Other processes, such as other packages' tests, may run sandboxes at the
// same time; their uids are not ours.) It waits for the inits that Run
// left ending in the background (endAfterRun); TestRunEndsTheInitAfter
// checks what holds before.
func assertNothingLeft(t *testing.T) {
	t.Helper()
	teardowns.Wait()
	spares.drop() // a process's spare init is one of its sandboxes' processes
	if pids := sandboxProcesses(); len(pids) > 0 {
		t.Errorf("sandbox processes survived the sandbox: %v", pids)
	}
}

// ours reports whether a sandbox uid belongs to a slot this process used.
func ours(uid uint32) bool {
	return uids.Ever((uid - uidBase) / 2)
}

// sandboxProcesses lists host processes running as the uid of one of this
// process's sandboxes.
func sandboxProcesses() []string {
	if rl := rootless(); rl != nil {
		return rootlessSandboxProcesses(rl)
	}
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "Uid:" {
				if uid, _ := strconv.ParseUint(f[1], 10, 32); uid >= uidBase && uid < uidBase+2*uidSlots && ours(uint32(uid)) {
					out = append(out, e.Name()+":"+f[1])
				}
			}
		}
	}
	return out
}
