package llmtest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// The lean server: a minimal HTTP/1.1 server on a net.Listener for the
// same handlers, so that a benchmark's fake model costs less of the CPU it
// shares with what is measured. NewServer uses net/http's server unless
// LLMTEST_LEAN=1 is set in the environment (so that the suites of the
// adapters can be run against the lean one); NewLeanServer always uses it.
//
// It speaks enough HTTP/1.1 for any client: one goroutine per connection
// reads requests one after the other (keep-alive, pipelined requests are
// answered in order), a body must come with a Content-Length (chunked and
// other transfer codings are refused with 400, then the connection is
// closed, as is any malformed request), the head is bounded by
// maxLeanHead and the body by maxLeanBody. A reply that is written whole
// before the handler returns (the Buffered quirk, errors) goes out in one
// write with a Content-Length; one that is flushed while being written
// (streaming) goes out chunked. While a turn's delay runs nobody reads
// the connection: a client that leaves is seen when the reply is written,
// except under Hang, which watches the connection and closes it after.

const (
	maxLeanHead    = 16 << 10 // request line and headers
	maxLeanHeaders = 100
	maxLeanBody    = 64 << 20
)

// errHead is a malformed or refused request head; status is the answer.
type errHead struct {
	status int
	msg    string
}

func (e *errHead) Error() string { return e.msg }

// leanField is a header line of a parsed head, pointing into the input.
type leanField struct{ name, value []byte }

// leanHead is a parsed request head. Its slices point into the parsed
// input; fields is reused from one request to the next.
type leanHead struct {
	method, target []byte
	minor          int   // HTTP/1.minor
	length         int64 // Content-Length, 0 without one
	close          bool  // the connection ends after this request
	fields         []leanField
}

// parseLeanHead parses the request line and headers at the start of b. It
// returns the length of the head (the final CRLF included), 0 when b
// holds no whole head yet, or an error for a head that is malformed, too
// large or asks for what the lean server does not do. It reads nothing
// outside b and keeps no reference to b beyond h.
func parseLeanHead(b []byte, h *leanHead) (int, error) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		if len(b) >= maxLeanHead {
			return 0, &errHead{431, "request head too large"}
		}
		return 0, nil
	}
	n := end + 4
	if n > maxLeanHead {
		return 0, &errHead{431, "request head too large"}
	}
	*h = leanHead{fields: h.fields[:0]}
	line, rest, _ := bytes.Cut(b[:end+2], []byte("\r\n"))
	// Request line: method SP target SP HTTP/1.x
	m, after, ok1 := bytes.Cut(line, []byte(" "))
	target, proto, ok2 := bytes.Cut(after, []byte(" "))
	if !ok1 || !ok2 || !isToken(m) || len(target) == 0 || bytes.ContainsAny(target, " \t\x00\x7f") || hasCTL(target) {
		return 0, &errHead{400, "malformed request line"}
	}
	switch string(proto) {
	case "HTTP/1.1":
		h.minor = 1
	case "HTTP/1.0":
		h.minor = 0
		h.close = true
	default:
		return 0, &errHead{505, "HTTP version not supported"}
	}
	h.method, h.target = m, target
	hasLength, hosts := false, 0
	for len(rest) > 0 {
		var l []byte
		l, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		if len(l) == 0 {
			break // the blank line ends the head; rest is empty here
		}
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok || !isToken(name) { // also refuses obs-fold (a line starting with a space)
			return 0, &errHead{400, "malformed header line"}
		}
		value = bytes.Trim(value, " \t")
		if hasCTL(value) {
			return 0, &errHead{400, "malformed header value"}
		}
		if len(h.fields) == maxLeanHeaders {
			return 0, &errHead{431, "too many headers"}
		}
		h.fields = append(h.fields, leanField{name, value})
		switch {
		case equalFold(name, "Content-Length"):
			v, err := parseLength(value)
			if err != nil || (hasLength && v != h.length) {
				return 0, &errHead{400, "bad Content-Length"}
			}
			if v > maxLeanBody {
				return 0, &errHead{413, "request body too large"}
			}
			h.length, hasLength = v, true
		case equalFold(name, "Host"):
			hosts++
		case equalFold(name, "Transfer-Encoding"):
			return 0, &errHead{400, "transfer codings are not supported: send a Content-Length"}
		case equalFold(name, "Connection"):
			for _, t := range bytes.Split(value, []byte(",")) {
				t = bytes.Trim(t, " \t")
				if equalFold(t, "close") {
					h.close = true
				} else if equalFold(t, "keep-alive") && h.minor == 0 {
					h.close = false
				}
			}
		}
	}
	if hosts > 1 || (hosts == 0 && h.minor == 1) {
		return 0, &errHead{400, "an HTTP/1.1 request needs one Host header"}
	}
	return n, nil
}

