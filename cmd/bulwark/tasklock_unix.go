//go:build unix

package main

import (
	"os"
	"syscall"
)

// lockTaskFile tries to lock f without waiting: exclusively to hold it,
// shared to test it (and let it go at once). It reports whether it got
// the lock.
func lockTaskFile(f *os.File, hold bool) (bool, error) {
	how := syscall.LOCK_SH
	if hold {
		how = syscall.LOCK_EX
	}
	for {
		switch err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err {
		case nil:
			if !hold {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			}
			return true, nil
		case syscall.EWOULDBLOCK:
			return false, nil
		case syscall.EINTR:
		default:
			return false, err
		}
	}
}
