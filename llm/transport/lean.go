package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Lean is an http.RoundTripper for model servers reached over plain HTTP
// without a proxy (a local ollama, vLLM or llama.cpp server, the benches'
// fake model). It writes each request in one write and reads the response
// with http.ReadResponse on the caller's goroutine, over a pool of
// HTTP/1.1 connections that hold no goroutine, and a 4 KiB read buffer
// only while a response is read: net/http's Transport keeps two goroutines and 20 KiB of
// buffers per connection and hands every request between three
// goroutines, a fifth of the CPU of a model turn on loopback
// (BENCHMARKS.md, issue 17).
//
// Every other request goes to the standard transport it was made from,
// unchanged: https, requests its Proxy function sends through a proxy,
// CONNECT, requests with an Upgrade, Connection or Expect header, trailers, a body
// of unknown length or over 16 MiB, an invalid method or header (which
// the standard transport refuses in its own words), and all requests when
// keep-alives are disabled.
//
// A connection goes back to the pool only when its response's body was
// read to its end without error, the response was framed by a length or
// chunked encoding, neither side asked to close, no byte followed the
// body, and, when it is taken again, the socket holds nothing unread and
// was not closed (a non-blocking peek, made with the request's write: see
// leanConn.writeIdle). Errors, of RoundTrip and of the
// body's reads, never hold the request's header values: a server can
// echo them in a malformed response head or trailer.
type Lean struct {
	std         *http.Transport
	off         bool // std has a setting Lean does not implement: std takes all
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	maxHead     int64 // bytes of response heads (1xx included) per request
	idlePerHost int
	maxIdle     int // over all hosts; 0 is no limit
	idleTimeout time.Duration

	mu    sync.Mutex
	idle  map[string][]*leanConn // oldest first
	nidle int
	sweep *time.Timer // closes expired idle connections; nil when none are idle
}

const (
	// maxLeanBody bounds the request bodies Lean buffers whole to write
	// them in one write; larger ones stream through the standard transport.
	maxLeanBody = 16 << 20
	// defaultLeanHead is the bound on response heads when the standard
	// transport sets none (net/http's own default is 10 MiB; no model
	// server sends more than a few KB).
	defaultLeanHead = 1 << 20
	leanDialTimeout = 30 * time.Second
	maxLeanAttempts = 8 // tries of one request on pooled connections that the server closed
)

// NewLean returns a Lean that sends what it does not take itself through
// std, and takes from std its Proxy function, DialContext (or Dial),
// MaxIdleConns, MaxIdleConnsPerHost, IdleConnTimeout and
// MaxResponseHeaderBytes; when std has none of the dial functions, its
// connections are dialled as StdTransport's (modelDialer).
// When std disables keep-alives, sets a ResponseHeaderTimeout or a
// MaxConnsPerHost, or speaks HTTP/2 without TLS only, which Lean does
// not implement, std takes every request. std must not be changed
// afterwards.
func NewLean(std *http.Transport) *Lean {
	t := &Lean{
		std:         std,
		off:         std.DisableKeepAlives || std.ResponseHeaderTimeout > 0 || std.MaxConnsPerHost > 0 || (std.Protocols != nil && !std.Protocols.HTTP1()),
		dial:        dialOf(std),
		maxHead:     std.MaxResponseHeaderBytes,
		idlePerHost: std.MaxIdleConnsPerHost,
		maxIdle:     std.MaxIdleConns,
		idleTimeout: std.IdleConnTimeout,
		idle:        map[string][]*leanConn{},
	}
	if t.maxHead <= 0 {
		t.maxHead = defaultLeanHead
	}
	if t.idlePerHost <= 0 {
		t.idlePerHost = http.DefaultMaxIdleConnsPerHost
	}
	if t.idleTimeout <= 0 {
		t.idleTimeout = 90 * time.Second
	}
	return t
}

// dialOf is std's dial function, as net/http chooses it: a dialer that
// std was given (one that refuses some addresses, say) binds Lean too.
func dialOf(std *http.Transport) func(ctx context.Context, network, addr string) (net.Conn, error) {
	switch {
	case std.DialContext != nil:
		return std.DialContext
	//lint:ignore SA1019 net/http still dials with Dial when it is the one set; so must Lean
	case std.Dial != nil:
		//lint:ignore SA1019 as above
		return func(_ context.Context, network, addr string) (net.Conn, error) { return std.Dial(network, addr) }
	}
	return modelDialer.DialContext
}

