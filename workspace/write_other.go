//go:build !linux

package workspace

import (
	"io/fs"
	"path"
)

// create makes the file name in folder dir and writes data to it with
// mode, synced when Durable; see createRoot.
func (w *Workspace) create(dir, name string, data []byte, mode fs.FileMode) error {
	return w.createRoot(dir, name, data, mode)
}

// renameTemp renames tmpName in folder dir to clean, which Write has just
// checked.
func (w *Workspace) renameTemp(dir, tmpName, clean string) error {
	return w.root.Rename(path.Join(dir, tmpName), clean)
}
