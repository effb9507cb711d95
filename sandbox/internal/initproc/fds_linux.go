package initproc

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// The command receives fds 0, 1 and 2 and nothing else, whatever the
// process that started the sandbox left open without O_CLOEXEC: such a
// descriptor crosses the host's fork and exec into the init (Go's
// os/exec passes on every inheritable one), and from the init into the
// command. Two steps close that path:
//
//   - the init closes what it inherited above its control socket as its
//     first act (closeInherited): the descriptors without FD_CLOEXEC,
//     since exec closed every other one, and those the Go runtime has
//     opened by then (the netpoller, the cgroup files it reads for
//     GOMAXPROCS) all have the flag;
//   - right before forking the command, every descriptor from 3 up (the
//     control socket, which the init still needs for its reply, the
//     forwarder's sockets, anything else) is marked close-on-exec
//     (cloexecFrom), so the command's execve drops them all; the stdio
//     fds are duplicated onto 0-2 by the fork, which clears the flag on
//     the copies only.

// closeInherited closes every descriptor numbered low or above that is not
// close-on-exec.
func closeInherited(low int) error {
	return eachFdFrom(low, func(fd int) error {
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			return err
		}
		return unix.Close(fd)
	})
}

// cloexecFrom marks every descriptor numbered low or above close-on-exec.
func cloexecFrom(low int) error {
	err := unix.CloseRange(uint(low), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err != unix.ENOSYS && err != unix.EINVAL {
		return err
	}
	return eachFdFrom(low, func(fd int) error {
		_, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC)
		return err
	})
}

// eachFdFrom calls f on every open descriptor numbered low or above, as
// /proc/self/fd lists them (cloexecFrom's fallback for kernels without
// close_range's close-on-exec flag, before 5.11).
func eachFdFrom(low int, f func(fd int) error) error {
	// A raw descriptor, not an os.File: the init's first act is here,
	// and an os.File would start the runtime's netpoller (an epoll
	// instance, an eventfd, half a dozen system calls) for nothing.
	d, err := unix.Open("/proc/self/fd", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	var fds []int
	err = Dirents(d, func(name []byte, _ uint8, _ uint64) {
		if fd, err := strconv.Atoi(string(name)); err == nil && fd >= low && fd != d {
			fds = append(fds, fd)
		}
	})
	unix.Close(d)
	if err != nil {
		return err
	}
	for _, fd := range fds {
		if err := f(fd); err != nil && err != unix.EBADF {
			return err
		}
	}
	return nil
}
