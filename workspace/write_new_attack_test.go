package workspace

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/bulwark-agents/bulwark/internal/racetest"
)

// TestFailedNewWriteSparesAConcurrentReplacement: a write of a new file
// fails halfway (over the process's file size limit) while another write
// of the same name, which succeeds, replaces it. The failed write's
// clean-up must not remove the file the other write put there: when that
// write reports success, its content is at the name. It runs in a child
// process: the limit is the whole process's.
func TestFailedNewWriteSparesAConcurrentReplacement(t *testing.T) {
	if !inChild(t) {
		return
	}
	var old syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	ws := mustOpen(t)
	lim := old
	lim.Cur = 4096
	must(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim))
	defer syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	big := make([]byte, 8192)
	lost := 0
	for _, dir := range []string{"", "sub/"} {
		for i := range 1500 {
			name := fmt.Sprintf("%sf%d", dir, i)
			var wg sync.WaitGroup
			var failErr, okErr error
			wg.Add(2)
			go func() { defer wg.Done(); failErr = ws.WriteFile(name, big) }()
			go func() { defer wg.Done(); okErr = ws.WriteFile(name, []byte("whole")) }()
			wg.Wait()
			if failErr == nil {
				t.Fatalf("WriteFile(%s) of 8 KiB over a 4 KiB limit succeeded", name)
			}
			if okErr != nil {
				continue // it may meet the other's file and fail; then nothing is promised
			}
			if b, err := os.ReadFile(filepath.Join(ws.Path(), name)); err != nil || string(b) != "whole" {
				lost++
				if lost == 1 {
					t.Errorf("WriteFile(%s) succeeded, but the name then holds %q, %v: a concurrent failed write removed it", name, b, err)
				}
			}
		}
	}
	if lost > 0 {
		t.Errorf("%d successful writes lost", lost)
	}
	if n := tempFiles(t, ws.Path()); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}

// plant puts a thing of kind at p, as the agent's shell can: a link to
// the file outside, a dangling link to a path outside, a FIFO, a folder,
// a second hard link to the file keep (inside the workspace).
func plant(kind, p, outsideFile, keep string) {
	switch kind {
	case "link":
		os.Symlink(outsideFile, p)
	case "dangling":
		os.Symlink(filepath.Join(filepath.Dir(outsideFile), "made"), p)
	case "fifo":
		syscall.Mkfifo(p, 0o600)
	case "folder":
		os.Mkdir(p, 0o700)
	case "hardlink":
		os.Link(keep, p)
	}
}

// TestNewWriteRacesWithPlantedThings: while Write makes a new file, the
// agent's shell keeps removing what is at the name and planting a link to
// a file outside, a dangling link to outside, a FIFO, a folder or a hard
// link to another file of the workspace, in the folder and in a
// subfolder, with Durable off and on. Nothing outside is written or made,
// the hard-linked file is never written, no Write blocks on the FIFO, and
// no temporary file is left.
func TestNewWriteRacesWithPlantedThings(t *testing.T) {
	t.Parallel()
	for _, durable := range []bool{false, true} {
		for _, dir := range []string{".", "sub"} {
			for _, kind := range []string{"link", "dangling", "fifo", "folder", "hardlink"} {
				t.Run(fmt.Sprintf("durable=%v/%s/%s", durable, dir, kind), func(t *testing.T) {
					t.Parallel()
					outside := t.TempDir()
					sentry := filepath.Join(outside, "sentry")
					must(t, os.WriteFile(sentry, []byte("keep"), 0o600))
					ws := mustOpen(t)
					ws.Durable = durable
					keep := filepath.Join(ws.Path(), "keep.txt")
					must(t, os.WriteFile(keep, []byte("keep"), 0o600))
					must(t, os.MkdirAll(filepath.Join(ws.Path(), dir), 0o700))
					name := path.Join(dir, "new.txt")
					p := filepath.Join(ws.Path(), name)
					stop := racetest.Loop(1, func(int) {
						os.RemoveAll(p)
						plant(kind, p, sentry, keep)
					})
					for range 300 {
						ws.WriteFile(name, []byte("new"))
					}
					stop()
					if b, _ := os.ReadFile(sentry); string(b) != "keep" {
						t.Errorf("the file outside was written: %q", b)
					}
					if ents, _ := os.ReadDir(outside); len(ents) != 1 {
						t.Errorf("a file was made outside the workspace: %d entries", len(ents))
					}
					if b, _ := os.ReadFile(keep); string(b) != "keep" {
						t.Errorf("the hard-linked file was written: %q", b)
					}
					if n := tempFiles(t, ws.Path()); n != 0 {
						t.Errorf("%d temporary files left", n)
					}
				})
			}
		}
	}
}

