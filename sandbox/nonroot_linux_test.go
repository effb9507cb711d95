package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"golang.org/x/sys/unix"
)

// The non-root mode of the sandbox tests. Run as root (as CI runs them),
// TestNonRoot sets up what an operator, or systemd, gives an unprivileged
// Bulwark, and runs this package's test binary again as that user:
//
//   - "delegated": a user of its own with subordinate ids in /etc/subuid
//     and /etc/subgid and a cgroup it may write (per v1 controller, or
//     v2, chowned as systemd's Delegate=yes does), named by
//     BULWARK_CGROUP: the whole suite, escape battery and limits included,
//     must pass as that user.
//   - "bare": a user without subordinate ids or a writable cgroup: the
//     sandbox must refuse, saying how to delegate one (TestNonRootRefusal),
//     and with BULWARK_SANDBOX_LIMITS=off run, as the user
//     (TestNonRootNoSubordinateIDs).
//
// The user, its ids and the cgroups are removed afterwards.

// supplementaryGID is a group the delegated run's user is in, which no
// sandbox command may keep.
const supplementaryGID = 100

// nonRootVar tells the test binary, run again as a user, which set-up it
// runs in.
const nonRootVar = "BULWARK_TEST_NONROOT"

func TestNonRoot(t *testing.T) {
	requireSandbox(t)
	if os.Geteuid() != 0 {
		t.Skip("the non-root mode is set up by root (useradd, /etc/subuid, a delegated cgroup); this run is not root, so it is the non-root run itself")
	}
	for _, tool := range []string{"useradd", "userdel", "usermod", "newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: the non-root mode needs it (apt-get install passwd uidmap)", tool)
		}
	}
	bin := copyTestBinary(t)
	t.Run("delegated", func(t *testing.T) {
		u := makeUser(t, "d", true)
		cg := delegateCgroup(t, u)
		out, err := runAs(t, u, bin, &cg, []string{CgroupVar + "=" + cg.name}, "-test.skip", "^TestNonRoot$")
		if err != nil {
			t.Fatalf("the sandbox suite as %s (subordinate ids, %s=%s) failed: %v\n%s", u.name, CgroupVar, cg.name, err, out)
		}
		if !strings.Contains(out, "\nPASS") && !strings.HasPrefix(out, "PASS") {
			t.Fatalf("the sandbox suite as %s did not pass:\n%s", u.name, out)
		}
	})
	t.Run("bare", func(t *testing.T) {
		u := makeUser(t, "b", false)
		for _, run := range []struct {
			test string
			env  []string
		}{
			{"^TestNonRootRefusal$", nil},
			{"^TestNonRootNoSubordinateIDs$", []string{LimitsVar + "=off"}},
		} {
			out, err := runAs(t, u, bin, nil, run.env, "-test.run", run.test)
			if err != nil || !strings.Contains(out, "PASS") || strings.Contains(out, "no tests to run") {
				t.Errorf("%s as %s (no subordinate ids, no writable cgroup, %v): %v\n%s", run.test, u.name, run.env, err, out)
			}
		}
	})
}

// TestNonRootRefusal (run by TestNonRoot as a user without a writable
// cgroup): the sandbox refuses, and says how to delegate a cgroup or turn
// the limits off; sandbox check tells what is lost without subordinate ids.
func TestNonRootRefusal(t *testing.T) {
	if os.Getenv(nonRootVar) != "bare" {
		t.Skip("run by TestNonRoot as a user without subordinate ids or a writable cgroup")
	}
	r := Check()
	if r.OK() || r.Root {
		t.Fatalf("Check() as %s without a writable cgroup: OK = %v, Root = %v; want a refusal", r.User, r.OK(), r.Root)
	}
	problem := r.Problem()
	for _, want := range []string{"no cgroup that", "may write", "Delegate=yes", CgroupVar + "=", LimitsVar + "=off", "chown"} {
		if !strings.Contains(problem, want) {
			t.Errorf("Check().Problem() = %q, want it to say %q", problem, want)
		}
	}
	if r.SubordinateIDs != "" || !strings.Contains(strings.Join(r.Warnings, "\n"), "no subordinate uid and gid ranges") {
		t.Errorf("Check() for a user without subordinate ids: SubordinateIDs %q, Warnings %q", r.SubordinateIDs, r.Warnings)
	}
	for _, want := range []string{"signal its own init", "supplementary groups", "Acceptable", "usermod --add-subuids"} {
		if !strings.Contains(r.Isolation, want) {
			t.Errorf("Check().Isolation = %q, want it to say %q", r.Isolation, want)
		}
	}
	_, err := Run(context.Background(), Spec{AllowExec: []string{"true"}}, []string{"true"})
	if bulwark.ErrorKind(err) != bulwark.Unavailable || !strings.Contains(err.Error(), LimitsVar+"=off") {
		t.Errorf("Run without a writable cgroup: err = %v, want Unavailable saying how to delegate a cgroup", err)
	}
}

