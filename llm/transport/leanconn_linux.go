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

// idleWrite is the state of a writeIdle, kept in its connection so that
// its step, made once a connection, allocates nothing a request.
type idleWrite struct {
	step  func(fd uintptr) bool
	w     *wire
	keep  bool // w is not released once written
	n     int  // bytes written
	idle  bool
	asked bool // step ran once: it peeked, and wrote if idle
	full  bool // a write found the socket's buffer full
	err   error
}

// writeIdle writes w, the request, on the pooled connection c if it is
// still idle (idleFD; idle false, nothing written, otherwise), releases
// w once it is written unless keep, and waits until the response can be
// read. The peek, the write and the wait are made in one RawConn.Read:
// the poller is armed before the peek, so a byte that comes after it
// wakes the wait, and the first read of the response finds it there
// instead of failing with EAGAIN first, as a read made right after a
// write does (a system call a turn). A write that fills the socket's
// buffer is finished by nc.Write, outside, and w is then released by the
// caller.
func (c *leanConn) writeIdle(w *wire, keep bool) (n int, idle bool, err error) {
	if c.iw.step == nil {
		c.iw.step = c.idleStep
	}
	iw := &c.iw
	iw.w, iw.keep, iw.n, iw.idle, iw.asked, iw.full, iw.err = w, keep, 0, false, false, false, nil
	defer func() { iw.w, iw.err = nil, nil }()
	rerr := c.rc.Read(iw.step)
	switch {
	case iw.err != nil:
		// As net.Conn.Write reports it.
		return iw.n, iw.idle, &net.OpError{Op: "write", Net: c.nc.LocalAddr().Network(), Source: c.nc.LocalAddr(), Addr: c.nc.RemoteAddr(), Err: os.NewSyscallError("write", iw.err)}
	case rerr != nil:
		// The connection was closed (the request's context ended) before
		// or after the request was written.
		return iw.n, iw.idle, rerr
	case iw.full:
		k, err := c.nc.Write(w.bytes()[iw.n:])
		return iw.n + k, iw.idle, err
	}
	return iw.n, iw.idle, nil
}

// idleStep is writeIdle's function for RawConn.Read.
func (c *leanConn) idleStep(fd uintptr) bool {
	iw := &c.iw
	if iw.asked {
		return true // readable, or woken for nothing: the read waits again
	}
	iw.asked = true
	if iw.idle = idleFD(fd); !iw.idle {
		return true
	}
	b := iw.w.bytes()
	for iw.n < len(b) {
		k, e := syscall.Write(int(fd), b[iw.n:])
		switch {
		case e == syscall.EINTR:
			continue
		case e == syscall.EAGAIN:
			iw.full = true
			return true
		case e != nil:
			iw.err = e
			return true
		}
		iw.n += k
	}
	if !iw.keep {
		iw.w.release() // free while the model thinks
	}
	return false // wait for the response
}
