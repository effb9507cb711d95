package workspace

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWriteTempNeverFollowsAPlantedLink: something in the workspace (the
// agent's shell) plants, at the name a write's temporary file will have,
// or at a new file's name after Write found it free, a link to a file
// outside, or a dangling link to a path outside. create fails with
// fs.ErrExist (on which Write replaces the name whole instead); nothing
// outside is written or made.
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
		"new.txt":        filepath.Join(outside, "made"),
		"notes.txt":      sentry,
	} {
		must(t, os.Symlink(target, filepath.Join(ws.Path(), name)))
		if err := ws.create(".", name, []byte("evil"), fileMode); !errors.Is(err, fs.ErrExist) {
			t.Errorf("create over a link to %s = %v, want fs.ErrExist", target, err)
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
		if err := ws.create(".", tmp, []byte("new"), fileMode); err != nil {
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

// TestCreateRefusesWhatAppeared: a new file's name taken, between Write's
// check and the create, by a file, a folder or a link makes create fail
// with fs.ErrExist and leaves what is there as it was (Write then replaces
// a file whole, and refuses a folder), in the folder and in a subfolder.
func TestCreateRefusesWhatAppeared(t *testing.T) {
	t.Parallel()
	ws := mustOpen(t)
	for _, dir := range []string{".", "sub"} {
		d := filepath.Join(ws.Path(), dir)
		must(t, os.MkdirAll(d, 0o700))
		must(t, os.WriteFile(filepath.Join(d, "file"), []byte("keep"), 0o600))
		must(t, os.Mkdir(filepath.Join(d, "folder"), 0o700))
		must(t, os.Symlink("file", filepath.Join(d, "link")))
		for _, name := range []string{"file", "folder", "link"} {
			if err := ws.create(dir, name, []byte("new"), fileMode); !errors.Is(err, fs.ErrExist) {
				t.Errorf("create(%s, %s) = %v, want fs.ErrExist", dir, name, err)
			}
		}
		if b, _ := os.ReadFile(filepath.Join(d, "file")); string(b) != "keep" {
			t.Errorf("%s/file was written: %q", dir, b)
		}
	}
}

// TestFailedWriteOfANewFileLeavesNothing: a new file whose write fails
// (here: over the process's file size limit, EFBIG) is removed, in the
// folder and in a subfolder; a replaced file keeps its old content. It
// runs in a child process: the limit is the whole process's.
func TestFailedWriteOfANewFileLeavesNothing(t *testing.T) {
	if !inChild(t) {
		return
	}
	var old syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	ws := mustOpen(t)
	must(t, ws.WriteFile("old.txt", []byte("keep")))
	lim := old
	lim.Cur = 4096
	must(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim))
	big := make([]byte, 8192)
	var errs []error
	for _, name := range []string{"big.txt", "sub/big.txt", "old.txt"} {
		errs = append(errs, ws.WriteFile(name, big))
	}
	must(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old))
	for i, name := range []string{"big.txt", "sub/big.txt", "old.txt"} {
		if errs[i] == nil {
			t.Errorf("WriteFile(%s) of 8 KiB over a 4 KiB limit succeeded", name)
		}
	}
	for _, name := range []string{"big.txt", "sub/big.txt"} {
		if _, err := os.Lstat(filepath.Join(ws.Path(), name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is left after its write failed: %v", name, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ws.Path(), "old.txt")); string(b) != "keep" {
		t.Errorf("old.txt = %q after a failed replace, want %q", b, "keep")
	}
	if n := tempFiles(t, ws.Path()); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}

// inChild runs the test that calls it again, alone, in a child process
// and reports whether this is that child. A test that lowers the
// process's file size limit runs there, where the limit reaches neither
// the other tests nor the log the go command has the test binary write
// (which then fails with "file too large").
func inChild(t *testing.T) bool {
	t.Helper()
	const env = "BULWARK_WORKSPACE_TEST_CHILD"
	if os.Getenv(env) == t.Name() {
		return true
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Errorf("in a child process: %v\n%s", err, out)
	}
	return false
}

// tempFiles counts the temporary files under dir.
func tempFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			n++
		}
		return nil
	})
	return n
}