// parseLength parses a Content-Length: decimal digits only, no sign, no
// overflow.
func parseLength(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 18 {
		return 0, errors.New("bad length")
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, errors.New("bad length")
		}
		v = v*10 + int64(c-'0')
	}
	return v, nil
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || bytes.IndexByte([]byte(`"(),/:;<=>?@[\]{}`), c) >= 0 {
			return false
		}
	}
	return true
}

func hasCTL(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return true
		}
	}
	return false
}

func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c, d := b[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

// NewLeanServer is NewServer with the lean HTTP/1.1 server instead of
// net/http's. The handlers, recording and quirks are the same.
func NewLeanServer(h Handler) *Server {
	s, ln := newServer(h)
	s.lean = &leanState{conns: map[net.Conn]struct{}{}}
	s.lean.ctx, s.lean.cancel = context.WithCancel(context.Background())
	go s.acceptLean(ln)
	return s
}

type leanState struct {
	ctx    context.Context // canceled by Close
	cancel context.CancelFunc
	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func (s *Server) closeLean() {
	s.ln.Close()
	l := s.lean
	l.mu.Lock()
	l.closed = true
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	l.cancel()
}

func (s *Server) acceptLean(ln net.Listener) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() { // as net/http: back off and go on
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return
		}
		delay = 0
		l := s.lean
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		l.conns[c] = struct{}{}
		l.mu.Unlock()
		go s.serveLeanConn(c)
	}
}

// leanConn is a connection's state, reused from request to request.
type leanConn struct {
	s    *Server
	c    net.Conn
	raw  syscall.RawConn // c's, when it has one: see readReady
	rbuf []byte          // read, not yet consumed
	// pooled is the readBufs buffer rbuf is in, if it is one; it goes
	// back to the pool once rbuf is empty.
	pooled *[]byte
	head   leanHead
	req    *http.Request
	ctx    *leanCtx
	w      leanWriter
	timer  *time.Timer
}

func (s *Server) serveLeanConn(c net.Conn) {
	lc := &leanConn{s: s, c: c}
	if sc, ok := c.(syscall.Conn); ok {
		lc.raw, _ = sc.SyscallConn()
	}
	lc.ctx = &leanCtx{lc: lc, base: s.lean.ctx}
	lc.req = (&http.Request{
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		URL: &url.URL{}, Header: http.Header{}, RemoteAddr: c.RemoteAddr().String(),
	}).WithContext(lc.ctx)
	lc.w = leanWriter{c: c, hdr: http.Header{}}
	defer func() {
		c.Close()
		s.lean.mu.Lock()
		delete(s.lean.conns, c)
		s.lean.mu.Unlock()
		if lc.timer != nil {
			lc.timer.Stop()
		}
		lc.release()
	}()
	for lc.serveOne() {
		lc.release()
	}
}

// readBufs are the buffers requests are read into, readBufSize bytes:
// room for a whole request of an agent's conversation, so that one read
// takes it (an agent's request is 7 to 10 KB in bench agents).
var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

const readBufSize = 32 << 10

// release gives rbuf's pooled buffer back once all it holds is consumed,
// so that a connection waiting for its next request holds no buffer.
func (lc *leanConn) release() {
	if lc.pooled != nil && len(lc.rbuf) == 0 {
		readBufs.Put(lc.pooled)
		lc.pooled, lc.rbuf = nil, nil
	}
}

