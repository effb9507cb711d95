package main

import (
	"debug/elf"
	"os"
	"strings"
	"testing"
)

// TestReadmeBuildIsStatic: the README's set-up command builds with
// CGO_ENABLED=0, and what that builds (the CLI tests' binary is built the
// same way) is one static binary: no program interpreter for ld.so to
// run and no shared library to load before the Go runtime starts, which
// every command and every sandbox's init would pay.
func TestReadmeBuildIsStatic(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "    go generate ./sandbox && CGO_ENABLED=0 go build -o bulwark ./cmd/bulwark && ") {
		t.Errorf("the README's set-up command does not generate the standalone sandbox init and build with CGO_ENABLED=0")
	}
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the built binary names a program interpreter (dynamically linked)")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("the built binary needs shared libraries: %v", libs)
	}
}

// TestQuickCommands: only the commands that print and return at once go
// without the signal context; every other, a command's --help included,
// keeps Ctrl-C and SIGTERM as a cancellation it can clean up after.
func TestQuickCommands(t *testing.T) {
	for _, c := range []struct {
		args       []string
		quick      bool
		printsOnly bool // and goes without the logger
	}{
		{nil, true, true},
		{[]string{"version"}, true, true},
		{[]string{"help"}, true, true},
		{[]string{"help", "sandbox"}, true, false},
		{[]string{"--help"}, true, true},
		{[]string{"-h"}, true, true},
		{[]string{"version", "--bogus"}, true, false},
		{[]string{"run", "help"}, false, false},
		{[]string{"run", "--help"}, false, false},
		{[]string{"serve"}, false, false},
		{[]string{"sandbox", "exec", "--", "version"}, false, false},
		{[]string{"Version"}, false, false},
	} {
		if got := quick(c.args); got != c.quick {
			t.Errorf("quick(%q) = %v, want %v", c.args, got, c.quick)
		}
		if got := printsOnly(c.args); got != c.printsOnly {
			t.Errorf("printsOnly(%q) = %v, want %v", c.args, got, c.printsOnly)
		}
	}
}

// TestGrowsHeap: the commands that run long and grow their heap (serving,
// running agents, benchmarking them) have it mapped in ahead (package
// heapahead); the ones that print and return, and the agents bench's
// model server (another machine's stand-in), do not.
func TestGrowsHeap(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"serve"}, true},
		{[]string{"run", "--model", "replay:x", "task"}, true},
		{[]string{"mcp", "serve"}, true},
		{[]string{"bench", "agents", "--json"}, true},
		{[]string{"bench"}, true},
		{[]string{"bench", modelServerCmd, "--tasks", "10"}, false},
		{[]string{"version"}, false},
		{[]string{"help", "serve"}, false},
		{[]string{"sandbox", "exec", "--", "/bin/true"}, false},
		{[]string{"tasks"}, false},
	} {
		if got := growsHeap(c.args); got != c.want {
			t.Errorf("growsHeap(%q) = %v, want %v", c.args, got, c.want)
		}
	}
}
