package transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// leanConn is one HTTP/1.1 connection of a Lean: one request at a time
// uses it, and between requests it waits in the pool with no goroutine.
type leanConn struct {
	t  *Lean
	nc net.Conn
	rc syscall.RawConn // nc's descriptor, nil when it has none (a conn a custom dialer made)
	iw idleWrite       // writeIdle's state, and its step made once
	// br reads through the leanConn, for its limit and ended. It is taken
	// from leanReaders when the response is read and given back when the
	// connection goes back to the pool: a thousand requests waiting for
	// their model hold no read buffer, nor do idle connections.
	br     *bufio.Reader
	addr   string
	idleAt time.Time

	// Owned by the goroutine of the request using the connection.
	limit int64 // bytes that reads may still take: the bound on heads
	got   int64 // bytes read since the request was written
	ended bool  // a read of the socket failed or met its end: never reused

	aborted atomic.Bool // closed because the request's context ended
}

func newLeanConn(t *Lean, nc net.Conn, addr string) *leanConn {
	c := &leanConn{t: t, nc: nc, addr: addr, limit: math.MaxInt64}
	if sc, ok := nc.(syscall.Conn); ok {
		c.rc, _ = sc.SyscallConn()
	}
	return c
}

// leanReaders are the connections' read buffers (see leanConn.br).
var leanReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

// takeReader gives c a read buffer, if it has none.
func (c *leanConn) takeReader() {
	if c.br == nil {
		c.br = leanReaders.Get().(*bufio.Reader)
		c.br.Reset(c)
	}
}

// giveReader gives c's read buffer back; it must hold nothing, and no
// read may use it any more (the response's body ended).
func (c *leanConn) giveReader() {
	c.br.Reset(nil)
	leanReaders.Put(c.br)
	c.br = nil
}

var errHeadLimit = errors.New("read limit of the response head exhausted")

// errNotIdle is roundTrip's error for a pooled connection that the server
// closed, or sent bytes on, while it was idle: nothing was written on it.
var errNotIdle = errors.New("the idle connection was closed or sent an unasked-for response")

// Read reads the socket for br, within limit, as net/http's persistConn
// does.
func (c *leanConn) Read(p []byte) (int, error) {
	if c.limit <= 0 {
		return 0, errHeadLimit
	}
	if int64(len(p)) > c.limit {
		p = p[:c.limit]
	}
	n, err := c.nc.Read(p)
	c.limit -= int64(n)
	c.got += int64(n)
	if err != nil {
		c.ended = true
	}
	return n, err
}

func (c *leanConn) close() { c.nc.Close() }

// abort closes the connection when the request's context ends: a read or
// write blocked on it returns at once, and it is never pooled again.
func (c *leanConn) abort() {
	c.aborted.Store(true)
	c.nc.Close()
}

// roundTrip writes w, the whole request, and reads the response's head.
// On error the connection is closed, and retry says that the request may
// be sent again on a fresh connection: nothing of it was written, or the
// server sent nothing before the connection failed and the request is
// replayable (as net/http decides: an idempotent method or an
// Idempotency-Key header). The caller retries only when c was reused, so
// once w is written it is released unless c was reused and req is
// replayable: the buffer of a model request (a POST) is free while the
// model thinks. A pooled connection (reused) that the server closed or
// wrote on while it was idle is closed with errNotIdle, nothing written.
func (c *leanConn) roundTrip(ctx context.Context, req *http.Request, w *wire, reused bool) (resp *http.Response, retry bool, err error) {
	stop := context.AfterFunc(ctx, c.abort)
	c.got = 0
	var n int
	if reused {
		// Looked at as it is written to (writeIdle): a connection the
		// server closed or wrote on while it was idle carries nothing.
		var idle bool
		if n, idle, err = c.writeIdle(w, replayable(req)); !idle && err == nil {
			stop()
			c.close()
			return nil, true, errNotIdle
		}
	} else {
		n, err = c.nc.Write(w.bytes())
	}
	if err != nil {
		stop()
		c.close()
		return nil, n == 0, c.failed(ctx, err)
	}
	if !reused || !replayable(req) {
		w.release()
	}
	c.takeReader()
	resp, err = c.readHead(req)
	if err != nil {
		stop()
		c.close()
		return nil, c.got == 0 && replayable(req), c.failed(ctx, err)
	}
	b := &leanBody{c: c, req: req, ctx: ctx, stop: stop, rc: resp.Body, keep: keepAlive(req, resp)}
	if resp.Body == http.NoBody {
		b.end(io.EOF) // nothing follows the head: the connection is free now
		return resp, false, nil
	}
	resp.Body = b
	return resp, false, nil
}

