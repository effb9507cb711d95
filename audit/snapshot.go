package audit

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// SnapshotFile copies the file log at path (see FileStore) as it stood at
// one moment, while other processes may append to it: its records to
// records and its checkpoints to checkpoints (the index is not copied; a
// writer that opens the copy builds it again). It takes the shared lock
// that readers take only for the moment it reads both files' sizes, so
// that a writer is never held up for the length of the copy, and then
// copies each file up to the end of its last whole line: a log only grows
// (an unfinished line a crash left is cut off by the next writer, but it
// lies past that point), so those bytes do not change while they are
// copied, and every checkpoint copied covers records copied. It returns
// how many bytes of records it copied.
func SnapshotFile(path string, records, checkpoints io.Writer) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("audit snapshot: %w", err)
	}
	defer f.Close()
	cf, err := os.Open(path + ".checkpoints")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("audit snapshot: %w", err)
	}
	if cf != nil {
		defer cf.Close()
	}
	if err := waitLock(f, false); err != nil {
		return 0, fmt.Errorf("audit snapshot: %w", err)
	}
	size, err := fileSize(f)
	var csize int64
	if err == nil && cf != nil {
		csize, err = fileSize(cf)
	}
	if uerr := unlockFile(f); err == nil {
		err = uerr
	}
	if err != nil {
		return 0, fmt.Errorf("audit snapshot: %w", err)
	}
	n, err := copyLines(records, f, size)
	if err != nil {
		return n, fmt.Errorf("audit snapshot of %s: %w", path, err)
	}
	if cf != nil {
		if _, err := copyLines(checkpoints, cf, csize); err != nil {
			return n, fmt.Errorf("audit snapshot of %s.checkpoints: %w", path, err)
		}
	}
	return n, nil
}

func fileSize(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// copyLines copies f up to the end of the last whole line before size.
func copyLines(w io.Writer, f *os.File, size int64) (int64, error) {
	end, err := lineStart(f, size)
	if err != nil {
		return 0, err
	}
	return io.Copy(w, io.NewSectionReader(f, 0, end))
}
