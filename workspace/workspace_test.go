package workspace

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// mustOpen opens a workspace in a new temporary folder, closed by cleanup.
func mustOpen(t *testing.T) *Workspace {
	t.Helper()
	ws, err := Open(filepath.Join(t.TempDir(), "ws"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func TestOpenCreatesPrivateFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "ws")
	ws, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	info, err := os.Stat(dir)
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("Open(%q) made %v, %v; want a folder of mode 0700", dir, info.Mode(), err)
	}
	if ws.Path() != dir {
		t.Errorf("Path() = %q, want %q", ws.Path(), dir)
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	ws := mustOpen(t)
	for _, name := range []string{"a.txt", "deep/er/b.txt", "./c.txt", "deep/../d.txt"} {
		want := "content of " + name
		if err := ws.WriteFile(name, []byte(want)); err != nil {
			t.Fatalf("WriteFile(%q) = %v", name, err)
		}
		got, err := ws.ReadFile(name)
		if err != nil || string(got) != want {
			t.Errorf("ReadFile(%q) = %q, %v, want %q", name, got, err, want)
		}
	}
	for name, want := range map[string]fs.FileMode{"a.txt": 0o600, "deep": 0o700 | fs.ModeDir, "deep/er": 0o700 | fs.ModeDir, "deep/er/b.txt": 0o600} {
		info, err := os.Lstat(filepath.Join(ws.Path(), name))
		if err != nil || info.Mode() != want {
			t.Errorf("mode of %q = %v, %v, want %v", name, info.Mode(), err, want)
		}
	}
	// Replacing keeps permission bits and leaves no temporary file.
	must(t, os.Chmod(filepath.Join(ws.Path(), "a.txt"), 0o700))
	must(t, ws.WriteFile("a.txt", []byte("new")))
	if info, _ := os.Stat(filepath.Join(ws.Path(), "a.txt")); info.Mode().Perm() != 0o700 {
		t.Errorf("mode after replace = %v, want 0700", info.Mode())
	}
	for _, n := range names(t, ws.Path()) {
		if strings.HasPrefix(n, tempPrefix) {
			t.Errorf("temporary file %q left behind", n)
		}
	}
}

func TestSizeCap(t *testing.T) {
	ws := mustOpen(t)
	ws.MaxFileSize = 10
	if err := ws.WriteFile("big", []byte("01234567890")); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("WriteFile of 11 bytes with a 10-byte cap = %v, want kind Invalid", err)
	}
	if _, err := os.Lstat(filepath.Join(ws.Path(), "big")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused write created the file: %v", err)
	}
	must(t, ws.WriteFile("ok", []byte("0123456789")))
	must(t, os.WriteFile(filepath.Join(ws.Path(), "grown"), []byte("01234567890"), 0o600))
	_, err := ws.ReadFile("grown")
	if msg := bulwark.ErrorMessage(err); !strings.Contains(msg, "too big") {
		t.Errorf("ReadFile of 11 bytes with a 10-byte cap = %q, want a message saying it is too big", msg)
	}
	// The size told is the file's, not the cap and the byte read past it.
	must(t, os.WriteFile(filepath.Join(ws.Path(), "huge"), make([]byte, 3000), 0o600))
	_, err = ws.ReadFile("huge")
	if msg := bulwark.ErrorMessage(err); !strings.Contains(msg, "2.9 KiB") {
		t.Errorf("ReadFile of 3000 bytes with a 10-byte cap = %q, want its size, 2.9 KiB", msg)
	}
}

func TestRemove(t *testing.T) {
	ws := mustOpen(t)
	must(t, ws.WriteFile("dir/f", []byte("x")))
	must(t, ws.Remove("dir/f"))
	if _, err := ws.Stat("dir/f"); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("Stat after Remove = %v, want kind NotFound", err)
	}
	if err := ws.Remove("dir/f"); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("second Remove = %v, want kind NotFound", err)
	}
	if err := ws.Remove("dir"); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("Remove of a folder = %v, want kind Invalid", err)
	}
	if _, err := ws.Stat("dir"); err != nil {
		t.Errorf("folder gone after refused Remove: %v", err)
	}
}

func TestReadDirAndWalk(t *testing.T) {
	ws := mustOpen(t)
	for _, name := range []string{"b.txt", "a/z.txt", "a/y/x.txt", "c/w.txt"} {
		must(t, ws.WriteFile(name, []byte(name)))
	}
	must(t, os.Symlink("a", filepath.Join(ws.Path(), "l")))
	infos, err := ws.ReadDir(".")
	must(t, err)
	var got []string
	for _, info := range infos {
		got = append(got, info.Name())
	}
	if want := []string{"a", "b.txt", "c", "l"}; !slices.Equal(got, want) {
		t.Errorf("ReadDir(\".\") = %q, want %q", got, want)
	}
	if infos[3].Mode()&fs.ModeSymlink == 0 {
		t.Errorf("ReadDir reports link l as %v, want a symbolic link", infos[3].Mode())
	}
	if _, err := ws.ReadDir("b.txt"); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("ReadDir of a file = %v, want kind Invalid", err)
	}
	got = nil
	must(t, ws.Walk(".", func(name string, info fs.FileInfo) error {
		got = append(got, name)
		if name == "c" {
			return fs.SkipDir
		}
		return nil
	}))
	want := []string{".", "a", "a/y", "a/y/x.txt", "a/z.txt", "b.txt", "c", "l"}
	if !slices.Equal(got, want) {
		t.Errorf("Walk(\".\") visited %q, want %q", got, want)
	}
	got = nil
	must(t, ws.Walk("a", func(name string, info fs.FileInfo) error {
		got = append(got, name)
		return fs.SkipAll
	}))
	if want := []string{"a"}; !slices.Equal(got, want) {
		t.Errorf("Walk(\"a\") with SkipAll visited %q, want %q", got, want)
	}
}

func TestClosed(t *testing.T) {
	ws := mustOpen(t)
	ws.Close()
	if _, err := ws.ReadFile("x"); err == nil {
		t.Error("ReadFile after Close succeeded")
	}
	if err := ws.WriteFile("x", []byte("x")); err == nil {
		t.Error("WriteFile after Close succeeded")
	}
	// A workspace that wrote before holds its folder open: Close ends that too.
	ws = mustOpen(t)
	must(t, ws.WriteFile("y", []byte("y")))
	ws.Close()
	if err := ws.WriteFile("z", []byte("z")); err == nil {
		t.Error("WriteFile after Close succeeded")
	}
	if _, err := os.Lstat(filepath.Join(ws.Path(), "z")); err == nil {
		t.Error("WriteFile after Close created the file")
	}
}

func TestDurableWrite(t *testing.T) {
	ws := mustOpen(t)
	ws.Durable = true
	for _, name := range []string{"a.txt", "sub/b.txt"} {
		must(t, ws.WriteFile(name, []byte("kept")))
		if got, err := ws.ReadFile(name); err != nil || string(got) != "kept" {
			t.Errorf("ReadFile(%q) = %q, %v, want %q", name, got, err, "kept")
		}
	}
}

func TestWriteReportsReplaced(t *testing.T) {
	ws := mustOpen(t)
	for _, tc := range []struct {
		name string
		want bool
	}{{"a.txt", false}, {"a.txt", true}, {"sub/b.txt", false}, {"sub/b.txt", true}} {
		replaced, err := ws.Write(tc.name, []byte("x"))
		if err != nil || replaced != tc.want {
			t.Errorf("Write(%q) = %v, %v, want %v", tc.name, replaced, err, tc.want)
		}
	}
}
