package workspace

import (
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"
)

// writeTemp creates the file tmpName in folder dir and writes data to it
// with mode, synced when Durable; created reports whether the file was made
// (and must be removed on an error).
//
// In the workspace folder itself, where most files go, it makes the file
// with openat(2) on the folder's descriptor instead of through os.Root:
// an *os.File from os.Root.OpenFile costs five more system calls (the
// runtime tries to add it to its poller, which refuses regular files).
// The name is one element made here (tempPrefix and random digits) and
// O_CREAT|O_EXCL|O_NOFOLLOW creates it or fails, never following a link,
// so the file cannot land outside the folder.
func (w *Workspace) writeTemp(dir, tmpName string, data []byte, mode fs.FileMode) (created bool, err error) {
	if dir != "." || w.Unrestricted() {
		return w.writeTempRoot(path.Join(dir, tmpName), data, mode)
	}
	f, err := w.openFolder()
	if err != nil {
		return false, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return false, err
	}
	cerr := rc.Control(func(dirfd uintptr) {
		var fd int
		fd, err = openat(int(dirfd), tmpName, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, fileMode)
		if err != nil {
			return
		}
		created = true
		err = writeAll(fd, tmpName, data)
		if err == nil && mode != fileMode {
			err = ignoringEINTR(func() error { return syscall.Fchmod(fd, uint32(mode)) })
		}
		if err == nil && w.Durable {
			err = ignoringEINTR(func() error { return syscall.Fsync(fd) })
		}
		if e := syscall.Close(fd); err == nil && e != nil {
			err = &fs.PathError{Op: "close", Path: tmpName, Err: e}
		}
	})
	if err == nil {
		err = cerr
	}
	return created, err
}

// renameTemp renames tmpName in folder dir to clean, which Write has just
// checked.
//
// In the workspace folder itself it calls renameat(2) on the folder's
// descriptor: os.Root.Rename would walk both names again and lstat clean
// once more, to refuse replacing a folder, which Write's check has just
// refused and rename(2) refuses as well (EISDIR). Both names are one
// element in the folder, and rename(2) follows a link at neither: a link
// swapped in at clean is replaced, not written through.
func (w *Workspace) renameTemp(dir, tmpName, clean string) error {
	if dir != "." || w.Unrestricted() {
		return w.root.Rename(path.Join(dir, tmpName), clean)
	}
	f, err := w.openFolder()
	if err != nil {
		return err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	cerr := rc.Control(func(dirfd uintptr) {
		err = ignoringEINTR(func() error { return syscall.Renameat(int(dirfd), tmpName, int(dirfd), clean) })
	})
	if err != nil {
		return &os.LinkError{Op: "renameat", Old: tmpName, New: clean, Err: err}
	}
	return cerr
}

// openFolder returns the workspace folder, opened through the root once.
func (w *Workspace) openFolder() (*os.File, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil, os.ErrClosed
	}
	if w.folder == nil {
		f, err := w.root.Open(".")
		if err != nil {
			return nil, err
		}
		w.folder = f
	}
	return w.folder, nil
}

func openat(dirfd int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := syscall.Openat(dirfd, name, flags, mode)
		if err != syscall.EINTR {
			if err != nil {
				return -1, &fs.PathError{Op: "openat", Path: name, Err: err}
			}
			return fd, nil
		}
	}
}

func writeAll(fd int, name string, data []byte) error {
	for len(data) > 0 {
		n, err := syscall.Write(fd, data)
		switch {
		case err == syscall.EINTR:
			continue
		case err != nil:
			return &fs.PathError{Op: "write", Path: name, Err: err}
		case n <= 0:
			return &fs.PathError{Op: "write", Path: name, Err: io.ErrShortWrite}
		}
		data = data[n:]
	}
	return nil
}

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); err != syscall.EINTR {
			return err
		}
	}
}
