package transport

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer is an odd or hostile HTTP/1.1 server: serve gets each
// accepted connection, with its index from 0, in its own goroutine.
type rawServer struct {
	url   string
	conns atomic.Int32
}

func newRawServer(t *testing.T, serve func(c net.Conn, br *bufio.Reader, i int)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{url: "http://" + ln.Addr().String()}
	var mu sync.Mutex
	var open []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			i := int(s.conns.Add(1)) - 1
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c), i)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// readReq reads one request and its body; false when the client left.
func readReq(br *bufio.Reader) (*http.Request, bool) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, false
	}
	io.Copy(io.Discard, req.Body)
	return req, true
}

// answer answers every request on the connection with reply, until the
// client leaves.
func answer(c net.Conn, br *bufio.Reader, reply string) {
	for {
		if _, ok := readReq(br); !ok {
			return
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
	}
}

// waitGone waits for the client to close c (a read ends), and says so.
func waitGone(c net.Conn, gone chan<- struct{}) {
	io.Copy(io.Discard, c)
	close(gone)
}

func okReply(body string) string {
	return "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// newTestLean is a Lean whose standard transport fails the test if it
// is used: every request of these tests must take the lean path. (Lean
// dials with the dial function std had when it was made.)
func newTestLean(t *testing.T) *Lean {
	t.Helper()
	std := StdTransport()
	std.Proxy = nil
	l := NewLean(std)
	std.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		t.Errorf("the standard transport dialled %s", addr)
		return nil, errors.New("not the lean path")
	}
	t.Cleanup(l.CloseIdleConnections)
	return l
}

// openAtOnce sends n GETs to url through l, each before any body is
// read: n connections in use at once.
func openAtOnce(t *testing.T, l http.RoundTripper, url string, n int) []*http.Response {
	t.Helper()
	var resps []*http.Response
	for range n {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", url, nil)
		resp, err := l.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resps = append(resps, resp)
	}
	return resps
}

// drainAll reads each body to its end and closes it.
func drainAll(resps []*http.Response) {
	for _, r := range resps {
		io.ReadAll(r.Body)
		r.Body.Close()
	}
}

// send sends method to url through l and reads the body to its end.
func send(ctx context.Context, l http.RoundTripper, method, url string) (string, error) {
	var body io.Reader
	if method == "POST" {
		body = strings.NewReader(`{"model":"m"}`)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer sk-test-0123456789")
	resp, err := l.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Keep-alive with a real net/http server: plain, posted and streamed
// (chunked, as SSE is) responses, all on one connection, with the head
// net/http writes.
func TestLeanKeepAlive(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Host == "" || r.Header.Get("Authorization") == "" || (r.Method == "POST" && r.ContentLength != int64(len(b))) {
			t.Errorf("server got %s %s host %q length %d, %d bytes", r.Method, r.URL, r.Host, r.ContentLength, len(b))
		}
		switch r.URL.Path {
		case "/stream":
			for i := range 3 {
				io.WriteString(w, "data: "+strconv.Itoa(i)+"\n\n")
				w.(http.Flusher).Flush()
			}
		default:
			w.Write(append([]byte(r.Method+" "), b...))
		}
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	l := newTestLean(t)
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/", "GET "},
		{"POST", "/", `POST {"model":"m"}`},
		{"GET", "/stream", "data: 0\n\ndata: 1\n\ndata: 2\n\n"},
		{"POST", "/", `POST {"model":"m"}`},
	} {
		got, err := send(t.Context(), l, tc.method, srv.URL+tc.path)
		if err != nil || got != tc.want {
			t.Errorf("%s %s = %q, %v; want %q", tc.method, tc.path, got, err, tc.want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 4 sequential requests, want 1", n)
	}
}

// What a first response does to its connection: reused after a clean,
// framed, keep-alive end; never reused when the server asked to close,
// the body had no length of its own, or bytes followed it (a second
// response for the one request: taken for the next request's answer, it
// would be a smuggled response). The server's connection 0 answers every
// later request with "second", new connections with "fresh".
var reuseCases = []struct {
	name, first, want string
	reuse             bool
}{
	{"length", okReply("first"), "first", true},
	{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n", "first", true},
	{"chunked trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\nX-T: 1\r\n\r\n", "first", true},
	{"no content", "HTTP/1.1 204 No Content\r\n\r\n", "", true},
	{"http/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nfirst", "first", true},
	{"informational first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + okReply("first"), "first", true},
	{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nfirst", "first", false},
	{"http/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nfirst", "first", false},
	{"two responses", okReply("first") + okReply("smuggled"), "first", false},
	{"length shorter than body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst and more", "first", false},
	{"chunked then a response", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n" + okReply("smuggled"), "first", false},
	{"204 with a body", "HTTP/1.1 204 No Content\r\nContent-Length: 8\r\n\r\n" + okReply("smuggled"), "", false},
}

func TestLeanReuse(t *testing.T) {
	for _, tc := range reuseCases {
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			if i > 0 {
				answer(c, br, okReply("fresh"))
				return
			}
			if _, ok := readReq(br); !ok {
				return
			}
			io.WriteString(c, tc.first)
			answer(c, br, okReply("second"))
		})
		l := newTestLean(t)
		got1, err1 := send(t.Context(), l, "POST", srv.url)
		got2, err2 := send(t.Context(), l, "POST", srv.url)
		want2, conns := "fresh", int32(2)
		if tc.reuse {
			want2, conns = "second", 1
		}
		if err1 != nil || got1 != tc.want || err2 != nil || got2 != want2 || srv.conns.Load() != conns {
			t.Errorf("%s: answers %q, %v then %q, %v on %d connections; want %q then %q on %d",
				tc.name, got1, err1, got2, err2, srv.conns.Load(), tc.want, want2, conns)
		}
	}
}

// A second response that arrives after the first's body was read, while
// the connection is idle in the pool, is seen before the connection is
// used again: the next request goes on a fresh one.
func TestLeanLateSecondResponse(t *testing.T) {
	more, sent := make(chan struct{}), make(chan struct{})
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		if i > 0 {
			answer(c, br, okReply("fresh"))
			return
		}
		readReq(br)
		io.WriteString(c, okReply("first"))
		<-more
		io.WriteString(c, okReply("smuggled"))
		close(sent)
		answer(c, br, okReply("second"))
	})
	l := newTestLean(t)
	got1, err1 := send(t.Context(), l, "POST", srv.url)
	close(more)
	<-sent
	got2, err2 := send(t.Context(), l, "POST", srv.url)
	if got1 != "first" || err1 != nil || got2 != "fresh" || err2 != nil {
		t.Errorf("answers %q, %v then %q, %v; want first then fresh", got1, err1, got2, err2)
	}
}

// A connection the server closed while it was idle is not used: a POST
// (which is not sent twice after it may have been written) goes on a
// fresh connection.
func TestLeanServerClosedIdle(t *testing.T) {
	closed := make(chan struct{})
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		if i > 0 {
			answer(c, br, okReply("fresh"))
			return
		}
		readReq(br)
		io.WriteString(c, okReply("first"))
		c.Close()
		close(closed)
	})
	l := newTestLean(t)
	got1, err1 := send(t.Context(), l, "POST", srv.url)
	<-closed
	got2, err2 := send(t.Context(), l, "POST", srv.url)
	if got1 != "first" || err1 != nil || got2 != "fresh" || err2 != nil {
		t.Errorf("answers %q, %v then %q, %v; want first then fresh", got1, err1, got2, err2)
	}
}

// A server that closes a reused connection after reading the next
// request, without answering (its idle close racing with the request): a
// GET is sent again on a fresh connection, as net/http does; a POST,
// which the server may have acted on, fails with an error that
// HTTP.Do's retry takes as a connection failure, and it retries.
func TestLeanServerClosedAfterRequest(t *testing.T) {
	serve := func(c net.Conn, br *bufio.Reader, i int) {
		if i > 0 {
			answer(c, br, okReply("fresh"))
			return
		}
		readReq(br)
		io.WriteString(c, okReply("first"))
		readReq(br)
	}
	srv := newRawServer(t, serve)
	l := newTestLean(t)
	send(t.Context(), l, "GET", srv.url)
	if got, err := send(t.Context(), l, "GET", srv.url); got != "fresh" || err != nil {
		t.Errorf("GET on a connection closed after the request = %q, %v; want fresh", got, err)
	}

	srv = newRawServer(t, serve)
	send(t.Context(), l, "POST", srv.url)
	if _, err := send(t.Context(), l, "POST", srv.url); err == nil || netReason(err) != "the connection was closed" {
		t.Errorf("POST on a connection closed after the request: error %v (%s), want the connection was closed", err, netReason(err))
	}

	srv = newRawServer(t, serve)
	h := &HTTP{Provider: "openai", Client: &http.Client{Transport: l}, Retry: Retry{Sleep: func(context.Context, time.Duration) error { return nil }}}
	post := func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, "POST", srv.url, strings.NewReader("{}"))
	}
	for i, want := range []string{"first", "fresh"} {
		resp, err := h.Do(t.Context(), post)
		if err != nil {
			t.Fatalf("Do %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("Do %d = %q, want %q", i, b, want)
		}
	}
}

// A head that never ends (endless header lines, or endless informational
// responses) fails once the bound on heads is read, and no more of it is
// read.
func TestLeanEndlessHead(t *testing.T) {
	for name, fill := range map[string]string{
		"header": "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Filler: "+strings.Repeat("a", 100)+"\r\n", 10),
		"1xx":    strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 10),
	} {
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			readReq(br)
			if name == "header" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\n")
				fill = fill[len("HTTP/1.1 200 OK\r\n"):]
			}
			for sent := 0; sent < 64<<20; sent += len(fill) {
				if _, err := io.WriteString(c, fill); err != nil {
					return
				}
			}
		})
		std := StdTransport()
		std.MaxResponseHeaderBytes = 64 << 10
		l := NewLean(std)
		var read atomic.Int64
		dial := l.dial
		l.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			return &countingConn{Conn: c, n: &read}, err
		}
		_, err := send(t.Context(), l, "GET", srv.url)
		if err == nil || !strings.Contains(err.Error(), "exceeded 65536 bytes") || read.Load() > 64<<10 {
			t.Errorf("%s: error %v after reading %d bytes, want headers exceeded after at most 64 KiB", name, err, read.Load())
		}
	}
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// A body that ends before its length or its last chunk, with the server
// closing: the read fails (never a clean end) and the connection is not
// reused.
func TestLeanBodyCut(t *testing.T) {
	for _, first := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nshort\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n50\r\nshort",
	} {
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			if i > 0 {
				answer(c, br, okReply("fresh"))
				return
			}
			readReq(br)
			io.WriteString(c, first)
		})
		l := newTestLean(t)
		_, err1 := send(t.Context(), l, "POST", srv.url)
		got2, err2 := send(t.Context(), l, "POST", srv.url)
		if !errors.Is(err1, io.ErrUnexpectedEOF) || got2 != "fresh" || err2 != nil {
			t.Errorf("%q: first read error %v, then %q, %v; want unexpected EOF, then fresh", first, err1, got2, err2)
		}
	}
}

