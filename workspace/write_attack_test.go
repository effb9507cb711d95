package workspace

import (
	"os"
	"path/filepath"
	"testing"
)

// TestWriteTempNeverFollowsAPlantedLink: something in the workspace (the
// agent's shell) plants, at the name a write's temporary file will have, a
// link to a file outside, or a dangling link to a path outside. The write
// fails; nothing outside is written or made.
func TestWriteTempNeverFollowsAPlantedLink(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	sentry := filepath.Join(outside, "sentry")
	must(t, os.WriteFile(sentry, []byte("keep"), 0o600))
	ws, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for name, target := range map[string]string{
		tempPrefix + "1": sentry,
		tempPrefix + "2": filepath.Join(outside, "made"),
		tempPrefix + "3": "../" + filepath.Base(outside) + "/made",
	} {
		must(t, os.Symlink(target, filepath.Join(ws.Path(), name)))
		if _, err := ws.writeTemp(".", name, []byte("evil"), fileMode); err == nil {
			t.Errorf("writeTemp over a link to %s succeeded", target)
		}
	}
	if b, _ := os.ReadFile(sentry); string(b) != "keep" {
		t.Errorf("the file outside was written: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(outside, "made")); err == nil {
		t.Error("a file was made outside the workspace")
	}
}

// TestWriteAfterFolderSwappedForLink: the workspace folder is moved away
// and a link to a folder outside put at its path after the first write.
// Later writes go on into the folder the workspace opened, never through
// the link.
func TestWriteAfterFolderSwappedForLink(t *testing.T) {
	t.Parallel()
	parent, outside := t.TempDir(), t.TempDir()
	dir := filepath.Join(parent, "ws")
	must(t, os.Mkdir(dir, 0o700))
	ws, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteFile("a.txt", []byte("1")); err != nil {
		t.Fatal(err)
	}
	must(t, os.Rename(dir, filepath.Join(parent, "moved")))
	must(t, os.Symlink(outside, dir))
	ws.WriteFile("b.txt", []byte("2"))
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("a write after the swap went through the link: %v in the folder outside", ents)
	}
}

// TestRenameTempReplacesALateLink: a link to a file outside swapped in at
// a write's name after Write checked it is replaced by the new file, never
// written through; a folder swapped in makes the rename fail.
func TestRenameTempReplacesALateLink(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	sentry := filepath.Join(outside, "sentry")
	must(t, os.WriteFile(sentry, []byte("keep"), 0o600))
	ws, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	must(t, os.Symlink(sentry, filepath.Join(ws.Path(), "notes.txt")))
	must(t, os.Mkdir(filepath.Join(ws.Path(), "dir.txt"), 0o700))
	for _, name := range []string{"notes.txt", "dir.txt"} {
		tmp := tempPrefix + name
		if _, err := ws.writeTemp(".", tmp, []byte("new"), fileMode); err != nil {
			t.Fatal(err)
		}
		err := ws.renameTemp(".", tmp, name)
		info, lerr := os.Lstat(filepath.Join(ws.Path(), name))
		switch {
		case lerr != nil:
			t.Errorf("%s: %v", name, lerr)
		case name == "dir.txt" && (err == nil || !info.IsDir()):
			t.Errorf("renameTemp over a folder = %v, left %v; want an error and the folder", err, info.Mode())
		case name == "notes.txt" && (err != nil || !info.Mode().IsRegular()):
			t.Errorf("renameTemp over a link = %v, left %v; want the link replaced by a file", err, info.Mode())
		}
	}
	if b, _ := os.ReadFile(sentry); string(b) != "keep" {
		t.Errorf("the file outside was written: %q", b)
	}
}
