package initproc

import (
	"os/exec"
	"strings"
	"testing"
)

// The init takes over the process from its init function; every package it
// imports, directly or not, is initialized before, and so is every package
// that sorts before it and is ready. A dependency on net (through its
// vendored DNS packages) or on the rest of bulwark would make it start after
// the whole binary has initialized, 10 ms later in bulwark.
func TestInitImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		std := !strings.Contains(strings.SplitN(p, "/", 2)[0], ".")
		switch {
		case p == "github.com/bulwark-agents/bulwark/sandbox/internal/initproc", p == "golang.org/x/sys/unix",
			p == "github.com/bulwark-agents/bulwark/sandbox/internal/prefault":
		case !std:
			t.Errorf("initproc depends on %s: only the standard library, x/sys/unix and prefault (the init's stamp names the sources of these two of this module, initstamp.Dirs)", p)
		case p == "net" || strings.HasPrefix(p, "net/") || strings.HasPrefix(p, "vendor/") || strings.HasPrefix(p, "crypto"):
			t.Errorf("initproc depends on %s, which initializes late or slowly", p)
		case p == "path/filepath":
			// It sorts after golang.org/, google.golang.org/ and
			// modernc.org/: 35 packages of bulwark's were initialized
			// first only because the init waited for it.
			t.Errorf("initproc depends on %s, which initializes late (use path and realPath)", p)
		}
	}
}
