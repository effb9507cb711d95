package workspace_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark/workspace"
)

// TestOnEscape: a path that tries to leave the workspace is refused with
// ErrEscape and reported to OnEscape (the path_escape counter); ordinary
// mistakes are refused without it.
func TestOnEscape(t *testing.T) {
	dir := t.TempDir()
	ws, err := workspace.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := os.Symlink("/etc", filepath.Join(dir, "etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../x", filepath.Join(dir, "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("notes.txt", filepath.Join(dir, "inside")); err != nil {
		t.Fatal(err)
	}
	escapes := 0
	ws.OnEscape = func() { escapes++ }
	tests := []struct {
		name   string
		escape bool
	}{
		{"../secret.txt", true},
		{"a/../../secret.txt", true},
		{"etc/passwd", true}, // through a link to an absolute path
		{"up", true},         // a link that climbs above the workspace
		{"inside", false},    // a link that stays inside: refused, not an escape
		{"/etc/passwd", false},
		{"missing.txt", false},
		{"bad\x00name", false},
	}
	for _, tt := range tests {
		before := escapes
		_, err := ws.ReadFile(tt.name)
		if err == nil {
			t.Errorf("ReadFile(%q) succeeded", tt.name)
			continue
		}
		if got := errors.Is(err, workspace.ErrEscape); got != tt.escape {
			t.Errorf("ReadFile(%q): errors.Is(err, ErrEscape) = %v, want %v (err %v)", tt.name, got, tt.escape, err)
		}
		want := 0
		if tt.escape {
			want = 1
		}
		if got := escapes - before; got != want {
			t.Errorf("ReadFile(%q) called OnEscape %d times, want %d", tt.name, got, want)
		}
	}
	escapes = 0
	if err := ws.WriteFile("../out.txt", []byte("x")); !errors.Is(err, workspace.ErrEscape) || escapes != 1 {
		t.Errorf("WriteFile(../out.txt) = %v with %d escapes; want ErrEscape, 1", err, escapes)
	}
}
