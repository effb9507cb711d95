//go:build !linux

package workspace

import (
	"io/fs"
	"os"
	"path"
)

// create makes the file name in folder dir and writes data to it with
// mode, synced when Durable; see createRoot.
func (w *Workspace) create(dir, name string, data []byte, mode fs.FileMode) error {
	return w.createRoot(dir, name, data, mode)
}

// removeMade removes name in folder dir if it is still the file made (a
// failed write's own file). Between the check and the removal another
// write may rename its file to name; write_linux.go closes that gap.
func (w *Workspace) removeMade(dir, name string, made fs.FileInfo) {
	p := path.Join(dir, name)
	if now, err := w.root.Lstat(p); err == nil && os.SameFile(made, now) {
		w.root.Remove(p)
	}
}

// renameTemp renames tmpName in folder dir to clean, which Write has just
// checked.
func (w *Workspace) renameTemp(dir, tmpName, clean string) error {
	return w.root.Rename(path.Join(dir, tmpName), clean)
}
