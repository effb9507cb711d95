//go:build !unix

package main

import "io/fs"

// fileOwner is not known here.
func fileOwner(fs.FileInfo) (uint32, bool) { return 0, false }
