package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The id-mapping user namespace of a workspace mount (idmapChild) is made
// by a vforked child that exits at once, whose maps this process writes
// before it reaps it. Its maps must be those Go wrote when it forked the
// child itself with UidMappings and GidMappings: the owner alone, mapped
// to the command's uid, and setgroups denied; the child has run nothing
// (it is a zombie, not reaped) and its namespace is a new one.
func TestIdmapChildMaps(t *testing.T) {
	requireRootSandbox(t)
	const uid, gid, cmdUID = 4321, 5432, uidBase + 2*uidSlots - 2
	pid, err := idmapChild(uid, gid, cmdUID)
	if err != nil {
		t.Fatalf("idmapChild: %v", err)
	}
	defer reapChild(pid)
	for _, f := range []struct{ name, want string }{
		{"uid_map", fmt.Sprintf("%d %d 1", uid, cmdUID)},
		{"gid_map", fmt.Sprintf("%d %d 1", gid, cmdUID)},
		{"setgroups", "deny"},
	} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(strings.Fields(string(b)), " "); got != f.want {
			t.Errorf("/proc/PID/%s of the id-mapping child = %q, want %q", f.name, got, f.want)
		}
	}
	// The vfork returns as the child's exit lets its memory go, before
	// the kernel has made it a zombie: on a loaded host it may still be
	// seen running its exit (R) for a moment.
	var b []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if b, err = os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if len(f) >= 1 && f[0] == "Z" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the id-mapping child's stat = %q, want it ended and not reaped (Z)", b)
		}
	}
	mine, _ := os.Readlink("/proc/self/ns/user")
	its, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid))
	if its == "" || its == mine {
		t.Errorf("the id-mapping child's user namespace is %q, this process's %q: want a new one", its, mine)
	}
}

// idmapUserns leaves no child behind: the one it made is reaped.
func TestIdmapUsernsReapsItsChild(t *testing.T) {
	requireRootSandbox(t)
	before := childrenOfThisProcess(t)
	fd, err := idmapUserns(4321, 5432, uidBase)
	if err != nil {
		t.Fatalf("idmapUserns: %v", err)
	}
	syscall.Close(fd)
	for _, pid := range childrenOfThisProcess(t) {
		if !slices.Contains(before, pid) {
			t.Errorf("process %s, a child of this process, is left after idmapUserns", pid)
		}
	}
}

// A map the kernel refuses fails idmapUserns with the reason, and leaves
// no process behind: the child is killed and reaped, not left stopped or a
// zombie.
func TestIdmapMapFailureLeavesNoChild(t *testing.T) {
	requireRootSandbox(t)
	before := childrenOfThisProcess(t)
	// uid 2^32-1 plus one id wraps: the kernel refuses the uid map.
	fd, err := idmapUserns(1<<32-1, 5432, uidBase)
	if err == nil {
		syscall.Close(fd)
		t.Fatal("idmapUserns with an id map the kernel refuses: no error")
	}
	if !strings.Contains(err.Error(), "write the id maps of process") {
		t.Errorf("idmapUserns's error = %q, want it to say the id maps could not be written", err)
	}
	for _, pid := range childrenOfThisProcess(t) {
		if !slices.Contains(before, pid) {
			t.Errorf("process %s, a child of this process, is left after a failed idmapUserns", pid)
		}
	}
}

// The workspace's owner, and no one else, appears inside as the command's
// uid and gid, and what the command writes lands on disk as the owner.
func TestWorkspaceOwnerIsTheCommand(t *testing.T) {
	requireRootSandbox(t)
	const uid, gid = 4321, 5432
	ws := t.TempDir()
	for name, owner := range map[string][2]int{"": {uid, gid}, "owners": {uid, gid}, "other-uid": {uid + 1, gid}, "other-gid": {uid, gid + 1}} {
		p := filepath.Join(ws, name)
		if name != "" {
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chown(p, owner[0], owner[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	res := mustRun(t, Spec{Workspace: ws, AllowExec: []string{"sh", "stat", "touch"}},
		"sh", "-c", "touch /workspace/new && cd /workspace && stat -c '%n %u:%g' . owners other-uid other-gid new")
	if res.ExitCode != 0 {
		t.Fatalf("exit %d: %s", res.ExitCode, res.Stderr)
	}
	in := fmt.Sprint(sandboxUID)
	want := ". " + in + ":" + in + "\nowners " + in + ":" + in + "\nother-uid 65534:" + in + "\nother-gid " + in + ":65534\nnew " + in + ":" + in + "\n"
	if got := string(res.Stdout); got != want {
		t.Errorf("owners seen inside the sandbox:\n%s\nwant:\n%s", got, want)
	}
	st, err := os.Stat(filepath.Join(ws, "new"))
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Sys().(*syscall.Stat_t); s.Uid != uid || s.Gid != gid {
		t.Errorf("a file the command made is owned by %d:%d on disk, want the workspace's owner %d:%d", s.Uid, s.Gid, uid, gid)
	}
}

// requireRootSandbox is requireSandbox for a test of the root host's
// start path.
func requireRootSandbox(t *testing.T) {
	t.Helper()
	requireSandbox(t)
	if rootless() != nil {
		t.Skip("the id-mapped workspace mount is the root host's")
	}
}

// childrenOfThisProcess lists the pids of this process's children, zombies
// included, from every thread's children file.
func childrenOfThisProcess(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("/proc/self/task/*/children")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, f := range files {
		b, _ := os.ReadFile(f)
		pids = append(pids, strings.Fields(string(b))...)
	}
	return pids
}