// TestNonRootNoSubordinateIDs (run by TestNonRoot as a user without
// subordinate ids, BULWARK_SANDBOX_LIMITS=off): the sandbox runs, the
// command as the user mapped to uid 1000 with nothing to gain, and what it
// writes to the workspace (named through a symlink) is the user's.
func TestNonRootNoSubordinateIDs(t *testing.T) {
	if os.Getenv(nonRootVar) != "bare" {
		t.Skip("run by TestNonRoot as a user without subordinate ids, with " + LimitsVar + "=off")
	}
	r := Check()
	if !r.OK() || !r.LimitsOff || !strings.Contains(strings.Join(r.Warnings, "\n"), LimitsOffWarning) {
		t.Fatalf("Check() with %s=off: OK %v (%s), LimitsOff %v, Warnings %q", LimitsVar, r.OK(), r.Problem(), r.LimitsOff, r.Warnings)
	}
	ws := t.TempDir()
	// Through a symlink: the init binds the real folder.
	link := filepath.Join(t.TempDir(), "ws")
	if err := os.Symlink(ws, link); err != nil {
		t.Fatal(err)
	}
	res := mustRun(t, Spec{Workspace: link, AllowExec: []string{"bash", "cat"}}, "bash", "-c",
		"cat /proc/self/status /proc/self/uid_map; echo hi > /workspace/out")
	out := string(res.Stdout)
	for _, want := range []string{"CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", "CapAmb:\t0000000000000000",
		"NoNewPrivs:\t1", "Seccomp:\t2", "Uid:\t1000\t1000\t1000\t1000"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s%s", want, out, res.Stderr)
		}
	}
	if !hasMapLine(out, sandboxUID, os.Geteuid()) {
		t.Errorf("uid_map does not map uid %d to this user %d:\n%s", sandboxUID, os.Geteuid(), out)
	}
	assertOwnedByMe(t, filepath.Join(ws, "out"))

	// A folder of another user's is not a workspace: the command would
	// write there as this user, with what the folder's modes let others do.
	_, err := Run(context.Background(), Spec{Workspace: "/tmp", AllowExec: []string{"true"}}, []string{"true"})
	if bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(err.Error(), "owned by uid 0") {
		t.Errorf("Run with root's /tmp as the workspace: err = %v, want it refused as another user's folder", err)
	}
}

// TestRootlessIDs (part of the suite in TestNonRoot's delegated run): the
// command runs as the user mapped to uid 1000, the init as uid 0 mapped to
// a subordinate uid, and the workspace's new files are the user's.
func TestRootlessIDs(t *testing.T) {
	requireSandbox(t)
	rl := rootless()
	if rl == nil || rl.sub == nil {
		t.Skip("for a user with subordinate ids (TestNonRoot runs it so)")
	}
	ws := t.TempDir()
	res := mustRun(t, Spec{Workspace: ws, AllowExec: []string{"bash", "cat"}}, "bash", "-c", "cat /proc/self/uid_map /proc/self/gid_map; echo hi > /workspace/out; echo ==; cat /proc/self/status")
	out, status, _ := strings.Cut(string(res.Stdout), "==\n")
	groups, _ := os.Getgroups()
	for _, l := range strings.Split(status, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == "Groups:" && len(f) > 1 {
			t.Errorf("the command has supplementary groups (%q); the host's user has %v, which the init must drop", l, groups)
		}
	}
	if !strings.Contains(status, "Groups:") {
		t.Errorf("no Groups line in the command's status:\n%s%s", res.Stdout, res.Stderr)
	}
	if !hasMapLine(out, sandboxUID, rl.uid) || !hasMapLine(out, sandboxUID, rl.gid) {
		t.Errorf("maps lack %d -> this user's uid %d and gid %d:\n%s%s", sandboxUID, rl.uid, rl.gid, out, res.Stderr)
	}
	found := false
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "0" {
			id, _ := strconv.ParseUint(f[1], 10, 32)
			if id < uint64(rl.sub.uids.start) || id >= uint64(rl.sub.uids.start+rl.sub.uids.count) {
				t.Errorf("uid 0 of the sandbox maps to %d, outside the subordinate range %s", id, rl.sub)
			}
			found = true
		}
		if f := strings.Fields(l); len(f) == 3 && f[0] != "0" && f[0] != strconv.Itoa(sandboxUID) {
			t.Errorf("unexpected map line %q", l)
		}
	}
	if !found {
		t.Errorf("uid 0 of the sandbox (its init) is not mapped to a subordinate id:\n%s", out)
	}
	assertOwnedByMe(t, filepath.Join(ws, "out"))
}

