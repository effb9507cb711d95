//go:build unix

package audit

import (
	"os"
	"syscall"
)

// tryLock takes an advisory lock on f (shared or exclusive) without
// waiting; it reports false when another open file holds a conflicting
// one. The lock goes with Unlock or the file's close.
func tryLock(f *os.File, exclusive bool) (bool, error) {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		switch err {
		case nil:
			return true, nil
		case syscall.EWOULDBLOCK:
			return false, nil
		case syscall.EINTR:
			continue
		}
		return false, err
	}
}

// unlockFile releases the lock tryLock took.
func unlockFile(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
