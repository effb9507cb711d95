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

// Of returns the stamp of the init built from the Go files (not tests) in
// dir of fsys with Go version goVersion for goarch. Package initproc
// imports only the standard library and golang.org/x/sys/unix (its
// TestInitImports holds it to that), so these are what the binary is made
// from, with the x/sys version, which the sandbox compares on its own
// (see sandbox's standaloneInit).
func Of(fsys fs.FS, dir, goVersion, goarch string) (string, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return "", err
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "", fmt.Errorf("initstamp: no Go files in %s", dir)
	}
	slices.Sort(names)
	// Each file is streamed through one buffer rather than read whole: a
	// process that checks its embedded init does this once at its first
	// sandbox, and a copy of every file (110 KB) was about 30 page faults
	// of it.
	h := sha256.New()
	buf := make([]byte, 16<<10)
	for _, n := range names {
		if err := hashFile(h, fsys, path.Join(dir, n), n, buf); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("sources %s\ngo %s\ngoarch %s\n", hex.EncodeToString(h.Sum(nil)), goVersion, goarch), nil
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
