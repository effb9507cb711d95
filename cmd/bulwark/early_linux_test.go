package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A `sandbox exec` that runs no sandbox (here a usage error) ends the
// init its start forked (sandbox/internal/early) before it exits: killed
// through its pidfd and reaped, its slot freed, rather than left to its
// parent death signal with its slot's mark in the lease file.
func TestSandboxExecUsageErrorEndsItsEarlyInit(t *testing.T) {
	needSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("an init is started early by root only")
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed")
	}
	// A first run checks and caches the standalone init for this binary:
	// an init is started early only after that.
	if r := runBulwark(t, nil, "sandbox", "exec", "--", "true"); r.code != 0 {
		t.Fatalf("sandbox exec -- true: exit %d\n%s", r.code, r.stderr)
	}
	out := filepath.Join(t.TempDir(), "strace")
	cmd := exec.Command(strace, "-f", "-qq", "-o", out, "-e", "trace=execve,pidfd_send_signal", binary, "sandbox", "exec", "--no-such-flag", "--", "true")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("sandbox exec --no-such-flag under strace: %v, want exit 2\n%s", err, b)
	}
	trace, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(trace), `"bulwark-sandbox-init"`) {
		t.Skipf("no init was started early (a binary without the standalone init: go generate ./sandbox):\n%s", trace)
	}
	if !strings.Contains(string(trace), "pidfd_send_signal(") || !strings.Contains(string(trace), "SIGKILL") {
		t.Errorf("the init started early was not killed before the CLI exited:\n%s", trace)
	}
}

// A cold `sandbox exec` as root takes the root tree an earlier run pinned
// (sandbox/treepin_linux.go), as its --debug trace says, rather than
// building it again.
func TestSandboxExecTakesThePinnedTree(t *testing.T) {
	needSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("root trees are pinned by root only")
	}
	ws := t.TempDir()
	run := func() string {
		t.Helper()
		r := runBulwark(t, nil, "sandbox", "exec", "--debug", "--workspace", ws, "--allow-exec", "true", "--", "true")
		if r.code != 0 {
			t.Fatalf("sandbox exec: exit %d\n%s", r.code, r.stderr)
		}
		return r.stderr
	}
	// The first run checks the standalone init (an init is started early,
	// and a tree pinned, only after); the second builds its tree and pins it.
	run()
	run()
	// A host mount made meanwhile (another test's sandbox, a leftover
	// task's) forces a build and a new pin: a few tries. Three were once
	// not enough in a run of the whole package.
	var trace string
	for i := 0; i < 10; i++ {
		if trace = run(); strings.Contains(trace, "host: root tree cloned from a pin") {
			return
		}
	}
	t.Errorf("no run took the pinned tree; the last one's trace:\n%s", trace)
}
