package llmtest

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop server: the lean server's HTTP/1.1 on one thread that waits on
// epoll itself, for a benchmark's fake model, whose CPU is shared with
// what is measured. Per request it makes one read and one write, and
// allocates nothing: no goroutine per connection (so no scheduler, timer
// or poller wake-ups of its own, and no garbage collection of its
// buffers), the reply's delay kept in a heap of due times that sets the
// wait's timeout, and the reply rendered into one buffer reused for all.
// Its epoll is edge-triggered, so a connection is never re-armed.
//
// It speaks the lean server's HTTP/1.1 (the same head parser and limits)
// and OpenAI Chat Completions only, replies always whole with a
// Content-Length (as Buffered), requests neither recorded nor parsed.

// NewLoopServer starts the loop server on a loopback port, answering
// with h: see above. A Request holds only N, Protocol, Model (when the
// body starts with it, as the adapters write it) and Body, which is valid
// while h runs; h must keep none of it. A turn that hangs is answered
// with an error. Count and Close work as for the other servers;
// RequireAPIKey too, SetRecording and SetParsing do nothing.
//
// With holdP, for a process that is the server and little else, the loop
// waits in a raw system call, which keeps its P: the runtime sees a
// goroutine running, not one in a system call, so its monitor neither
// takes the P back nor wakes every 20 us to see whether it should (which
// it did around the loop's waits: a sixth of the server's CPU). The caller gives the
// process a second P for its other goroutines (GOMAXPROCS), which a wait
// holds up for at most the 10 ms after which the runtime preempts the
// loop (its signal ends the wait). Without holdP the wait lets the P go,
// as any system call does, and the loop can share a process.
func NewLoopServer(h Handler, holdP bool) *Server {
	l, addr, err := newLoop()
	if err != nil {
		panic("llmtest: cannot start the loop server: " + err.Error())
	}
	l.holdP = holdP
	s := &Server{URL: "http://" + addr, handler: h, loop: l}
	s.raw.Store(true)
	l.s = s
	go l.run()
	return s
}

// loopState is the loop server's: touched by its goroutine alone, but
// for wake and done, with which Close stops it.
type loopState struct {
	s      *Server
	epfd   int
	lfd    int // the listening socket
	wake   int // an eventfd: Close writes it
	done   chan struct{}
	conns  []*loopConn // by file descriptor
	due    loopHeap
	seq    uint64
	events [128]unix.EpollEvent
	head   leanHead
	req    Request
	rbuf   []byte // each read goes here
	body   []byte // a reply's body as it is made
	out    []byte // a reply's head and body
	model  string // the last request's model, kept for the next
	noWait bool   // epoll_pwait2 is missing: the wait is in whole ms
	holdP  bool   // see NewLoopServer
	once   sync.Once
	// The loop's start, and the time since it when the wait last ended:
	// what a reply's due time is counted from.
	start time.Time
	now   time.Duration
}

// loopConn is a connection's state.
type loopConn struct {
	fd int
	// in holds a request not yet whole, or what followed the last one.
	in []byte
	// more: input may wait unread (it came while a reply was due, or the
	// last read filled the buffer), to be read after the reply; hup: the
	// client ended its side (or the connection failed), which a read will
	// find after the reply. The epoll is edge-triggered: neither is said
	// again.
	more, hup bool
	// A reply is due at due (monotonic ns from the loop's start, with seq
	// to keep arrival order among equals), at heap index at; 0 when none.
	due, seq uint64
	at       int
	turn     Turn
	n        int
	model    string
	close    bool   // close after the reply
	pending  []byte // a reply not yet written whole
}

const loopReadSize = 64 << 10

// newLoop makes the listening socket (127.0.0.1, or [::1] without IPv4),
// the epoll and the eventfd.
func newLoop() (*loopState, string, error) {
	lfd, addr, err := listenLoopback()
	if err != nil {
		return nil, "", err
	}
	l := &loopState{lfd: lfd, epfd: -1, wake: -1, done: make(chan struct{}), rbuf: make([]byte, loopReadSize)}
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err == nil {
		l.wake, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	}
	if err == nil {
		err = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)})
	}
	if err == nil {
		err = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, l.wake, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(l.wake)})
	}
	if err != nil {
		l.closeAll()
		return nil, "", err
	}
	return l, addr, nil
}