// TestWriteNewNameOverPlantedThings: Write's first try at a name in the
// workspace folder (writeNew, no lstat before the create) meets what the
// agent's shell may have put at the name: a link to a file outside, a
// dangling link to a path outside, a file hard-linked with one outside, a
// folder, a FIFO. writeNew leaves each to Write's usual path, which
// refuses it; nothing outside is written or made.
func TestWriteNewNameOverPlantedThings(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	sentry := filepath.Join(outside, "sentry")
	must(t, os.WriteFile(sentry, []byte("keep"), 0o600))
	ws, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	at := func(name string) string { return filepath.Join(ws.Path(), name) }
	must(t, os.Symlink(sentry, at("link")))
	must(t, os.Symlink(filepath.Join(outside, "made"), at("dangling")))
	must(t, os.Symlink("../"+filepath.Base(outside)+"/made", at("relative")))
	must(t, os.Link(sentry, at("hard")))
	must(t, os.Mkdir(at("folder"), 0o700))
	must(t, syscall.Mkfifo(at("fifo"), 0o600))
	for _, name := range []string{"link", "dangling", "relative", "hard", "folder", "fifo"} {
		if done, err := ws.writeNew("test", name, []byte("evil")); done {
			t.Errorf("writeNew(%q) = done, %v; want it left to Write", name, err)
		}
		if _, err := ws.Write(name, []byte("evil")); err == nil {
			t.Errorf("Write(%q) succeeded", name)
		}
	}
	if b, _ := os.ReadFile(sentry); string(b) != "keep" {
		t.Errorf("the file outside was written: %q", b)
	}
	if _, err := os.Lstat(filepath.Join(outside, "made")); err == nil {
		t.Error("a file was made outside the workspace")
	}
	// A new name is made by writeNew alone; other forms take the usual path.
	if done, err := ws.writeNew("test", "new.txt", []byte("hi")); !done || err != nil {
		t.Errorf("writeNew(new.txt) = %v, %v; want done", done, err)
	}
	if b, err := os.ReadFile(at("new.txt")); err != nil || string(b) != "hi" {
		t.Errorf("new.txt holds %q, %v", b, err)
	}
	for _, name := range []string{"./x.txt", "sub/x.txt", ".", "..", "../x", "a/../x"} {
		if done, _ := ws.writeNew("test", name, []byte("hi")); done {
			t.Errorf("writeNew(%q) = done; want it left to Write", name)
		}
	}
}

// TestWriteRacesASwappedName: while writes of new and existing files go
// on, another goroutine (the agent's shell, say) keeps turning their names
// into a symlink to a file outside, a dangling symlink to a path outside,
// a hard link to a file outside, a fifo, a link to a fifo or a folder
// outside and a plain file again. Nothing
// outside is ever written, made or opened (a fifo outside would hold its
// opener; the fifo at the name, opened, would block the write), and every
// write returns.
func TestWriteRacesASwappedName(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	sentry := filepath.Join(outside, "sentry")
	must(t, os.WriteFile(sentry, []byte("keep"), 0o600))
	trap := filepath.Join(outside, "trap")
	must(t, syscall.Mkfifo(trap, 0o600))
	sentryBefore, err := os.Stat(sentry)
	if err != nil {
		t.Fatal(err)
	}
	// The workspace beside outside, so a hard link can reach it.
	ws, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	names := []string{"a.txt", "b.txt", "c.txt"}
	stop := make(chan struct{})
	flipped := make(chan int)
	go func() {
		n := 0
		defer func() { flipped <- n }()
		for {
			for _, name := range names {
				select {
				case <-stop:
					return
				default:
				}
				p := filepath.Join(ws.Path(), name)
				tmp := p + ".swap"
				os.Remove(tmp)
				switch n % 7 {
				case 0:
					os.Symlink(sentry, tmp)
				case 1:
					os.Symlink(filepath.Join(outside, "made"), tmp)
				case 2:
					os.Link(sentry, tmp)
				case 3:
					syscall.Mkfifo(tmp, 0o600)
				case 4:
					os.Symlink(trap, tmp)
				case 5:
					os.WriteFile(tmp, []byte("plain"), 0o600)
				case 6:
					os.Symlink(outside, tmp) // a folder outside
				}
				os.Rename(tmp, p)
				if n%5 == 0 {
					os.Remove(p) // free, for the new-file path
				}
				n++
			}
		}
	}()
	done := make(chan error, 1)
	go func() {
		for i := range 3000 {
			// Refusals (a link, a fifo at the name) are fine; only
			// what happens outside matters.
			ws.Write(names[i%len(names)], []byte("evil"))
		}
		done <- nil
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		// Let a write blocked on a fifo go.
		for _, name := range names {
			if f, err := os.OpenFile(filepath.Join(ws.Path(), name), os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
		}
		if f, err := os.OpenFile(trap, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
		t.Fatal("a write did not return: it opened a fifo")
	}
	close(stop)
	if n := <-flipped; n < 100 {
		t.Logf("only %d swaps raced the writes", n)
	}
	if b, _ := os.ReadFile(sentry); string(b) != "keep" {
		t.Errorf("the file outside was written: %q", b)
	}
	if st, err := os.Stat(sentry); err != nil || !st.ModTime().Equal(sentryBefore.ModTime()) || st.Mode() != sentryBefore.Mode() {
		t.Errorf("the file outside changed: %v, %v", st, err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 2 {
		t.Errorf("files were made outside the workspace: %v", ents)
	}
	if st, err := os.Lstat(trap); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		t.Errorf("the fifo outside was replaced: %v, %v", st, err)
	}
}
