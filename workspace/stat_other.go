//go:build !unix

package workspace

import (
	"io/fs"
	"os"
)

const (
	readFlags = os.O_RDONLY
	dirFlags  = os.O_RDONLY
)

// linkCount returns 1: this system does not report link counts through
// fs.FileInfo, so the hard-link check is left to os.Root's confinement.
func linkCount(fs.FileInfo) uint64 { return 1 }