func listenLoopback() (int, string, error) {
	const flags = unix.SOCK_STREAM | unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	var sa unix.Sockaddr = &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	fd, err := unix.Socket(unix.AF_INET, flags, 0)
	if err != nil {
		sa = &unix.SockaddrInet6{Addr: [16]byte{15: 1}}
		if fd, err = unix.Socket(unix.AF_INET6, flags, 0); err != nil {
			return -1, "", err
		}
	}
	if err == nil {
		err = unix.Bind(fd, sa)
	}
	if err == nil {
		// A connection is handed to accept once its request has come
		// (one wake-up of the loop, not two), and with TCP_NODELAY,
		// which accepted sockets take from the listener.
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 1)
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		err = unix.Listen(fd, 4096)
	}
	if err == nil {
		sa, err = unix.Getsockname(fd)
	}
	if err != nil {
		unix.Close(fd)
		return -1, "", err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return fd, "127.0.0.1:" + strconv.Itoa(a.Port), nil
	case *unix.SockaddrInet6:
		return fd, "[::1]:" + strconv.Itoa(a.Port), nil
	}
	unix.Close(fd)
	return -1, "", errors.New("no loopback address")
}

func (s *Server) closeLoop() {
	l := s.loop
	l.once.Do(func() {
		one := [8]byte{0: 1}
		unix.Write(l.wake, one[:])
		<-l.done
	})
}

// closeAll closes every descriptor the loop has.
func (l *loopState) closeAll() {
	for _, c := range l.conns {
		if c != nil {
			unix.Close(c.fd)
		}
	}
	l.conns = nil
	for _, fd := range []int{l.lfd, l.epfd, l.wake} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// run is the loop: wait for input or the next reply's time, read and take
// what came, send what is due.
func (l *loopState) run() {
	defer close(l.done)
	defer l.closeAll()
	l.start = time.Now()
	for {
		n, err := l.wait()
		if err != nil && err != unix.EINTR {
			return
		}
		l.now = time.Since(l.start)
		for _, ev := range l.events[:max(n, 0)] {
			switch fd := int(ev.Fd); fd {
			case l.wake:
				return
			case l.lfd:
				l.accept()
			default:
				if c := l.conn(fd); c != nil {
					l.ready(c, ev.Events)
				}
			}
		}
		l.sendDue()
	}
}

// wait waits on the epoll until the first reply is due.
func (l *loopState) wait() (int, error) {
	var timeout *unix.Timespec
	if len(l.due) > 0 {
		ts := unix.NsecToTimespec(max(int64(l.due[0].due)-int64(time.Since(l.start)), 0))
		timeout = &ts
	}
	call := unix.Syscall6
	if l.holdP {
		call = unix.RawSyscall6
	}
	events := uintptr(unsafe.Pointer(&l.events[0]))
	if !l.noWait {
		n, _, e := call(unix.SYS_EPOLL_PWAIT2, uintptr(l.epfd), events, uintptr(len(l.events)), uintptr(unsafe.Pointer(timeout)), 0, 0)
		if e != unix.ENOSYS {
			return int(n), errnoErr(e)
		}
		l.noWait = true
	}
	ms := -1
	if timeout != nil {
		ms = int((timeout.Nano() + 999_999) / 1_000_000) // never early
	}
	n, _, e := call(unix.SYS_EPOLL_PWAIT, uintptr(l.epfd), events, uintptr(len(l.events)), uintptr(ms), 0, 0)
	return int(n), errnoErr(e)
}

func errnoErr(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

// rawRead and rawWrite are read and write on a non-blocking socket, which
// never block: made raw, without telling the runtime (see NewLoopServer).
func rawRead(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), errnoErr(e)
}

func rawWrite(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	return int(n), errnoErr(e)
}

func (l *loopState) conn(fd int) *loopConn {
	if fd < len(l.conns) {
		return l.conns[fd]
	}
	return nil
}

// accept takes every waiting connection.
func (l *loopState) accept() {
	for {
		fd, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(l.lfd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
		if e == unix.EINTR || e == unix.ECONNABORTED {
			continue
		}
		if e != 0 {
			return // EAGAIN; or out of descriptors, which the listener (level-triggered) says again
		}
		c := &loopConn{fd: int(fd)}
		if unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}) != nil {
			unix.Close(c.fd)
			continue
		}
		for len(l.conns) <= c.fd {
			l.conns = append(l.conns, nil)
		}
		l.conns[c.fd] = c
	}
}

// ready handles the events of a connection.
func (l *loopState) ready(c *loopConn, events uint32) {
	if events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		c.hup = true
	}
	busy := c.due != 0 || len(c.pending) > 0 // a reply is due or being written
	if busy && events&unix.EPOLLIN != 0 {
		c.more = true // read after the reply
	}
	switch {
	case len(c.pending) > 0:
		if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
			l.write(c, c.pending)
		}
	case busy:
	case events&unix.EPOLLIN != 0 || c.hup:
		l.read(c)
	}
}

