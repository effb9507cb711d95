package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// A fake PATH folder: a program installed under many names (as busybox's
// or uutils' applets are), ordinary programs with one or two more names
// (a version, a hard link), and a program named busybox with one link.
func aliasDir(t *testing.T) (string, map[string][]string) {
	t.Helper()
	d := t.TempDir()
	write := func(name string) {
		if err := os.WriteFile(filepath.Join(d, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(d, name)); err != nil {
			t.Fatal(err)
		}
	}
	write("multi")
	for _, n := range []string{"ls", "cat", "sh", "wget", "nc"} {
		link("multi", n)
	}
	write("python3.11")
	link("python3.11", "python3")
	write("gunzip")
	if err := os.Link(filepath.Join(d, "gunzip"), filepath.Join(d, "uncompress")); err != nil {
		t.Fatal(err)
	}
	write("busybox")
	link("busybox", "grep")
	write("single")
	return d, scanAliases([]string{d}, func(string) {})
}

var multiCallTests = []struct {
	allow   []string
	refused string // the entry refused, "" for none
}{
	{[]string{"ls"}, "ls"},
	{[]string{"python3", "cat"}, "cat"},
	{[]string{"ls", "cat"}, "ls"},                     // sh, wget and nc: more than two
	{[]string{"ls", "cat", "sh"}, ""},                 // wget and nc only: a name or two is common
	{[]string{"ls", "multi"}, ""},                     // the program itself, on purpose
	{[]string{"python3"}, ""},                         // python3.11 is its own name
	{[]string{"gunzip"}, ""},                          // one hard link more
	{[]string{"uncompress"}, ""},                      // the same, the other way
	{[]string{"single"}, ""},                          // one name
	{[]string{"grep"}, "grep"},                        // a known multi-call program
	{[]string{"grep", "busybox"}, ""},                 // allowed itself
	{[]string{"missing", "ls", "multi"}, ""},          // not installed: nothing to refuse
	{[]string{"single", "python3", "nc", "ls"}, "nc"}, // the first one refused is named
}

func TestMultiCallProblem(t *testing.T) {
	d, aliases := aliasDir(t)
	if got := aliases[filepath.Join(d, "multi")]; len(got) != 6 {
		t.Fatalf("scanAliases: multi has names %q, want itself and 5 links", got)
	}
	resolve := func(n string) string {
		r, err := filepath.EvalSymlinks(filepath.Join(d, n))
		if err != nil {
			return ""
		}
		return r
	}
	for _, tt := range multiCallTests {
		err := multiCallProblem(tt.allow, aliases, resolve)
		switch {
		case tt.refused == "" && err != nil:
			t.Errorf("multiCallProblem(%q) = %v, want nil", tt.allow, err)
		case tt.refused != "" && (bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(err.Error(), `"`+tt.refused+`"`) || !strings.Contains(err.Error(), "multi-call")):
			t.Errorf("multiCallProblem(%q) = %v, want %q refused as a multi-call program (Invalid)", tt.allow, err, tt.refused)
		}
	}
}

// On a host with busybox, an allowed name that is busybox under another
// name (a folder of applet links, as Alpine's /bin) would run any applet
// through argv[0]: the sandbox refuses to start, and says why; allowing
// busybox itself is allowing all it runs.
func TestEscapeMultiCallBinary(t *testing.T) {
	requireSandbox(t)
	bb := lookPath("busybox")
	if bb == "" {
		t.Skip("busybox is not installed (apt-get install busybox)")
	}
	ro, _ := hostDirs(t)
	ls := filepath.Join(ro, "ls")
	if err := os.Symlink(bb, ls); err != nil {
		t.Fatal(err)
	}
	// execv with argv[0] "sh", and a link of that name in the workspace.
	attack := `
import os, sys
if os.fork() == 0:
    os.execv(sys.argv[1], ["sh", "-c", "echo ESCAPED: argv0"])
os.wait()
os.symlink(sys.argv[1], "/workspace/sh")
os.execv("/workspace/sh", ["sh", "-c", "echo ESCAPED: link"])
`
	spec := Spec{Workspace: t.TempDir(), ReadOnly: []string{ro}, AllowExec: []string{ls, "python3"}}
	res, err := Run(context.Background(), spec, []string{"python3", "-c", attack, ls})
	if err == nil {
		t.Fatalf("a multi-call program allowed under another name ran: exit %d, stdout %q, stderr %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	if bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(err.Error(), "multi-call") || !strings.Contains(err.Error(), "busybox") {
		t.Errorf("Run: %v; want Invalid, naming busybox as a multi-call program", err)
	}
	// Allowed by its own name, it runs, applets and all.
	spec.AllowExec = []string{ls, "busybox", "python3"}
	if res := mustRun(t, spec, "python3", "-c", attack, ls); !strings.Contains(string(res.Stdout), "ESCAPED: argv0") {
		t.Errorf("busybox allowed on purpose: stdout %q, stderr %q", res.Stdout, res.Stderr)
	}
}

// The multi-call check reads each allowlist entry's real path from the
// allowlist's resolution (initproc.ResolveAllowedEach) instead of looking
// it up again: both find the same file for every entry, a name found or
// not, through a symlink or not, and an absolute path.
func TestResolvedAllowlistIsHostRealPath(t *testing.T) {
	names := append(append([]string{}, DefaultAllowExec...), "no-such-program-here", "/usr/bin/env", "/bin/sh", "/no/such/file")
	_, each, err := initproc.ResolveAllowedEach(names, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, n := range names {
		got, ok := each[n]
		if !ok {
			t.Errorf("%q: not in the resolution", n)
			continue
		}
		if want := hostRealPath(n); got != want {
			t.Errorf("%q resolved to %q, hostRealPath says %q", n, got, want)
		}
		if got != "" {
			found++
		}
	}
	if found < 10 {
		t.Errorf("only %d of %d names found on this host", found, len(names))
	}
}
