package workspace

import (
	"io"
	"io/fs"
	"os"
	"path"
	"syscall"

	"golang.org/x/sys/unix"
)

// create makes the file name in folder dir and writes data to it with
// mode, synced when Durable. The name is one element: a new file's own
// name (Write, which checked it is free) or a temporary one (tempPrefix
// and random digits). O_CREAT|O_EXCL|O_NOFOLLOW makes it or fails with
// fs.ErrExist, never following a link, so the file cannot land outside
// the folder and nothing that appeared at the name is written. On an
// error after the file was made, create removes it, unless something has
// replaced it at the name since.
//
// In the workspace folder itself, where most files go, it makes the file
// with openat(2) on the folder's descriptor instead of through os.Root:
// an *os.File from os.Root.OpenFile costs five more system calls (the
// runtime tries to add it to its poller, which refuses regular files).
func (w *Workspace) create(dir, name string, data []byte, mode fs.FileMode) error {
	if dir != "." || w.Unrestricted() {
		return w.createRoot(dir, name, data, mode)
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
		var fd int
		fd, err = openat(int(dirfd), name, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, fileMode)
		if err != nil {
			return
		}
		err = writeAll(fd, name, data)
		if err == nil && mode != fileMode {
			err = ignoringEINTR(func() error { return syscall.Fchmod(fd, uint32(mode)) })
		}
		if err == nil && w.Durable {
			err = ignoringEINTR(func() error { return syscall.Fsync(fd) })
		}
		if err != nil {
			var made syscall.Stat_t
			if syscall.Fstat(fd, &made) == nil {
				removeMadeAt(int(dirfd), name, &made)
			}
		}
		if e := syscall.Close(fd); err == nil && e != nil {
			err = &fs.PathError{Op: "close", Path: name, Err: e}
		}
	})
	if err == nil {
		err = cerr
	}
	return err
}

// removeMade removes name in folder dir if it is still the file made (a
// failed write's own file), not something that replaced it since.
func (w *Workspace) removeMade(dir, name string, made fs.FileInfo) {
	st, ok := made.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	var f *os.File
	if dir == "." && !w.Unrestricted() {
		var err error
		if f, err = w.openFolder(); err != nil {
			return
		}
	} else {
		var err error
		if f, err = w.root.OpenFile(dir, dirFlags, 0); err != nil {
			return
		}
		defer f.Close()
	}
	if rc, err := f.SyscallConn(); err == nil {
		rc.Control(func(dirfd uintptr) { removeMadeAt(int(dirfd), name, st) })
	}
}

// removeMadeAt removes name in folder dirfd if it is still the file made.
// No system call removes a name only if it is a given file, and a check
// followed by an unlink would remove a file that another write renamed
// to name in between, after that write reported success. So the name is
// first moved to a private one: what was moved is removed if it is the
// file made, and put back otherwise, unless something newer took the
// name meanwhile (which supersedes it).
func removeMadeAt(dirfd int, name string, made *syscall.Stat_t) {
	tmp := tempPrefix + randomHex()
	if ignoringEINTR(func() error { return unix.Renameat(dirfd, name, dirfd, tmp) }) != nil {
		return
	}
	var now unix.Stat_t
	if unix.Fstatat(dirfd, tmp, &now, unix.AT_SYMLINK_NOFOLLOW) == nil && now.Dev == made.Dev && now.Ino == made.Ino {
		unix.Unlinkat(dirfd, tmp, 0)
		return
	}
	err := unix.Renameat2(dirfd, tmp, dirfd, name, unix.RENAME_NOREPLACE)
	if err == unix.EINVAL { // a file system that cannot refuse to replace: link, which never does
		if err = unix.Linkat(dirfd, tmp, dirfd, name, 0); err == nil {
			unix.Unlinkat(dirfd, tmp, 0)
			return
		}
	}
	if err == unix.EEXIST {
		unix.Unlinkat(dirfd, tmp, 0)
	}
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
