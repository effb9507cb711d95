package initproc

import (
	"os"
	"path/filepath"
	"testing"
)

// realPath decides which file an allowed name grants EXECUTE on: it must
// resolve every symlink, as filepath.EvalSymlinks does.
func TestRealPath(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "real", "prog")
	os.MkdirAll(filepath.Dir(target), 0o755)
	os.WriteFile(target, nil, 0o755)
	os.Symlink("real", filepath.Join(dir, "linkdir"))
	os.Symlink("../linkdir/prog", filepath.Join(dir, "real", "rel"))
	os.Symlink(filepath.Join(dir, "real", "rel"), filepath.Join(dir, "abs"))
	for _, in := range []string{target, filepath.Join(dir, "linkdir", "prog"), filepath.Join(dir, "real", "rel"), filepath.Join(dir, "abs")} {
		got, err := realPath(in)
		want, werr := filepath.EvalSymlinks(in)
		if err != nil || werr != nil || got != want || got != target {
			t.Errorf("realPath(%q) = %q, %v; want %q (EvalSymlinks: %q, %v)", in, got, err, target, want, werr)
		}
	}
	if got, err := realPath(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("realPath(missing) = %q, want an error", got)
	}
}