// A response with neither a length nor chunks is read to the server's
// close and the connection is not reused.
func TestLeanReadToClose(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		readReq(br)
		io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nuntil the end")
	})
	l := newTestLean(t)
	for range 2 {
		if got, err := send(t.Context(), l, "GET", srv.url); got != "until the end" || err != nil {
			t.Errorf("read to close = %q, %v", got, err)
		}
	}
	if srv.conns.Load() != 2 {
		t.Errorf("%d connections, want 2", srv.conns.Load())
	}
}

// An unasked-for 101 Switching Protocols fails the request.
func TestLeanUnexpectedSwitch(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		readReq(br)
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nraw bytes")
	})
	if _, err := send(t.Context(), newTestLean(t), "GET", srv.url); err == nil || !strings.Contains(err.Error(), "101") {
		t.Errorf("101 without an upgrade: error %v, want one", err)
	}
}

// BenchmarkRoundTrip is one keep-alive POST of 4 KB and its short answer
// over loopback, through Lean and through net/http's transport.
func BenchmarkRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "data: {}\n\n")
	}))
	defer srv.Close()
	body := strings.Repeat("x", 4<<10)
	for name, rt := range map[string]http.RoundTripper{"lean": NewLean(StdTransport()), "std": StdTransport()} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequestWithContext(b.Context(), "POST", srv.URL, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer sk-bench")
				resp, err := rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
