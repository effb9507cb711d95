//go:build !linux

package workspace

import (
	"io/fs"
	"path"
)

// writeTemp creates the file tmpName in folder dir and writes data to it
// with mode, synced when Durable; created reports whether the file was made
// (and must be removed on an error).
func (w *Workspace) writeTemp(dir, tmpName string, data []byte, mode fs.FileMode) (created bool, err error) {
	return w.writeTempRoot(path.Join(dir, tmpName), data, mode)
}

// renameTemp renames tmpName in folder dir to clean, which Write has just
// checked.
func (w *Workspace) renameTemp(dir, tmpName, clean string) error {
	return w.root.Rename(path.Join(dir, tmpName), clean)
}