// readHead reads the response to req with net/http's parser, skipping
// informational (1xx) responses. All the heads together are bounded by
// maxHead, as net/http bounds them.
func (c *leanConn) readHead(req *http.Request) (*http.Response, error) {
	c.limit = c.t.maxHead
	defer func() { c.limit = math.MaxInt64 }()
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			if c.limit <= 0 {
				return nil, fmt.Errorf("server response headers exceeded %d bytes; aborted", c.t.maxHead)
			}
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			return nil, errors.New("unexpected 101 Switching Protocols: no upgrade was asked for")
		case resp.StatusCode >= 100 && resp.StatusCode < 200:
			// 100 Continue, 103 Early Hints: no body, the final response
			// follows. Only 1xx: a status under 100 (which net/http's
			// parser takes, and its Transport answers as final) may
			// have a body, and skipping it would read that body as the
			// next head.
			continue
		}
		return resp, nil
	}
}

// failed is the error a request returns for err: its context's error
// when that ended (the cause of the broken connection).
func (c *leanConn) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// keepAlive says whether resp leaves its connection usable for another
// request once its body is read to the end: neither side asked to close
// (an HTTP/1.0 answer without keep-alive counts as asking), and the body
// has an end of its own (a length or chunked), not the connection's.
func keepAlive(req *http.Request, resp *http.Response) bool {
	if req.Close || resp.Close {
		return false
	}
	chunked := len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked"
	return resp.Body == http.NoBody || resp.ContentLength >= 0 || chunked
}

// replayable is net/http's Request.isReplayable for a request whose body
// Lean holds whole.
func replayable(req *http.Request) bool {
	switch req.Method {
	case "", "GET", "HEAD", "OPTIONS", "TRACE":
		return true
	}
	_, key := req.Header["Idempotency-Key"]
	_, xkey := req.Header["X-Idempotency-Key"]
	return key || xkey
}

var errBodyClosed = errors.New("http: read on closed response body")

// leanBody is a response's body: read to its end, it gives its connection
// back to the pool (or closes it, see end); closed before, it closes the
// connection rather than draining it (a slow or endless body would hold
// Close).
type leanBody struct {
	c    *leanConn
	req  *http.Request // its header values are scrubbed from read errors
	ctx  context.Context
	stop func() bool // unregisters c.abort from ctx
	rc   io.ReadCloser
	keep bool

	mu   sync.Mutex
	done bool
	err  error // what Read returns once done
}

func (b *leanBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	done, err := b.done, b.err
	b.mu.Unlock()
	if done {
		return 0, err
	}
	n, err := b.rc.Read(p)
	if err == nil {
		return n, nil
	}
	if err != io.EOF {
		// A trailer line is quoted in the parser's error: the server
		// can echo the key there, as in a head.
		err = scrub(b.req, b.c.failed(b.ctx, err))
	}
	return n, b.end(err)
}

// Close implements io.Closer; it does not wait for a Read in progress,
// which fails.
func (b *leanBody) Close() error {
	b.end(errBodyClosed)
	return nil
}

// end ends the body with err (io.EOF: read to its end) unless it ended
// already, and returns what Read returns from now on. The connection goes
// back to the pool only after a clean end of a keep-alive response with
// no byte read past it and the context not ended; otherwise it is closed.
func (b *leanBody) end(err error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.err
	}
	b.done, b.err = true, err
	stopped := b.stop()
	c := b.c
	if err == io.EOF && stopped && b.keep && !c.ended && c.br.Buffered() == 0 && !c.aborted.Load() {
		c.giveReader()
		c.t.put(c)
	} else {
		c.close()
	}
	return err
}
