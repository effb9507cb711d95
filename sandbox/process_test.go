package sandbox

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// ReadOnly takes absolute host paths that exist and do not cover, or lie
// inside, what the sandbox builds itself; the error says which and why.
func TestReadOnlyRefusals(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("Linux paths")
	}
	base, err := os.MkdirTemp("/var/tmp", "bulwark-ro-refusal-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(base)
	toProc := filepath.Join(base, "to-proc")
	os.Symlink("/proc/self", toProc)
	toTmp := filepath.Join(base, "to-tmp")
	os.Symlink(t.TempDir(), toTmp)
	toRoot := filepath.Join(base, "to-root")
	os.Symlink("/", toRoot)
	for _, c := range []struct{ path, want string }{
		{"relative/path", "want an absolute host path"},
		{"", "want an absolute host path"},
		{"/", "would cover the whole sandbox"},
		{"/tmp", "own /tmp"},
		{t.TempDir(), "is inside /tmp"},
		{"/workspace", "own /workspace"},
		{"/proc", "own /proc"},
		{"/proc/self", "is inside /proc"},
		{"/run", "own /run"},
		{"/run/bulwark", "is inside /run"},
		{"/etc", "own /etc"},
		{"/usr", "own /usr"},
		{"/dev", "own /dev"},
		{"/sys", "own /sys"},
		{filepath.Join(base, "missing"), "does not exist"},
		{toProc, "its real path"},
		{toTmp, "its real path"},
		{toRoot, "its real path / would cover the whole sandbox"},
		{base + "/../../../proc", "own /proc"},
	} {
		_, err := Start(context.Background(), Spec{ReadOnly: []string{c.path}, AllowExec: []string{"cat"}}, []string{"cat"})
		if err == nil || bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadOnly %q: %v, want Invalid with %q", c.path, err, c.want)
		}
		if _, err := Run(context.Background(), Spec{ReadOnly: []string{c.path}}, []string{"true"}); err == nil {
			t.Errorf("Run with ReadOnly %q: no error", c.path)
		}
	}
	// The workspace's host folder, or a folder holding it, is refused: the
	// command writes there.
	ws := filepath.Join(base, "ws")
	os.Mkdir(ws, 0o755)
	for _, ro := range []string{ws, base, ws + "/sub/.."} {
		_, err := Start(context.Background(), Spec{Workspace: ws, ReadOnly: []string{ro}, AllowExec: []string{"cat"}}, []string{"cat"})
		if err == nil || bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(err.Error(), "overlaps the workspace") {
			t.Errorf("ReadOnly %q over the workspace: %v", ro, err)
		}
	}
	// Accepted: a folder, a file, a path inside the system folders
	// (already readable: no mount), nested entries (one mount).
	file := filepath.Join(base, "f")
	os.WriteFile(file, nil, 0o644)
	got, err := readOnlyMounts([]string{base, file, "/usr/share", base + "/", "/var/tmp"})
	if err != nil || len(got) != 1 || got[0] != "/var/tmp" {
		t.Errorf("readOnlyMounts: %q, %v", got, err)
	}
	// A symlinked path is bound at both its paths.
	real := filepath.Join(base, "real")
	os.Mkdir(real, 0o755)
	link := filepath.Join(base, "link")
	os.Symlink(real, link)
	if got, err := readOnlyMounts([]string{link}); err != nil || len(got) != 2 || got[0] != link || got[1] != real {
		t.Errorf("symlinked: %q, %v", got, err)
	}
}

// When the host cannot sandbox, Start fails closed with the problem's
// words; it never falls back to running the command unsandboxed.
func TestStartFailsClosed(t *testing.T) {
	t.Setenv("BULWARK_SANDBOX", "")
	old := checkOnce
	defer func() { checkOnce = old }()
	checkOnce = func() Report {
		return Report{Missing: []string{"Landlock ABI 0, need 3 or later: use Linux 6.2+"}}
	}
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran")
	p, err := Start(context.Background(), Spec{AllowExec: []string{"touch"}}, []string{"touch", marker})
	if err == nil {
		p.Kill()
		t.Fatal("Start ran without a sandbox")
	}
	if bulwark.ErrorKind(err) != bulwark.Unavailable || !strings.Contains(err.Error(), "sandbox unavailable: Landlock ABI 0") {
		t.Errorf("error %v", err)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the command ran")
	}
}

// BULWARK_SANDBOX=off runs the command as a plain child, marked
// Unsandboxed, with the clean environment and stdio all the same.
func TestStartUnsandboxed(t *testing.T) {
	if _, err := os.Stat("/bin/cat"); err != nil {
		t.Skip("no cat")
	}
	t.Setenv("BULWARK_SANDBOX", "off")
	t.Setenv("BULWARK_CANARY_ENV", "host-env-canary")
	p, err := Start(context.Background(), Spec{Env: []string{"A=b"}}, []string{"sh", "-c", "env; echo to-stderr >&2; exec cat"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	io.WriteString(p.Stdin(), "echoed\n")
	p.Stdin().Close()
	out, _ := io.ReadAll(p.Stdout())
	res, err := p.Wait()
	if err != nil || !res.Unsandboxed || res.ExitCode != 0 {
		t.Fatalf("Wait: %+v %v", res, err)
	}
	s := string(out)
	if !strings.HasSuffix(s, "echoed\n") || !strings.Contains(s, "A=b\n") || strings.Contains(s, "host-env-canary") {
		t.Errorf("stdout %q", s)
	}
	line, _ := bufio.NewReader(p.Stderr()).ReadString('\n')
	if line != "to-stderr\n" {
		t.Errorf("stderr %q", line)
	}
}
