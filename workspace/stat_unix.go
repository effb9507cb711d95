//go:build unix

package workspace

import (
	"io/fs"
	"os"
	"syscall"
)

// Flags for opening files to read and folders to list. O_NONBLOCK keeps an
// open of a FIFO swapped in after a check from hanging; O_NOCTTY keeps a
// terminal device from becoming the controlling terminal. Neither changes
// anything for regular files and folders.
const (
	readFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY
	dirFlags  = os.O_RDONLY | syscall.O_DIRECTORY | syscall.O_NONBLOCK
)

// linkCount returns the number of hard links of the file info describes.
func linkCount(info fs.FileInfo) uint64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}
