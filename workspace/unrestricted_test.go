package workspace_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark/workspace"
)

func TestUnrestrictedReachesTheHostButKeepsItsRules(t *testing.T) {
	parent := t.TempDir()
	outside := filepath.Join(parent, "outside.txt")
	if err := os.WriteFile(outside, []byte("host file"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := workspace.OpenUnrestricted(filepath.Join(parent, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !w.Unrestricted() {
		t.Fatal("Unrestricted() = false")
	}
	for _, name := range []string{outside, "../outside.txt"} {
		if b, err := w.ReadFile(name); err != nil || string(b) != "host file" {
			t.Errorf("ReadFile(%q) = %q, %v; want the host file", name, b, err)
		}
	}
	if err := w.WriteFile("in.txt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(parent, "ws", "in.txt")); err != nil {
		t.Errorf("a relative path did not land in the workspace folder: %v", err)
	}
	os.Symlink(outside, filepath.Join(parent, "link"))
	if _, err := w.ReadFile(filepath.Join(parent, "link")); err == nil {
		t.Errorf("a symbolic link was followed")
	}
	var seen []string
	w.Walk(".", func(name string, _ os.FileInfo) error { seen = append(seen, name); return nil })
	if len(seen) < 2 || seen[1] != filepath.Join(parent, "ws", "in.txt") {
		t.Errorf("Walk names = %q, want absolute host paths", seen)
	}

	confined, err := workspace.Open(filepath.Join(parent, "ws2"))
	if err != nil {
		t.Fatal(err)
	}
	defer confined.Close()
	if confined.Unrestricted() {
		t.Error("Open gave an unrestricted workspace")
	}
	if _, err := confined.ReadFile(outside); err == nil {
		t.Error("a confined workspace read a host file")
	}
}
