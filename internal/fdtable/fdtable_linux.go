package fdtable

import "golang.org/x/sys/unix"

func reserve(n int) error {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if uint64(n) > lim.Cur {
		n = int(lim.Cur)
	}
	if n < 1 {
		return nil
	}
	// An eventfd: a descriptor to copy that needs no file system.
	fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	// The lowest free descriptor from n-1 up: never one in use.
	high, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, n-1)
	if err != nil {
		return err
	}
	return unix.Close(high)
}
