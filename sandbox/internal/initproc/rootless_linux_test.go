package initproc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Not root, the host checks the workspace and hands the init its path and
// an O_PATH fd; the init binds the path. Whatever the path names by then
// (the folder swapped for another, or for a symlink to it or to anything
// else), only the very folder of the fd is bound.
func TestBindWorkspaceOnlyTheCheckedFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("open_tree(OPEN_TREE_CLONE) needs CAP_SYS_ADMIN; the init has it in its own namespaces")
	}
	dir := t.TempDir()
	ws := filepath.Join(dir, "ws")
	other := filepath.Join(dir, "other")
	for _, d := range []string{ws, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	want, err := unix.Open(ws, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(want)

	fd, err := bindWorkspace(ws, want, false)
	if err != nil {
		t.Fatalf("bindWorkspace(the checked folder) = %v, want it bound", err)
	}
	unix.Close(fd)

	// The folder moved away and a symlink to it, or to another folder,
	// put in its place; or another folder renamed over the path.
	moved := filepath.Join(dir, "moved")
	if err := os.Rename(ws, moved); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		put  func() error
	}{
		{"symlink to the checked folder", func() error { return os.Symlink(moved, ws) }},
		{"symlink to another folder", func() error { return os.Symlink(other, ws) }},
		{"relative symlink to /etc", func() error { return os.Symlink("../../../../../../../etc", ws) }},
		{"another folder", func() error { return os.Mkdir(ws, 0o755) }},
	}
	for _, c := range cases {
		os.Remove(ws)
		if err := c.put(); err != nil {
			t.Fatal(err)
		}
		fd, err := bindWorkspace(ws, want, false)
		if err == nil {
			unix.Close(fd)
			t.Errorf("bindWorkspace with the path now a %s: bound, want refused", c.name)
		} else if !strings.Contains(err.Error(), "changed") && !strings.Contains(err.Error(), "bind workspace") {
			t.Errorf("bindWorkspace with the path now a %s: %v, want a refusal naming the workspace", c.name, err)
		}
	}
}
