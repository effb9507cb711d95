package early

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	// InitName is the standalone init's file in sandbox/initbin, and
	// InitName+".stamp" its stamp.
	InitName = "bulwark-sandbox-init"
	// InitFd is the lowest descriptor an init's file is opened at:
	// above what a child's ExtraFiles take.
	InitFd = 100
	// RootCacheDir is root's cache folder: the exec plan's cache, the
	// cached standalone init and its checked marks.
	RootCacheDir = "/var/cache/bulwark"
)

// InitFile is the file in dir the standalone init of stamp is cached in.
func InitFile(dir string, stamp []byte) string {
	sum := sha256.Sum256(stamp)
	return join(dir, fmt.Sprintf("sandbox-init-%x", sum[:8]))
}

// CheckedMark is the file in dir whose presence says that the binary
// named self found its embedded init, of stamp, built from its sources.
func CheckedMark(dir string, stamp []byte, self string) string {
	h := sha256.New()
	h.Write(stamp)
	h.Write([]byte{0})
	io.WriteString(h, self)
	return join(dir, fmt.Sprintf("init-checked-%x", h.Sum(nil)[:8]))
}

// FileIdentity names the file at path as it is now: its device, inode,
// size, and modification and change times. Another build, a copy, or the
// file written again (which a running program's cannot be) is named
// otherwise; "" when it cannot be read.
func FileIdentity(path string) string {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return ""
	}
	return fmt.Sprintf("%d %d %d %d.%09d %d.%09d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}

// join is filepath.Join for a clean folder and a name. This package
// does not import path/filepath, whose package init, late in a process's
// order of package inits (by import path, among those ready), would delay
// this one's (early_linux.go).
func join(dir, name string) string {
	if strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}

// split is filepath.Dir and filepath.Base of a path with no trailing
// slash: "" as its base otherwise, which no file is.
func split(file string) (dir, base string) {
	i := strings.LastIndexByte(file, '/')
	switch {
	case i < 0:
		return ".", file
	case i == 0:
		return "/", file[1:]
	}
	return file[:i], file[i+1:]
}

// OpenRootsFile opens file for reading when it and its folder are root's
// and writable by nobody else, and it is a regular file, not reached
// through a symbolic link: what root wrote, which no other user could
// have swapped.
func OpenRootsFile(file string) (*os.File, unix.Stat_t, bool) {
	var st unix.Stat_t
	rootsOnly := func(fd int, mode uint32) bool {
		return unix.Fstat(fd, &st) == nil && st.Uid == 0 && st.Mode&0o022 == 0 && st.Mode&unix.S_IFMT == mode
	}
	folder, name := split(file)
	dir, err := unix.Open(folder, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, st, false
	}
	defer unix.Close(dir)
	if !rootsOnly(dir, unix.S_IFDIR) {
		return nil, st, false
	}
	// O_NONBLOCK: a fifo at the name is refused below, not waited on
	// (it changes nothing for a regular file).
	fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, st, false
	}
	if !rootsOnly(fd, unix.S_IFREG) {
		unix.Close(fd)
		return nil, st, false
	}
	return os.NewFile(uintptr(fd), file), st, true
}

// RootsFileExists reports whether file is there and nobody but root could
// have put it there (OpenRootsFile).
func RootsFileExists(file string) bool {
	f, _, ok := OpenRootsFile(file)
	if ok {
		f.Close()
	}
	return ok
}

// OpenCachedInit returns a read-only descriptor (numbered InitFd or
// above) of the cached init in file, when it is root's and writable by
// nobody else (OpenRootsFile), of size bytes, read-only and on a file
// system that lets it be executed; else -1.
func OpenCachedInit(file string, size int64) int {
	f, st, ok := OpenRootsFile(file)
	if !ok {
		return -1
	}
	defer f.Close()
	// A file system mounted noexec would refuse every start.
	var sfs unix.Statfs_t
	if st.Size != size || st.Mode&0o222 != 0 || unix.Fstatfs(int(f.Fd()), &sfs) != nil || sfs.Flags&unix.ST_NOEXEC != 0 {
		return -1
	}
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, InitFd)
	if err != nil {
		return -1
	}
	return fd
}
