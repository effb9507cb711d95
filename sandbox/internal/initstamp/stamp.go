// Package initstamp names the sources a standalone sandbox init was built
// from, so that the sandbox can tell an embedded init that matches its own
// package initproc from a stale one. The generator (package initgen) writes
// the stamp beside the binary; the sandbox computes it again from the
// sources it embeds, and starts the embedded init only when the two agree.
package initstamp

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// Dirs are the folders, under package sandbox's, of the packages of this
// module that the init is built from: package initproc and the one it
// imports, prefault. Package initproc imports only the standard library,
// golang.org/x/sys/unix and prefault (its TestInitImports holds it to
// that), and prefault nothing but the runtime, so these, the Go version
// and the x/sys version (which the sandbox compares on its own, see
// sandbox's standaloneInit) are what the binary is made from.
var Dirs = []string{"internal/initproc", "internal/prefault"}

// BuildFlags are the go build flags the generator builds the init with:
// static and trimmed as the release binary, and a prefault heap of 512 KiB,
// the half MiB the init's start and set-up allocate, not the 2 MiB
// bulwark's start takes (BENCHMARKS.md, "Issue 17, the heap mapped in at
// start"). They are in the stamp (its "build" line): an init built with
// other flags is stale, and is cached under another name, so that a
// version that changes only these never starts another's init file.
var BuildFlags = []string{"-trimpath", "-ldflags=-s -w -X github.com/bulwark-agents/bulwark/sandbox/internal/prefault.heapKiB=512"}

// Of returns the stamp of the init built from the Go files (not tests)
// and assembly files in dirs of fsys with Go version goVersion for goarch
// and BuildFlags. The files of the
// first folder are named in it by their file names, those of the others
// by their paths.
func Of(fsys fs.FS, dirs []string, goVersion, goarch string) (string, error) {
	// Each file is streamed through one buffer rather than read whole: a
	// process that checks its embedded init does this once at its first
	// sandbox, and a copy of every file (110 KB) was about 30 page faults
	// of it.
	h := sha256.New()
	buf := make([]byte, 16<<10)
	for i, dir := range dirs {
		entries, err := fs.ReadDir(fsys, dir)
		if err != nil {
			return "", err
		}
		var names []string
		for _, e := range entries {
			n := e.Name()
			if e.Type().IsRegular() && (strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") || strings.HasSuffix(n, ".s")) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return "", fmt.Errorf("initstamp: no Go files in %s", dir)
		}
		slices.Sort(names)
		for _, n := range names {
			name := n
			if i > 0 {
				name = path.Join(dir, n)
			}
			if err := hashFile(h, fsys, path.Join(dir, n), name, buf); err != nil {
				return "", err
			}
		}
	}
	return fmt.Sprintf("sources %s\ngo %s\ngoarch %s\nbuild %q\n", hex.EncodeToString(h.Sum(nil)), goVersion, goarch, BuildFlags), nil
}

// hashFile writes to h the name and length of file p of fsys, then its
// content, read through buf.
func hashFile(h io.Writer, fsys fs.FS, p, name string, buf []byte) error {
	f, err := fsys.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	// Name and length first: no two sets of files hash alike.
	fmt.Fprintf(h, "%s %d\n", name, info.Size())
	n, err := io.CopyBuffer(h, struct{ io.Reader }{f}, buf)
	if err != nil {
		return err
	}
	if n != info.Size() {
		return fmt.Errorf("initstamp: %s changed while it was read", p)
	}
	return nil
}
