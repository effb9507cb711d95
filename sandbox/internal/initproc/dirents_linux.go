package initproc

import (
	"bytes"
	"encoding/binary"
	"errors"

	"golang.org/x/sys/unix"
)

// Dirents reads the folder fd (its offset at the start) by getdents and
// calls each with every entry's name, type (a unix.DT_* value, DT_UNKNOWN
// where the file system does not say) and inode number, "." and ".."
// included. The name is only valid during the call. Used by the init (the
// types of the allowed programs' folders) and by the host (the walk for
// the paths to hide), without a stat per entry.
func Dirents(fd int, each func(name []byte, typ uint8, ino uint64)) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		// struct linux_dirent64: d_ino (8), d_off (8), d_reclen (2),
		// d_type (1), then the name, NUL-terminated and padded.
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < 19 || reclen > len(b) {
				return errors.New("malformed directory entry")
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			each(name, b[18], binary.NativeEndian.Uint64(b[:8]))
			b = b[reclen:]
		}
	}
}