// RoundTrip implements http.RoundTripper.
func (t *Lean) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.takes(req) {
		return t.std.RoundTrip(inMemory(req))
	}
	var w wire
	defer w.release()
	resp, err := t.send(req, &w)
	if err != nil {
		return nil, scrub(req, err)
	}
	return resp, nil
}

// CloseIdleConnections closes the idle connections of Lean and of its
// standard transport (http.Client.CloseIdleConnections calls it).
func (t *Lean) CloseIdleConnections() {
	t.mu.Lock()
	var all []*leanConn
	for k, cs := range t.idle {
		all = append(all, cs...)
		delete(t.idle, k)
	}
	t.nidle = 0
	t.mu.Unlock()
	for _, c := range all {
		c.close()
	}
	t.std.CloseIdleConnections()
}

// takes says whether req is for Lean's own connections.
func (t *Lean) takes(req *http.Request) bool {
	u := req.URL
	if u == nil || u.Scheme != "http" || u.Host == "" || t.off || len(req.Trailer) > 0 {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody && (req.ContentLength <= 0 || req.ContentLength > maxLeanBody) {
		return false
	}
	if req.Method == "CONNECT" || req.Method != "" && !httpguts.ValidHeaderFieldName(req.Method) { // a method is a token, as a header name
		return false
	}
	if !asciiPrintable(u.Host) || !asciiPrintable(req.Host) {
		return false
	}
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		switch http.CanonicalHeaderKey(k) {
		case "Upgrade", "Connection", "Expect":
			return false
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	if t.std.Proxy != nil {
		if p, err := t.std.Proxy(req); p != nil || err != nil {
			return false
		}
	}
	return true
}

func asciiPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// send writes req on a pooled or new connection and reads the response's
// head. A reused connection that fails before the server answered is
// replaced by a fresh one when that is safe (see leanConn.roundTrip); a
// fresh one is never retried. The request is put in w once the first
// connection is got, as net/http writes it once it has one: a dial waits
// for the server, and a thousand agents starting together would each hold
// a buffer of their request through it.
func (t *Lean) send(req *http.Request, w *wire) (*http.Response, error) {
	ctx := req.Context()
	addr := dialAddr(req.URL)
	for attempt := 1; ; attempt++ {
		c, reused, err := t.get(ctx, addr)
		if err != nil {
			if !w.built && req.Body != nil {
				req.Body.Close() // RoundTrip closes the body, even on error
			}
			return nil, err
		}
		if !w.built {
			if err := w.build(req); err != nil {
				t.put(c) // nothing was written on it
				return nil, err
			}
		}
		resp, retry, err := c.roundTrip(ctx, req, w, reused)
		if err == nil {
			return resp, nil
		}
		if err == errNotIdle {
			// Found closed as it was taken, as get finds them: no attempt
			// was spent on it.
			attempt--
			continue
		}
		// Each retry spends a pooled connection; the bound keeps a server
		// that fails every reused one from holding the request while
		// other requests refill the pool.
		if !reused || !retry || w.b == nil || ctx.Err() != nil || attempt >= maxLeanAttempts {
			return nil, err
		}
	}
}

// dialAddr is u's host and port, port 80 when u names none.
func dialAddr(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// get returns an idle connection to addr (reused true), which roundTrip
// checks is still open and holds nothing unread as it writes to it, or
// dials a new one.
func (t *Lean) get(ctx context.Context, addr string) (*leanConn, bool, error) {
	for {
		c := t.popIdle(addr)
		if c == nil {
			break
		}
		if c.reusable() {
			return c, true, nil
		}
		c.close()
	}
	nc, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, err
	}
	return newLeanConn(t, nc, addr), false, nil
}

func (t *Lean) popIdle(addr string) *leanConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	cs := t.idle[addr]
	if len(cs) == 0 {
		return nil
	}
	c := cs[len(cs)-1] // the most recently used: the least likely closed by the server
	cs[len(cs)-1] = nil
	t.idle[addr] = cs[:len(cs)-1]
	t.nidle--
	return c
}

// put pools c, or closes it when the pool is full.
func (t *Lean) put(c *leanConn) {
	t.mu.Lock()
	cs := t.idle[c.addr]
	if len(cs) >= t.idlePerHost || (t.maxIdle > 0 && t.nidle >= t.maxIdle) {
		t.mu.Unlock()
		c.close()
		return
	}
	c.idleAt = time.Now()
	t.idle[c.addr] = append(cs, c)
	t.nidle++
	if t.sweep == nil {
		t.sweep = time.AfterFunc(t.idleTimeout, t.sweepIdle)
	}
	t.mu.Unlock()
}

// sweepIdle closes the connections idle for longer than idleTimeout, and
// comes again while any are idle.
func (t *Lean) sweepIdle() {
	now := time.Now()
	var old []*leanConn
	t.mu.Lock()
	for addr, cs := range t.idle {
		n := 0
		for n < len(cs) && now.Sub(cs[n].idleAt) >= t.idleTimeout {
			n++
		}
		if n == 0 {
			continue
		}
		old = append(old, cs[:n]...)
		t.nidle -= n
		if n == len(cs) {
			delete(t.idle, addr)
		} else {
			t.idle[addr] = append(cs[:0], cs[n:]...)
		}
	}
	if t.nidle > 0 {
		t.sweep.Reset(t.idleTimeout / 2)
	} else {
		t.sweep = nil
	}
	t.mu.Unlock()
	for _, c := range old {
		c.close()
	}
}

// wireBufs hold requests while they are written, and until the response's
// head when a retry may send them again (see wire.release): a few per
// process, not one per request in flight.
var wireBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// wire is a request as written on the connection, in a pooled buffer.
type wire struct {
	b     *bytes.Buffer
	built bool // build was called: the body is read and closed
}

// build writes req into a pooled buffer as req.Write does (writeRequest),
// which writes the head and body as net/http's Transport does (Host,
// Content-Length, header lines) and closes the body. The buffer has room
// for the whole request at once: grown piece by piece as req.Write
// writes, a buffer new from the pool is allocated five or six times over.
func (w *wire) build(req *http.Request) error {
	w.built = true
	w.b = wireBufs.Get().(*bytes.Buffer)
	w.b.Grow(wireSize(req))
	return writeRequest(w.b, req)
}

func (w *wire) bytes() []byte { return w.b.Bytes() }

// release gives the buffer back to the pool; b is nil after it.
func (w *wire) release() {
	if w.b != nil {
		putWireBuf(w.b)
		w.b = nil
	}
}

// wireSize is about the size req.Write makes of req: its body, its
// header lines, and room for the request line, Host, User-Agent and
// Content-Length. bytes.Buffer.ReadFrom, which copies the body, wants
// 512 bytes free after it to see its end, so these are counted too.
func wireSize(req *http.Request) int {
	n := 512 + 256 + len(req.Host) + len(req.URL.Host) + len(req.URL.Path) + len(req.URL.RawQuery)
	for k, vs := range req.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	if req.ContentLength > 0 {
		n += int(req.ContentLength)
	}
	return n
}

func putWireBuf(b *bytes.Buffer) {
	if b.Cap() > 256<<10 {
		return // a rare large request does not keep its buffer
	}
	b.Reset()
	wireBufs.Put(b)
}

// errRedacted replaces an error whose text held a header value of the
// request (a server can echo the API key in a malformed status line).
var errRedacted = errors.New("the error's text held a request header value [REDACTED]")

// scrub returns err, or when its text holds a value of one of req's
// headers (or a word of one, such as the key after "Bearer"), an error
// with those replaced: the errors of the lean transport reach logs, and
// request headers carry API keys. The replacement does not wrap err.
func scrub(req *http.Request, err error) error {
	msg := err.Error()
	clean := msg
	for _, vs := range req.Header {
		for _, v := range vs {
			clean = redactValue(clean, v)
		}
	}
	if clean == msg {
		return err
	}
	return fmt.Errorf("%s (%w)", clean, errRedacted)
}

// redactValue removes v and each of its words of 8 bytes or more from s,
// as they are and as %q writes them (net/http's parser quotes what it
// could not parse: a quote, a backslash or a byte over 0x7e in a key is
// escaped there).
func redactValue(s, v string) string {
	s = redactWord(s, v)
	for _, w := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' || r == ';' || r == '=' }) {
		s = redactWord(s, w)
	}
	return s
}

func redactWord(s, w string) string {
	if len(w) < 8 {
		return s
	}
	s = strings.ReplaceAll(s, w, "[REDACTED]")
	if q := strconv.Quote(w); q[1:len(q)-1] != w {
		s = strings.ReplaceAll(s, q[1:len(q)-1], "[REDACTED]")
	}
	return s
}
