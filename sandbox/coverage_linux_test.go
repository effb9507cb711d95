package sandbox

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A long-lived process (Start, as an MCP server runs) finds the paths of
// Spec.Hide covered as a command of Run does: the attack of TestHideCold
// reaches none of them.
func TestHideStart(t *testing.T) {
	requireSandbox(t)
	ws := hideWorkspace(t)
	p := mustStart(t, context.Background(), Spec{Workspace: ws, Hide: hidePatterns, AllowExec: []string{"python3"}}, "python3", "-")
	go func() {
		io.WriteString(p.Stdin(), hideAttack)
		p.Stdin().Close()
	}()
	out, err := io.ReadAll(p.Stdout())
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Wait()
	if err != nil {
		t.Fatal(err)
	}
	checkHidden(t, ws, &Result{ExitCode: res.ExitCode, Stdout: out, Stderr: res.Stderr})
}

// reader is a long-lived process that prints, for each path it is given
// on a line, the file's content (or the error) on one line.
const reader = `
import sys
for line in sys.stdin:
    try:
        with open(line.strip()) as f:
            print(repr(f.read()), flush=True)
    except OSError as e:
        print('error', e.errno, flush=True)
`

// Process.Uncovered tells the paths that match Spec.Hide but that the
// sandbox of a long-lived process did not cover at its start, which it
// may then read: a file given a hidden name since, and a covered name
// that names another file now.
func TestUncovered(t *testing.T) {
	requireSandbox(t)
	ws := hideWorkspace(t)
	p := mustStart(t, context.Background(), Spec{Workspace: ws, Hide: hidePatterns, AllowExec: []string{"python3"}}, "python3", "-c", reader)
	out := readLines(t, p.Stdout())
	ask := func(path string) string {
		t.Helper()
		if _, err := io.WriteString(p.Stdin(), path+"\n"); err != nil {
			t.Fatal(err)
		}
		return out.next()
	}
	uncovered := func() string {
		t.Helper()
		u, err := p.Uncovered()
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	if got := ask("secrets/k"); strings.Contains(got, hideCanary) {
		t.Fatalf("secrets/k read at the start: %s", got)
	}
	if u := uncovered(); u != "" {
		t.Fatalf("Uncovered() = %q at the start, want none", u)
	}
	write := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(ws, name), []byte(hideCanary), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Files the process's covers do not reach, made on the host since.
	steps := []struct {
		name   string
		change func()
		want   string
	}{
		{"a new file in a pinned folder", func() { write("secrets/late") }, "secrets/late"},
		{"gone again", func() { os.Remove(filepath.Join(ws, "secrets/late")) }, ""},
		{"a new .env file", func() { write("docs/late.env") }, "docs/late.env"},
		{"gone again", func() { os.Remove(filepath.Join(ws, "docs/late.env")) }, ""},
		{"a covered file replaced", func() { os.Remove(filepath.Join(ws, "prod.env")); write("prod.env") }, "prod.env"},
		{"put back as it was", func() { os.Remove(filepath.Join(ws, "prod.env")) }, ""},
		{"a folder made under a hidden name", func() {
			os.Rename(filepath.Join(ws, "docs"), filepath.Join(ws, "docs.env"))
		}, "docs.env"},
	}
	for _, s := range steps {
		s.change()
		if u := uncovered(); u != s.want {
			t.Errorf("%s: Uncovered() = %q, want %q", s.name, u, s.want)
		}
	}
	// What Uncovered names is what the process could read: a new file
	// in secrets, where only the names there at the start are covered.
	write("secrets/late")
	if got := ask("secrets/late"); !strings.Contains(got, hideCanary) {
		t.Logf("secrets/late, made after the start, not read (%s): the limit Uncovered guards against may be gone", got)
	}
}

// A process started without Spec.Hide has nothing uncovered.
func TestUncoveredWithoutHide(t *testing.T) {
	requireSandbox(t)
	ws := hideWorkspace(t)
	p := mustStart(t, context.Background(), Spec{Workspace: ws, AllowExec: []string{"python3"}}, "python3", "-c", reader)
	if u, err := p.Uncovered(); u != "" || err != nil {
		t.Errorf("Uncovered() = %q, %v; want none", u, err)
	}
}
