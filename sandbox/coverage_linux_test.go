package sandbox

import (
	"context"
	"fmt"
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
		if s.want == "prod.env" && testing.Verbose() {
			t.Logf("prod.env replaced, read by the process: %s", ask("prod.env"))
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

// A pattern that names a folder itself covers it whole: what is put in
// it after a long-lived process started stays out of its reach, and is
// not uncovered.
func TestUncoveredFolderCoveredWhole(t *testing.T) {
	requireSandbox(t)
	ws := hideWorkspace(t)
	p := mustStart(t, context.Background(), Spec{Workspace: ws, Hide: []string{"secrets"}, AllowExec: []string{"python3"}}, "python3", "-c", reader)
	out := readLines(t, p.Stdout())
	if err := os.WriteFile(filepath.Join(ws, "secrets/late"), []byte(hideCanary), 0o644); err != nil {
		t.Fatal(err)
	}
	if u, err := p.Uncovered(); u != "" || err != nil {
		t.Errorf("Uncovered() = %q, %v; want none", u, err)
	}
	io.WriteString(p.Stdin(), "secrets/late\n")
	if got := out.next(); strings.Contains(got, hideCanary) {
		t.Errorf("secrets/late, put in the covered folder after the start, was read: %s", got)
	}
}

// BenchmarkUncovered: what one look costs (taskenv looks twice per call
// of a stdio MCP server's tool), over a workspace of 10,000 files in 100
// folders and the files of hideWorkspace.
func BenchmarkUncovered(b *testing.B) {
	ws := b.TempDir()
	for d := range 100 {
		dir := filepath.Join(ws, "src", fmt.Sprint(d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range 100 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.go", f)), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, name := range []string{"secrets/k", "prod.env", "conf/x.env"} {
		os.MkdirAll(filepath.Dir(filepath.Join(ws, name)), 0o755)
		os.WriteFile(filepath.Join(ws, name), []byte(hideCanary), 0o644)
	}
	box := &box{wsDir: ws, spec: Spec{Hide: hidePatterns, WorkspaceFiles: DefaultWorkspaceFiles}}
	hidden, _, err := hiddenPaths(ws, hidePatterns, DefaultWorkspaceFiles)
	if err != nil {
		b.Fatal(err)
	}
	c, err := box.coverage(hidden)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if u, err := c.uncovered(); u != "" || err != nil {
			b.Fatalf("uncovered() = %q, %v", u, err)
		}
	}
}