func hasMapLine(out string, inside, host int) bool {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == strconv.Itoa(inside) && f[1] == strconv.Itoa(host) && f[2] == "1" {
			return true
		}
	}
	return false
}

func assertOwnedByMe(t *testing.T, file string) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(file, &st); err != nil {
		t.Fatalf("the command's file: %v", err)
	}
	if int(st.Uid) != os.Geteuid() || int(st.Gid) != os.Getegid() {
		t.Errorf("%s is owned by %d:%d, want this user %d:%d", file, st.Uid, st.Gid, os.Geteuid(), os.Getegid())
	}
}

// testUser is a user made for one run.
type testUser struct {
	name     string
	uid, gid int
	home     string // a private folder of the user's: TMPDIR, HOME, cwd
}

// makeUser adds a system user of its own, with subordinate ids when sub
// is set, and removes it (and them) when the test ends.
func makeUser(t *testing.T, tag string, sub bool) testUser {
	t.Helper()
	name := fmt.Sprintf("bwt%s%d", tag, os.Getpid())
	run(t, "useradd", "--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", name)
	t.Cleanup(func() {
		exec.Command("userdel", name).Run()
		exec.Command("groupdel", name).Run()
	})
	if sub {
		start := freeSubordinateStart(t)
		r := fmt.Sprintf("%d-%d", start, start+65535)
		run(t, "usermod", "--add-subuids", r, "--add-subgids", r, name)
		t.Cleanup(func() { exec.Command("usermod", "--del-subuids", r, "--del-subgids", r, name).Run() })
	}
	uid, _ := strconv.Atoi(strings.TrimSpace(run(t, "id", "-u", name)))
	gid, _ := strconv.Atoi(strings.TrimSpace(run(t, "id", "-g", name)))
	home, err := os.MkdirTemp("", "bulwark-nonroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	t.Cleanup(func() { os.RemoveAll(userLeaseDir(uid)) })
	if err := os.Chown(home, uid, gid); err != nil {
		t.Fatal(err)
	}
	return testUser{name: name, uid: uid, gid: gid, home: home}
}

// freeSubordinateStart is the start of 65536 ids that no line of
// /etc/subuid or /etc/subgid holds.
func freeSubordinateStart(t *testing.T) int {
	end := 1 << 20
	for _, file := range []string{"/etc/subuid", "/etc/subgid"} {
		f, err := os.Open(file)
		if err != nil {
			continue
		}
		s := bufio.NewScanner(f)
		for s.Scan() {
			p := strings.Split(s.Text(), ":")
			if len(p) != 3 {
				continue
			}
			a, _ := strconv.Atoi(p[1])
			n, _ := strconv.Atoi(p[2])
			end = max(end, a+n)
		}
		f.Close()
	}
	return (end + 65535) &^ 65535
}

// delegation is a cgroup made for a user, relative to each hierarchy.
type delegation struct {
	name string
	v2   string // the v2 folder when the host has one for the controllers
}

// delegateCgroup makes a cgroup the user may write, as systemd's
// Delegate=yes does: on cgroup v2 the folder with its cgroup.procs,
// cgroup.subtree_control and cgroup.threads, on v1 the folder of each
// controller with its files.
func delegateCgroup(t *testing.T, u testUser) delegation {
	t.Helper()
	d := delegation{name: "bulwark-test-" + u.name}
	unified := unifiedRoot()
	var rootV2 []string
	if unified != "" {
		if b, err := os.ReadFile(filepath.Join(unified, "cgroup.controllers")); err == nil {
			rootV2 = strings.Fields(string(b))
		}
	}
	var v1 []string
	needV2 := false
	for _, c := range controllers {
		switch {
		case slices.Contains(rootV2, c):
			needV2 = true
		case v1Mount(c) != "":
			v1 = append(v1, filepath.Join(v1Mount(c), d.name))
		default:
			t.Fatalf("cgroup controller %s is in no hierarchy", c)
		}
	}
	if needV2 {
		d.v2 = filepath.Join(unified, d.name)
		var enable []string
		for _, c := range controllers {
			if slices.Contains(rootV2, c) {
				enable = append(enable, "+"+c)
			}
		}
		if err := os.WriteFile(filepath.Join(unified, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0); err != nil {
			t.Fatalf("enable %v for the delegated cgroup: %v", enable, err)
		}
		mkdirOwned(t, d.v2, u, "cgroup.procs", "cgroup.subtree_control", "cgroup.threads")
	}
	for _, dir := range v1 {
		mkdirOwned(t, dir, u)
	}
	return d
}

// mkdirOwned makes the cgroup dir, gives it and files (all of its files
// when none is named) to u, and removes it, with the groups made below it,
// when the test ends.
func mkdirOwned(t *testing.T, dir string, u testUser, files ...string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroupTree(t, dir) })
	if len(files) == 0 {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			files = append(files, e.Name())
		}
	}
	for _, f := range append([]string{""}, files...) {
		if err := os.Chown(filepath.Join(dir, f), u.uid, u.gid); err != nil {
			t.Fatal(err)
		}
	}
}

