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
	h := sha256.New()
	for _, n := range names {
		b, err := fs.ReadFile(fsys, path.Join(dir, n))
		if err != nil {
			return "", err
		}
		// Name and length first: no two sets of files hash alike.
		fmt.Fprintf(h, "%s %d\n", n, len(b))
		h.Write(b)
	}
	return fmt.Sprintf("sources %s\ngo %s\ngoarch %s\n", hex.EncodeToString(h.Sum(nil)), goVersion, goarch), nil
}
