//go:build unix

package export

import (
	"errors"
	"net"
	"syscall"
)

// peerClosed reports whether the peer of a TCP connection has closed it
// (end of stream or reset). A syslog receiver never sends, so a write into
// such a connection would succeed into a buffer nobody reads and the
// record would be lost without an error; the writer dials again instead.
// It peeks without blocking and takes nothing from the stream.
func peerClosed(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == nil:
			closed = n == 0 // 0 bytes and no error: the end of the stream
		case errors.Is(rerr, syscall.EAGAIN), errors.Is(rerr, syscall.EWOULDBLOCK), errors.Is(rerr, syscall.EINTR):
		default:
			closed = true // reset, or any other failure of the socket
		}
		return true // never wait for readability
	})
	return err != nil || closed
}
