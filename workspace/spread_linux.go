package workspace

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// fsTopdirFL is the inode flag FS_TOPDIR_FL (linux/fs.h): "top of a
// directory hierarchy", which ext2, ext3 and ext4 read.
const fsTopdirFL = 0x00020000

// Spread marks folder dir as the top of folder trees: on ext4 (and ext2,
// ext3) the folders made in it are placed apart, each in a block group
// of its own choosing, as the file system places the folders of its root
// (the Orlov allocator), instead of in dir's group. Bulwark calls it on
// the folders that hold its workspaces. Each workspace then writes its
// files into a group of its own rather than the one where earlier
// workspaces were made and removed: on an ext4 without a journal the
// kernel skips, one read of an inode table block each, every inode freed
// in the last one to five minutes when it makes a file
// (recently_deleted), and a thousand tasks made where a thousand were
// just removed spent most of their CPU there (BENCHMARKS.md, "Issue 17,
// all measures after session 35"). A file system without the flag
// refuses it; the error is for the caller to ignore.
func Spread(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	fd := int(f.Fd())
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		return err
	}
	if flags&fsTopdirFL != 0 {
		return nil
	}
	return unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFL))
}

// IsSpread reports whether folder dir is marked by Spread, and whether
// its file system has inode flags at all (flags false: Spread cannot mark
// it, and on is false).
func IsSpread(dir string) (on, flags bool, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, false, err
	}
	defer f.Close()
	v, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL) {
		return false, false, nil
	}
	if err != nil {
		return false, false, err
	}
	return v&fsTopdirFL != 0, true, nil
}
