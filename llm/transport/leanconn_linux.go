package transport

import (
	"net"
	"os"
	"syscall"
)

// reusable says whether the pooled connection c may be taken for a
// request: it is looked at (idleFD) as the request is written to it
// (writeIdle).
func (c *leanConn) reusable() bool { return c.rc != nil }

// stillIdle says whether the idle connection c can carry a request: the
// server has not closed or reset it and sent nothing since its last
// response (bytes there would be an unasked-for response, which must not
// be taken for the next one). One non-blocking peek, where net/http keeps
// a goroutine reading every idle connection.
func (c *leanConn) stillIdle() bool {
	if c.rc == nil {
		return false
	}
	idle := false
	err := c.rc.Read(func(fd uintptr) bool {
		idle = idleFD(fd)
		return true // done either way: never wait
	})
	return err == nil && idle
}

// idleFD is stillIdle's peek at the socket fd.
func idleFD(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err == syscall.EAGAIN
}

// writeIdle writes b, the request, on the pooled connection c if it is
// still idle (idleFD; idle false, nothing written, otherwise), and waits
// until the response can be read. The peek, the write and the wait are
// made in one RawConn.Read: the poller is armed before the peek, so a
// byte that comes after it wakes the wait, and the first read of the
// response finds it there instead of failing with EAGAIN first, as a read
// made right after a write does (a system call a turn). A write that
// fills the socket's buffer is finished by nc.Write, outside.
func (c *leanConn) writeIdle(b []byte) (n int, idle bool, err error) {
	var werr error
	asked, full := false, false
	rerr := c.rc.Read(func(fd uintptr) bool {
		if asked {
			return true // readable, or woken for nothing: the read waits again
		}
		asked = true
		if idle = idleFD(fd); !idle {
			return true
		}
		for n < len(b) {
			k, e := syscall.Write(int(fd), b[n:])
			switch {
			case e == syscall.EINTR:
				continue
			case e == syscall.EAGAIN:
				full = true
				return true
			case e != nil:
				werr = e
				return true
			}
			n += k
		}
		return false // wait for the response
	})
	switch {
	case werr != nil:
		// As net.Conn.Write reports it.
		return n, idle, &net.OpError{Op: "write", Net: c.nc.LocalAddr().Network(), Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: os.NewSyscallError("write", werr)}
	case rerr != nil:
		// The connection was closed (the request's context ended) before
		// or after the request was written.
		return n, idle, rerr
	case full:
		k, err := c.nc.Write(b[n:])
		return n + k, idle, err
	}
	return n, idle, nil
}