// removeCgroupTree removes a cgroup and the (empty) groups below it.
func removeCgroupTree(t *testing.T, dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			removeCgroupTree(t, filepath.Join(dir, e.Name()))
		}
	}
	for i := 0; i < 50; i++ {
		if err := os.Remove(dir); err == nil || os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("cannot remove the test's cgroup %s", dir)
}

// copyTestBinary copies this test binary where any user may run it (go
// test builds it in a folder of root's alone). The copy is this package's
// test binary, and so the sandbox init, as the original is.
func copyTestBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "bulwark-nonroot-bin-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	bin := filepath.Join(dir, "sandbox.test")
	dst, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
	return bin
}

// runAs runs the test binary as u, in the delegated cgroup on v2 (as
// systemd starts a service in its own), with a clean environment, and
// returns its output.
func runAs(t *testing.T, u testUser, bin string, cg *delegation, env []string, args ...string) (string, error) {
	t.Helper()
	mode := "bare"
	if cg != nil {
		mode = "delegated"
	}
	timeout := 10 * time.Minute
	if dl, ok := t.Deadline(); ok {
		timeout = time.Until(dl) - 30*time.Second
	}
	args = append(args, "-test.timeout", timeout.String())
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = u.home
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + u.home, "TMPDIR=" + u.home, "LANG=C.UTF-8",
		"BULWARK_TEST_SANDBOX=1", nonRootVar + "=" + mode,
	}, env...)
	if d := os.Getenv("BULWARK_MCP_PEERS"); d != "" {
		// The MCP peers where all can read them (.ci/mcp-peers.sh),
		// not the clone's, which may be private or under /tmp.
		cmd.Env = append(cmd.Env, "BULWARK_MCP_PEERS="+d)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(u.uid), Gid: uint32(u.gid), Groups: []uint32{}},
		Pdeathsig:  syscall.SIGKILL,
	}
	if cg != nil {
		// A supplementary group, which the sandbox's init must drop
		// (TestRootlessIDs).
		cmd.SysProcAttr.Credential.Groups = []uint32{supplementaryGID}
	}
	if cg != nil && cg.v2 != "" {
		fd, err := unix.Open(cg.v2, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if testing.Verbose() {
		t.Logf("as %s (%s):\n%s", u.name, mode, out.String())
	}
	return out.String(), err
}

// run runs a set-up command and fails the test when it fails.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestNonRootIDMapFailure (the delegated run): a sandbox whose init cannot
// be given its ids (newgidmap failing after newuidmap wrote the uid map)
// is refused, and nothing of it is left: no process, and its slot and
// groups serve the next sandbox.
func TestNonRootIDMapFailure(t *testing.T) {
	requireSandbox(t)
	rl := rootless()
	if rl == nil || rl.sub == nil {
		t.Skip("run by TestNonRoot as a user with subordinate ids")
	}
	saved := rl.sub.newgidmap
	rl.sub.newgidmap = "/bin/false"
	_, err := Run(context.Background(), Spec{AllowExec: []string{"true"}}, []string{"true"})
	rl.sub.newgidmap = saved
	if bulwark.ErrorKind(err) != bulwark.Unavailable || !strings.Contains(err.Error(), "subordinate ids") {
		t.Errorf("Run with newgidmap failing: err = %v, want Unavailable naming the subordinate ids", err)
	}
	assertNothingLeft(t)
	res := mustRun(t, Spec{AllowExec: []string{"true"}}, "true")
	if res.ExitCode != 0 {
		t.Errorf("the next sandbox: exit %d, stderr %s", res.ExitCode, res.Stderr)
	}
}