// TestNewWriteSubfolderSwappedForLinkOutside: the subfolder a new file
// goes to is swapped, again and again, for a link to a folder outside
// (absolute, and relative through ".."), after Write made it. Nothing is
// ever made outside.
func TestNewWriteSubfolderSwappedForLinkOutside(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	outside := filepath.Join(parent, "outside")
	must(t, os.Mkdir(outside, 0o700))
	ws, err := Open(filepath.Join(parent, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	sub := filepath.Join(ws.Path(), "sub")
	swaps := 0
	stop := racetest.Loop(1, func(int) {
		os.RemoveAll(sub)
		if swaps++; swaps%2 == 0 {
			os.Symlink(outside, sub)
		} else {
			os.Symlink("../outside", sub)
		}
		os.Remove(sub)
		os.Mkdir(sub, 0o700)
	})
	for i := range 500 {
		ws.WriteFile(fmt.Sprintf("sub/f%d", i%5), []byte("new"))
	}
	stop()
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("a write went through the link: %d entries in the folder outside", len(ents))
	}
}

// TestUnrestrictedNewWriteNeverFollowsAPlantedLink: in an unrestricted
// workspace too, a link to a file elsewhere, planted at a new file's name
// while Write runs, is replaced or refused, never written through.
func TestUnrestrictedNewWriteNeverFollowsAPlantedLink(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	sentry := filepath.Join(parent, "sentry")
	must(t, os.WriteFile(sentry, []byte("keep"), 0o600))
	ws, err := OpenUnrestricted(filepath.Join(parent, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for _, name := range []string{"new.txt", "sub/new.txt"} {
		p := filepath.Join(ws.Path(), name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o700))
		stop := racetest.Loop(1, func(int) {
			os.Remove(p)
			os.Symlink(sentry, p)
		})
		for range 300 {
			ws.WriteFile(name, []byte("new"))
			ws.WriteFile(p, []byte("new")) // the absolute form
		}
		stop()
	}
	if b, _ := os.ReadFile(sentry); string(b) != "keep" {
		t.Errorf("the file the link points to was written: %q", b)
	}
	if n := tempFiles(t, ws.Path()); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}

// TestConcurrentNewWritesOfOneName: writes of one new name at once, each
// with its own content, all succeed and leave one of the contents whole,
// and no temporary file.
func TestConcurrentNewWritesOfOneName(t *testing.T) {
	t.Parallel()
	ws := mustOpen(t)
	const writers = 6
	contents := make([][]byte, writers)
	for i := range contents {
		contents[i] = bytes.Repeat([]byte{'a' + byte(i)}, 64<<10+i)
	}
	for round := range 100 {
		name := fmt.Sprintf("d%d/f.txt", round%3)
		if round%2 == 0 {
			name = fmt.Sprintf("f%d.txt", round)
		}
		errs := make([]error, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() { defer wg.Done(); _, errs[i] = ws.Write(name, contents[i]) }()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: writer %d: %v", round, i, err)
			}
		}
		got, err := os.ReadFile(filepath.Join(ws.Path(), name))
		if err != nil || !slices.ContainsFunc(contents, func(c []byte) bool { return bytes.Equal(c, got) }) {
			t.Fatalf("round %d: %s holds %d bytes (%v), not one whole content", round, name, len(got), err)
		}
	}
	if n := tempFiles(t, ws.Path()); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}

// oddNames are names of unusual forms and where each must land.
var oddNames = []struct{ name, want string }{
	{"trail/", "trail"},
	{"./dot.txt", "dot.txt"},
	{"a/../b.txt", "b.txt"},
	{"x/./y/../z.txt", "x/z.txt"},
	{"caf\u00e9.txt", "caf\u00e9.txt"},
	{"cafe\u0301.txt", "cafe\u0301.txt"},
	{"\u202etxt.exe", "\u202etxt.exe"},
	{strings.Repeat("n", 255), strings.Repeat("n", 255)},
	{"deep/" + strings.Repeat("m", 255), "deep/" + strings.Repeat("m", 255)},
	{tempPrefix + "0123456789abcdef", tempPrefix + "0123456789abcdef"},
	{"-dash", "-dash"},
	{" space ", " space "},
}

// TestNewWriteOddNames: names of unusual forms are written, as new
// files, at the place Clean gives them and nowhere else; a name one byte
// over the limit is refused and leaves nothing.
func TestNewWriteOddNames(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	ws, err := Open(filepath.Join(parent, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	for _, tt := range oddNames {
		if err := ws.WriteFile(tt.name, []byte(tt.name)); err != nil {
			t.Errorf("WriteFile(%q) = %v", tt.name, err)
			continue
		}
		if b, err := os.ReadFile(filepath.Join(ws.Path(), tt.want)); err != nil || string(b) != tt.name {
			t.Errorf("WriteFile(%q): %q holds %q, %v; want the content", tt.name, tt.want, b, err)
		}
	}
	for _, name := range []string{strings.Repeat("o", 256), "sub/" + strings.Repeat("o", 256)} {
		if err := ws.WriteFile(name, []byte("x")); err == nil {
			t.Errorf("WriteFile of a %d-byte name succeeded", len(path.Base(name)))
		}
	}
	var files []string
	filepath.WalkDir(parent, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(ws.Path(), p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if len(files) != len(oddNames) {
		t.Errorf("files made: %q, want exactly the %d odd names", files, len(oddNames))
	}
}

// TestRemoveMadeRemovesOnlyTheFileMade: the clean-up of a failed write
// removes the name when it still holds the file made, and leaves a file
// that replaced it where it is, whole, in the folder and in a subfolder,
// with no temporary file left either way.
func TestRemoveMadeRemovesOnlyTheFileMade(t *testing.T) {
	t.Parallel()
	ws := mustOpen(t)
	for _, dir := range []string{".", "sub"} {
		d := filepath.Join(ws.Path(), dir)
		must(t, os.MkdirAll(d, 0o700))
		p := filepath.Join(d, "f")
		must(t, os.WriteFile(p, []byte("made"), 0o600))
		made, err := os.Lstat(p)
		must(t, err)
		must(t, os.Rename(p, filepath.Join(d, "old")))
		must(t, os.WriteFile(p, []byte("other"), 0o600)) // another write's file
		ws.removeMade(dir, "f", made)
		if b, err := os.ReadFile(p); err != nil || string(b) != "other" {
			t.Errorf("%s: a file that replaced the one made is now %q, %v; want it kept", dir, b, err)
		}
		other, err := os.Lstat(p)
		must(t, err)
		ws.removeMade(dir, "f", other)
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: the file made is left: %v", dir, err)
		}
	}
	if n := tempFiles(t, ws.Path()); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}

// TestUnrestrictedFailedNewWriteLeavesNothing: in an unrestricted
// workspace, a new file whose write fails (over the process's file size
// limit) is removed too, named relatively or absolutely. It runs in a
// child process: the limit is the whole process's.
func TestUnrestrictedFailedNewWriteLeavesNothing(t *testing.T) {
	if !inChild(t) {
		return
	}
	var old syscall.Rlimit
	must(t, syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old))
	ws, err := OpenUnrestricted(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	lim := old
	lim.Cur = 4096
	must(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim))
	big := make([]byte, 8192)
	names := []string{"big.txt", "sub/big.txt", filepath.Join(ws.Path(), "abs.txt")}
	var errs []error
	for _, name := range names {
		errs = append(errs, ws.WriteFile(name, big))
	}
	must(t, syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old))
	for i, name := range names {
		if errs[i] == nil {
			t.Errorf("WriteFile(%s) of 8 KiB over a 4 KiB limit succeeded", name)
		}
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(ws.Path(), name)
		}
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is left after its write failed: %v", name, err)
		}
	}
	if n := tempFiles(t, ws.Path()); n != 0 {
		t.Errorf("%d temporary files left", n)
	}
}