// readReady waits until the connection has input and reads it into a
// pooled buffer, taken only once there is something to read (a read
// that would block gives it back before the wait).
func (lc *leanConn) readReady() error {
	var n int
	var rerr error
	var buf *[]byte
	err := lc.raw.Read(func(fd uintptr) bool {
		buf = readBufs.Get().(*[]byte)
		for {
			n, rerr = syscall.Read(int(fd), *buf)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			readBufs.Put(buf)
			buf = nil
			return false
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	switch {
	case err != nil:
	case n == 0:
		err = io.EOF
	default:
		lc.pooled, lc.rbuf = buf, (*buf)[:n]
		return nil
	}
	if buf != nil {
		readBufs.Put(buf)
	}
	return err
}

// serveOne reads and answers one request; false ends the connection.
func (lc *leanConn) serveOne() bool {
	n, err := lc.readHead()
	if err != nil {
		var eh *errHead
		if errors.As(err, &eh) {
			lc.refuse(eh.status, eh.msg)
		}
		return false
	}
	h := &lc.head
	r := lc.req
	r.Method = internMethod(h.method)
	if p := internPath(h.target); p != "" {
		*r.URL = url.URL{Path: p}
		r.RequestURI = p
	} else if u, err := url.ParseRequestURI(string(h.target)); err == nil {
		*r.URL = *u
		r.RequestURI = string(h.target)
	} else {
		lc.refuse(400, "malformed request target")
		return false
	}
	r.ProtoMinor = h.minor
	r.Proto = "HTTP/1.1"
	if h.minor == 0 {
		r.Proto = "HTTP/1.0"
	}
	r.ContentLength = h.length
	r.Close = h.close
	fillHeader(r.Header, h.fields)
	r.Host = r.Header.Get("Host")
	lc.consume(n)
	body, err := lc.readBody(h.length)
	if err != nil {
		return false
	}
	r.Body = body
	lc.release() // the head is parsed and copied: the buffer is free during the turn's delay

	w := &lc.w
	w.reset(h.close)
	if r.Method == "HEAD" { // never answered but with an error: no body, and close
		w.close, w.noBody = true, true
	}
	switch {
	case r.URL.Path == "/v1/chat/completions" && r.Method == "POST":
		lc.s.serveOpenAI(w, r)
	case r.URL.Path == "/v1/messages" && r.Method == "POST":
		lc.s.serveAnthropic(w, r)
	case r.URL.Path == "/v1/chat/completions" || r.URL.Path == "/v1/messages":
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	default:
		http.NotFound(w, r)
	}
	if body.keep != nil { // the handler returned early (an error) without done
		bodies.Put(body.keep)
		body.keep = nil
	}
	w.finish()
	return w.err == nil && !w.close && !lc.ctx.watched && lc.s.lean.ctx.Err() == nil
}

// readHead reads until rbuf holds a whole head and parses it.
func (lc *leanConn) readHead() (int, error) {
	for {
		if len(lc.rbuf) > 0 {
			n, err := parseLeanHead(lc.rbuf, &lc.head)
			if n > 0 || err != nil {
				return n, err
			}
		}
		var err error
		if len(lc.rbuf) == 0 && lc.raw != nil {
			lc.release()
			err = lc.readReady()
		} else {
			if len(lc.rbuf) == cap(lc.rbuf) {
				lc.rbuf = append(lc.rbuf, make([]byte, max(min(cap(lc.rbuf), maxLeanHead), 4096))...)[:len(lc.rbuf)]
			}
			var m int
			m, err = lc.c.Read(lc.rbuf[len(lc.rbuf):cap(lc.rbuf)])
			lc.rbuf = lc.rbuf[:len(lc.rbuf)+m]
		}
		if err != nil {
			if len(lc.rbuf) > 0 && err == io.EOF {
				return 0, &errHead{400, "truncated request head"}
			}
			return 0, err
		}
	}
}

// consume drops the first n bytes of rbuf, keeping what follows (the body,
// or a pipelined request).
func (lc *leanConn) consume(n int) {
	k := copy(lc.rbuf, lc.rbuf[n:])
	lc.rbuf = lc.rbuf[:k]
}

// readBody reads an n-byte body: into a pooled buffer that the handler
// gives back (done) when requests are not recorded, else a new one.
func (lc *leanConn) readBody(n int64) (*leanBody, error) {
	body := &lc.ctx.body
	*body = leanBody{}
	if n == 0 {
		return body, nil
	}
	var b []byte
	if !lc.s.record.Load() {
		body.keep = bodies.Get().(*[]byte)
		if int64(cap(*body.keep)) >= n {
			b = (*body.keep)[:n]
		} else {
			b = make([]byte, n)
			if n <= 1<<20 {
				*body.keep = b
			}
		}
	} else {
		b = make([]byte, n)
	}
	k := copy(b, lc.rbuf)
	lc.consume(k)
	if _, err := io.ReadFull(lc.c, b[k:]); err != nil {
		if body.keep != nil {
			bodies.Put(body.keep)
		}
		return nil, err
	}
	body.b = b
	return body, nil
}

// refuse answers a request the server will not serve and closes.
func (lc *leanConn) refuse(status int, msg string) {
	w := &lc.w
	w.reset(true)
	http.Error(w, msg, status)
	w.finish()
	// As net/http: stop writing and read what the client still sends for
	// a while, so that closing with unread input does not reset the
	// connection before the client has read the answer.
	if tc, ok := lc.c.(*net.TCPConn); ok && w.err == nil {
		tc.CloseWrite()
		tc.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.Copy(io.Discard, io.LimitReader(tc, 256<<10))
	}
}

// leanBody is a request's body, already read.
type leanBody struct {
	b    []byte
	off  int
	keep *[]byte // the pooled buffer b is in, for done
}

func (b *leanBody) Read(p []byte) (int, error) {
	if b.off >= len(b.b) {
		return 0, io.EOF
	}
	n := copy(p, b.b[b.off:])
	b.off += n
	return n, nil
}

func (b *leanBody) Close() error { return nil }

var methods = []string{"POST", "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"}

func internMethod(b []byte) string {
	for _, m := range methods {
		if string(b) == m {
			return m
		}
	}
	return string(b)
}

func internPath(b []byte) string {
	for _, p := range []string{"/v1/chat/completions", "/v1/messages"} {
		if string(b) == p {
			return p
		}
	}
	return ""
}

// commonKeys is made on first use, not by the package's init, which every
// command runs.
var commonKeys = lazy.Value[map[string]string]{New: func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{"Host", "User-Agent", "Content-Length", "Content-Type", "Accept", "Accept-Encoding",
		"Authorization", "X-Api-Key", "Anthropic-Version", "Connection", "Openai-Beta", "Anthropic-Beta"} {
		m[k] = k
	}
	return m
}}

// fillHeader sets h to the fields, reusing the strings of the previous
// request on the connection where they are the same.
func fillHeader(h http.Header, fields []leanField) {
	var seen [16]string
	n := 0
	common := commonKeys.Get()
	for _, f := range fields {
		key, ok := common[string(f.name)]
		if !ok {
			key = textproto.CanonicalMIMEHeaderKey(string(f.name))
		}
		already := false
		for _, k := range seen[:min(n, len(seen))] {
			if k == key {
				already = true
			}
		}
		vs := h[key]
		switch {
		case already:
			h[key] = append(vs, string(f.value))
		case len(vs) == 1 && vs[0] == string(f.value):
		default:
			h[key] = []string{string(f.value)}
		}
		if !already {
			if n < len(seen) {
				seen[n] = key
			}
			n++
		}
	}
	if n > len(seen) {
		clear(h)
		for _, f := range fields {
			h.Add(string(f.name), string(f.value))
		}
		return
	}
	for k := range h {
		found := false
		for _, s := range seen[:n] {
			if s == k {
				found = true
			}
		}
		if !found {
			delete(h, k)
		}
	}
}

// leanCtx is a connection's request context. It ends when the server
// closes; once Done is asked for (Hang), it also ends when the client
// leaves, which a goroutine reading the connection watches for, and the
// connection is closed after the request.
type leanCtx struct {
	lc      *leanConn
	base    context.Context
	body    leanBody
	once    sync.Once
	done    context.Context
	watched bool
}

func (c *leanCtx) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *leanCtx) Value(k any) any             { return c.base.Value(k) }
func (c *leanCtx) Err() error {
	if c.done != nil {
		return c.done.Err()
	}
	return c.base.Err()
}

func (c *leanCtx) Done() <-chan struct{} {
	c.once.Do(func() {
		ctx, cancel := context.WithCancel(c.base)
		c.done, c.watched = ctx, true
		go func() {
			var b [1]byte
			c.lc.c.Read(b[:]) // the client sends nothing more until the reply ends
			cancel()
		}()
	})
	return c.done.Done()
}

// sleep waits d or until the server closes, on the connection's timer,
// without watching the client.
func (c *leanCtx) sleep(d time.Duration) bool {
	lc := c.lc
	if lc.timer == nil {
		lc.timer = time.NewTimer(d)
	} else {
		lc.timer.Reset(d)
	}
	select {
	case <-lc.timer.C:
		return true
	case <-c.base.Done():
		lc.timer.Stop()
		return false
	}
}

// leanWriter is the http.ResponseWriter of the lean server. It holds the
// reply until the handler returns or flushes: a reply written whole goes
// out with a Content-Length in one write, a flushed one chunked.
type leanWriter struct {
	c       net.Conn
	hdr     http.Header
	status  int
	sent    bool // the head is out: the rest is chunked
	chunked bool
	close   bool
	noBody  bool // a HEAD request's answer
	buf     *[]byte
	err     error
}

var leanBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (w *leanWriter) reset(close bool) {
	clear(w.hdr)
	w.status, w.sent, w.chunked, w.close, w.noBody, w.err = 0, false, false, close, false, nil
}

func (w *leanWriter) Header() http.Header { return w.hdr }

func (w *leanWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *leanWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.WriteHeader(200)
	if w.buf == nil {
		w.buf = leanBufs.Get().(*[]byte)
	}
	*w.buf = append(*w.buf, p...)
	return len(p), nil
}

// FlushError sends the head and what is written so far as a chunk.
func (w *leanWriter) FlushError() error {
	if w.err != nil {
		return w.err
	}
	w.WriteHeader(200)
	out := w.buf0()
	if !w.sent {
		out = w.appendHead(out, -1)
	}
	if n := w.pending(); n > 0 {
		out = appendChunk0(out, *w.buf)
		*w.buf = (*w.buf)[:0]
	}
	w.send(out)
	return w.err
}

func (w *leanWriter) pending() int {
	if w.buf == nil {
		return 0
	}
	return len(*w.buf)
}

// buf0 is a pooled buffer for a write, which send gives back.
func (w *leanWriter) buf0() []byte { return (*leanBufs.Get().(*[]byte))[:0] }

// finish sends the rest of the reply.
func (w *leanWriter) finish() {
	if w.err == nil {
		w.WriteHeader(200)
		out := w.buf0()
		if !w.sent {
			out = w.appendHead(out, w.pending())
			if w.buf != nil && !w.noBody {
				out = append(out, *w.buf...)
			}
		} else {
			if w.pending() > 0 {
				out = appendChunk0(out, *w.buf)
			}
			out = append(out, "0\r\n\r\n"...)
		}
		w.send(out)
	}
	if w.buf != nil {
		if cap(*w.buf) <= 64<<10 {
			*w.buf = (*w.buf)[:0]
			leanBufs.Put(w.buf)
		}
		w.buf = nil
	}
}

func (w *leanWriter) send(out []byte) {
	if _, err := w.c.Write(out); err != nil {
		w.err = err
	}
	if cap(out) <= 64<<10 {
		out = out[:0]
		leanBufs.Put(&out)
	}
}

// appendHead appends the status line and headers, with a Content-Length
// of n, or chunked when n < 0.
func (w *leanWriter) appendHead(b []byte, n int) []byte {
	w.sent = true
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(w.status)...)
	b = append(b, "\r\n"...)
	for k, vs := range w.hdr {
		if k == "Content-Length" || k == "Transfer-Encoding" || k == "Connection" {
			continue
		}
		for _, v := range vs {
			b = append(append(append(append(b, k...), ": "...), v...), "\r\n"...)
		}
	}
	if n >= 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, "\r\n"...)
	} else {
		w.chunked = true
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if w.close {
		b = append(b, "Connection: close\r\n"...)
	}
	return append(b, "\r\n"...)
}

func appendChunk0(b, p []byte) []byte {
	b = strconv.AppendInt(b, int64(len(p)), 16)
	b = append(b, "\r\n"...)
	b = append(b, p...)
	return append(b, "\r\n"...)
}
