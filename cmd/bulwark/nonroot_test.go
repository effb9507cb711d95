package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/bulwark-agents/bulwark/sandbox"
)

// nobody is the unprivileged user the CLI runs as in TestNonRootCLI: no
// subordinate ids, no cgroup of its own.
const nobody = 65534

// TestNonRootCLI: `bulwark sandbox check`, `run` and `doctor` as a user
// that is not root. Without a writable cgroup the code tools refuse and
// say how to delegate one; with BULWARK_SANDBOX_LIMITS=off (warned) a task
// runs its code in the sandbox as that user, whose workspace files stay
// its own. (The sandbox package's TestNonRoot runs the escape battery and
// the limits as a user with subordinate ids and a delegated cgroup.)
func TestNonRootCLI(t *testing.T) {
	testfamily.Sandbox.Require(t)
	if os.Geteuid() != 0 {
		t.Skip("root sets this test up (files for another user)")
	}
	dir := ownedDir(t, "")
	bin := filepath.Join(dir, "bulwark")
	copyFile(t, binary, bin, 0o755)
	script := filepath.Join(dir, "script.jsonl")
	copyFile(t, example(t), script, 0o644)
	home, data, ws := ownedDir(t, dir), ownedDir(t, dir), ownedDir(t, dir)
	nobodyCmd := func(extra []string, args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Dir = home
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "TMPDIR=" + home, "BULWARK_DATA=" + data}, extra...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody, Groups: []uint32{}}}
		return cmd
	}
	asNobody := func(extra []string, args ...string) result {
		t.Helper()
		cmd := nobodyCmd(extra, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("running bulwark as nobody: %v", err)
		}
		return result{code, out.String(), errb.String()}
	}
	off := []string{sandbox.LimitsVar + "=off"}

	r := asNobody(nil, "sandbox", "check")
	for _, want := range []string{"nobody (uid 65534)", "subordinate ids:  NONE", "not root:", "signal its own init",
		"no cgroup that nobody may write", "Delegate=yes", sandbox.CgroupVar + "=", sandbox.LimitsVar + "=off"} {
		if r.code != 1 || !strings.Contains(r.stdout, want) {
			t.Errorf("sandbox check as nobody without a cgroup: exit %d, want 1 and %q:\n%s%s", r.code, want, r.stdout, r.stderr)
		}
	}
	r = asNobody(nil, "run", "--model", "replay:"+script, "--workspace", ws, "greet")
	if !strings.Contains(r.stderr, "run_shell and run_code are off") || !strings.Contains(r.stderr, "no cgroup that nobody may write") {
		t.Errorf("run as nobody without a cgroup: exit %d, want the code tools off, saying why:\n%s%s", r.code, r.stdout, r.stderr)
	}

	r = asNobody(off, "sandbox", "check")
	if r.code != 0 || !strings.Contains(r.stdout, "limits:           OFF") || !strings.Contains(r.stdout, "ready (a test sandbox ran)") {
		t.Errorf("sandbox check as nobody with %v: exit %d:\n%s%s", off, r.code, r.stdout, r.stderr)
	}
	os.Remove(filepath.Join(ws, "greet.py"))
	r = asNobody(off, "run", "--model", "replay:"+script, "--workspace", ws, "greet")
	if r.code != 0 || !strings.Contains(r.stdout, "Hello, Ada!") || !strings.Contains(r.stderr, sandbox.LimitsOffWarning) {
		t.Errorf("run as nobody with %v: exit %d, want the program run and the warning:\n%s%s", off, r.code, r.stdout, r.stderr)
	}
	if st, err := os.Stat(filepath.Join(ws, "greet.py")); err != nil || st.Sys().(*syscall.Stat_t).Uid != nobody {
		t.Errorf("the task's file: %v, want it owned by nobody", err)
	}

	// The server, too: a task's code runs in the sandbox as nobody.
	r = asNobody(off, "tenants", "create", "acme")
	key := ""
	for _, f := range strings.Fields(r.stdout) {
		if strings.HasPrefix(f, "bwk_") {
			key = f
		}
	}
	if r.code != 0 || key == "" {
		t.Fatalf("tenants create as nobody: exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
	srv := startServeCmd(t, nobodyCmd(off, "serve", "--addr", "127.0.0.1:0", "--model", "replay:"+script))
	if !strings.Contains(srv.log.String(), sandbox.LimitsOffWarning) {
		t.Errorf("serve with %v does not warn at start:\n%s", off, srv.log)
	}
	var task crashTask
	if code := srv.call(t, key, "POST", "/api/v1/tasks", `{"input": "greet"}`, &task); code != 201 && code != 202 && code != 200 {
		t.Fatalf("POST /api/v1/tasks as nobody's server: %d", code)
	}
	for deadline := time.Now().Add(time.Minute); task.Status != "succeeded" && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		srv.call(t, key, "GET", "/api/v1/tasks/"+task.ID, "", &task)
		if task.Status == "failed" || task.Status == "canceled" {
			break
		}
	}
	req, _ := http.NewRequest("GET", srv.base+"/api/v1/tasks/"+task.ID+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	var events []byte
	if resp, err := http.DefaultClient.Do(req); err == nil {
		events, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if task.Status != "succeeded" || !strings.Contains(string(events), "Hello, Ada!") {
		t.Errorf("a served task as nobody: status %q, want succeeded with its program's output in the events:\n%s\n%s", task.Status, events, srv.log)
	}

	r = asNobody(off, "doctor")
	if !hasLine(r.stdout, "warn  user", "nobody (uid 65534), not root") || !hasLine(r.stdout, "warn  sandbox limits", sandbox.LimitsVar+"=off") {
		t.Errorf("doctor as nobody: want the user and the limits reported:\n%s%s", r.stdout, r.stderr)
	}
}

// TestDoctorRoot: root where the sandbox does not need it fails doctor,
// saying how to run without it; BULWARK_ALLOW_ROOT=1 makes it a warning.
func TestDoctorRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("doctor's root check: run as root")
	}
	if need, why := sandbox.RootNeeded(); need {
		r := runBulwark(t, []string{"BULWARK_DATA=" + t.TempDir()}, "doctor")
		if !hasLine(r.stdout, "ok    user", "needs here") {
			t.Errorf("root where %v: want it reported as needed:\n%s", why, r.stdout)
		}
		return
	}
	data := t.TempDir()
	os.Chmod(data, 0o700)
	r := runBulwark(t, []string{"BULWARK_DATA=" + data}, "doctor")
	if r.code != 1 || !hasLine(r.stdout, "FAIL  user", "root, which this host does not need", "Running without root", allowRootVar+"=1") {
		t.Errorf("doctor as root: exit %d, want the user check failed with the way out:\n%s", r.code, r.stdout)
	}
	r = runBulwark(t, []string{"BULWARK_DATA=" + data, allowRootVar + "=1"}, "doctor")
	if !hasLine(r.stdout, "warn  user", "root by choice") {
		t.Errorf("doctor as root with %s=1: want a warning:\n%s", allowRootVar, r.stdout)
	}
}

// hasLine reports whether a line of out starts with prefix and holds all of want.
func hasLine(out, prefix string, want ...string) bool {
	for _, l := range strings.Split(out, "\n") {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(l, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// ownedDir makes a folder in parent (the temporary folder when "") that
// nobody owns, private, or, for parent "", one anyone may enter.
func ownedDir(t *testing.T, parent string) string {
	t.Helper()
	d, err := os.MkdirTemp(parent, "bulwark-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	if parent == "" {
		t.Cleanup(func() { os.RemoveAll(d) })
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if err := os.Chown(d, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	return d
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
