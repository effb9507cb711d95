package transport

import (
	"syscall"
)

// stillIdle says whether the idle connection c can carry a request: the
// server has not closed or reset it and sent nothing since its last
// response (bytes there would be an unasked-for response, which must not
// be taken for the next one). One non-blocking peek, where net/http keeps
// a goroutine reading every idle connection.
func (c *leanConn) stillIdle() bool {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	idle := false
	var b [1]byte
	err = rc.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		idle = rerr == syscall.EAGAIN
		return true // done either way: never wait
	})
	return err == nil && idle
}