// read reads until c has a whole request, which it takes, or the socket
// is drained.
func (l *loopState) read(c *loopConn) {
	if len(c.in) > 0 && l.take(c, c.in) {
		return
	}
	for c.fd >= 0 {
		n, err := rawRead(c.fd, l.rbuf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil || n == 0 {
			l.drop(c)
			return
		}
		c.more = n == len(l.rbuf)
		if len(c.in) > 0 {
			c.in = append(c.in, l.rbuf[:n]...)
			if l.take(c, c.in) {
				return
			}
		} else if l.take(c, l.rbuf[:n]) {
			return
		}
	}
}

// take takes the request at the start of b, if it is whole: it keeps what
// follows in c.in and returns true once the reply is due, or the
// connection dropped. Otherwise it keeps b in c.in for more.
func (l *loopState) take(c *loopConn, b []byte) bool {
	h := &l.head
	n, err := parseLeanHead(b, h)
	if err != nil {
		eh := &errHead{400, "malformed request"}
		errors.As(err, &eh)
		l.refuse(c, eh.status, eh.msg, false)
		return true
	}
	if n == 0 || int64(len(b)-n) < h.length {
		if len(c.in) == 0 || &b[0] != &c.in[0] {
			c.in = append(c.in[:0], b...)
		}
		return false
	}
	body := b[n : n+int(h.length)]
	rest := b[n+int(h.length):]
	head := string(h.method) == "HEAD"
	switch {
	case string(h.target) != "/v1/chat/completions":
		l.refuse(c, 404, "404 page not found", head)
	case string(h.method) != "POST":
		l.refuse(c, 405, "method not allowed", head)
	default:
		c.close = h.close
		c.turn, c.n, c.model = l.turnFor(h, body)
		l.seq++
		c.due, c.seq = uint64(l.now+c.turn.Delay)|1, l.seq // never 0
		l.due.push(c)
	}
	// Keep what follows: a pipelined request (rare) is read after the reply.
	if len(rest) > 0 {
		c.in = append(c.in[:0], rest...)
		c.more = true
	} else {
		c.in = c.in[:0]
	}
	return true
}

// turnFor asks the handler for the turn answering the request, or makes
// the turn that refuses it.
func (l *loopState) turnFor(h *leanHead, body []byte) (Turn, int, string) {
	s := l.s
	n := int(s.n.Add(1))
	if k := s.key.Load(); k != nil && !loopHasKey(h, *k) {
		return Turn{Status: 401}, n, ""
	}
	l.req = Request{N: n, Protocol: "openai", Model: l.leadingModel(body), Body: body}
	t := s.handler(&l.req)
	model := l.req.Model
	l.req = Request{}
	if t.Hang {
		return Turn{Status: 500, Body: `{"error":{"message":"llmtest: the loop server does not hang","type":"server_error"}}`}, n, model
	}
	return t, n, model
}

func loopHasKey(h *leanHead, key string) bool {
	for _, f := range h.fields {
		if equalFold(f.name, "Authorization") && string(f.value) == "Bearer "+key || equalFold(f.name, "X-Api-Key") && string(f.value) == key {
			return true
		}
	}
	return false
}

// leadingModel is the model of a body that names it first, as the
// adapters write it, without decoding the body: "" otherwise. The last
// model's string is kept for the next request.
func (l *loopState) leadingModel(body []byte) string {
	rest, ok := bytes.CutPrefix(body, []byte(`{"model":"`))
	if !ok {
		return ""
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 || bytes.IndexByte(rest[:i], '\\') >= 0 {
		return ""
	}
	if l.model != string(rest[:i]) {
		l.model = string(rest[:i])
	}
	return l.model
}

// sendDue sends every reply due by now.
func (l *loopState) sendDue() {
	for len(l.due) > 0 && l.due[0].due <= uint64(l.now) {
		c := l.due.pop()
		c.due = 0
		l.reply(c)
	}
}

// reply renders c's turn and writes it.
func (l *loopState) reply(c *loopConn) {
	t := c.turn
	c.turn = Turn{}
	if t.Status != 0 && t.Status != 200 {
		w := &bufResponse{hdr: http.Header{}}
		if t.RetryAfter != "" {
			w.hdr.Set("Retry-After", t.RetryAfter)
		}
		writeError(w, "openai", t.Status, "", t.Body)
		l.out = appendReplyHead(l.out[:0], t.Status, "application/json", w.hdr, len(w.b), c.close)
		l.write(c, append(l.out, w.b...))
		return
	}
	q := t.Quirks | Buffered
	if q&ArgumentsObject != 0 {
		q |= WholeToolCall
	}
	created := time.Now().Unix()
	req := &l.req
	*req = Request{N: c.n, Protocol: "openai", Model: c.model}
	ok := false
	if t.prep != nil && t.StreamError == "" {
		l.body, ok = t.prep.render(l.body[:0], t, q, req, created)
	}
	if !ok {
		l.body = l.body[:0]
		streamOpenAI(context.Background(), &sseWriter{gather: &l.body}, t, q, req, c.n, created)
	}
	*req = Request{}
	l.out = appendReplyHead(l.out[:0], 200, "text/event-stream", nil, len(l.body), c.close)
	l.out = append(l.out, l.body...)
	l.write(c, l.out)
}

// appendReplyHead appends a reply's status line and headers.
func appendReplyHead(b []byte, status int, contentType string, hdr http.Header, n int, close bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(append(append(b, ' '), http.StatusText(status)...), "\r\nContent-Type: "...)
	b = append(append(b, contentType...), "\r\n"...)
	if status == 200 {
		b = append(b, "Cache-Control: no-cache\r\n"...)
	}
	for k, vs := range hdr {
		if k != "Content-Type" {
			for _, v := range vs {
				b = append(append(append(append(b, k...), ": "...), v...), "\r\n"...)
			}
		}
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(n), 10)
	if close {
		b = append(b, "\r\nConnection: close"...)
	}
	return append(b, "\r\n\r\n"...)
}

// bufResponse gathers an error reply.
type bufResponse struct {
	hdr    http.Header
	status int
	b      []byte
}

func (w *bufResponse) Header() http.Header         { return w.hdr }
func (w *bufResponse) WriteHeader(status int)      { w.status = status }
func (w *bufResponse) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// write writes b to c, keeping what the socket does not take for when it
// is writable again; once all is out, the connection reads its next
// request (or closes).
func (l *loopState) write(c *loopConn, b []byte) {
	for len(b) > 0 {
		n, err := rawWrite(c.fd, b)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil {
			l.drop(c)
			return
		}
		b = b[n:]
	}
	if len(b) > 0 {
		if len(c.pending) == 0 || &b[0] != &c.pending[0] {
			c.pending = append(c.pending[:0], b...)
		} else {
			c.pending = b
		}
		return
	}
	c.pending = nil
	if c.close {
		l.drop(c)
		return
	}
	if c.more || c.hup || len(c.in) > 0 {
		c.more = false
		l.read(c)
	}
}

// refuse answers a request the server will not serve (with no body for
// a HEAD request) and closes once it is written.
func (l *loopState) refuse(c *loopConn, status int, msg string, head bool) {
	w := &bufResponse{hdr: http.Header{}}
	if status == 405 {
		w.hdr.Set("Allow", "POST")
	}
	http.Error(w, msg, status)
	c.close, c.in = true, nil
	l.out = appendReplyHead(l.out[:0], status, w.hdr.Get("Content-Type"), w.hdr, len(w.b), true)
	if !head {
		l.out = append(l.out, w.b...)
	}
	l.write(c, l.out)
}

// drop closes c.
func (l *loopState) drop(c *loopConn) {
	if c.fd < 0 {
		return
	}
	if c.due != 0 {
		l.due.remove(c)
		c.due = 0
	}
	l.conns[c.fd] = nil
	unix.Close(c.fd) // leaves the epoll with it
	c.fd = -1
}

// loopHeap is the connections with a reply due, earliest first.
type loopHeap []*loopConn

func (h loopHeap) less(i, j int) bool {
	return h[i].due < h[j].due || h[i].due == h[j].due && h[i].seq < h[j].seq
}

func (h loopHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].at, h[j].at = i, j
}

func (h *loopHeap) push(c *loopConn) {
	c.at = len(*h)
	*h = append(*h, c)
	h.up(c.at)
}

func (h *loopHeap) pop() *loopConn {
	c := (*h)[0]
	h.remove(c)
	return c
}

func (h *loopHeap) remove(c *loopConn) {
	i, last := c.at, len(*h)-1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	if i != last {
		h.down(i)
		h.up(i)
	}
}

func (h loopHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h loopHeap) down(i int) {
	for {
		k := 2*i + 1
		if k >= len(h) {
			return
		}
		if k+1 < len(h) && h.less(k+1, k) {
			k++
		}
		if !h.less(k, i) {
			return
		}
		h.swap(i, k)
		i = k
	}
}
