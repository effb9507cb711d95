package workspace

import (
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

// spreadOf reports whether dir is marked by Spread.
func spreadOf(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	return flags&fsTopdirFL != 0, err
}
