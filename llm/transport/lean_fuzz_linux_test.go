package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// socketPair is a connected pair of stream sockets: real file
// descriptors, so that Lean's peek at an idle connection runs on them.
func socketPair(t *testing.T) (client, server *net.UnixConn) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]*net.UnixConn, 2)
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c.(*net.UnixConn)
		t.Cleanup(func() { c.Close() })
	}
	return conns[0], conns[1]
}

// oracle is what net/http's parser alone makes of a server's bytes: the
// final response, its body read to the end of the bytes, and how many
// bytes were left after it.
type oracle struct {
	resp     *http.Response
	body     []byte
	err      error // of the head or the body
	leftover int
	sawEnd   bool // the parser asked for bytes past the end: over a socket it would wait
}

// endReader notes a read at the end of its bytes.
type endReader struct {
	r      *bytes.Reader
	sawEnd bool
}

func (e *endReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		e.sawEnd = true
	}
	return n, err
}

func parseAlone(wire []byte, req *http.Request) (o oracle) {
	src := &endReader{r: bytes.NewReader(wire)}
	br := bufio.NewReader(src)
	defer func() { o.sawEnd = src.sawEnd }()
	for {
		o.resp, o.err = http.ReadResponse(br, req)
		if o.err != nil {
			return o
		}
		// As net/http's Transport and Lean: only 1xx but 101 is
		// informational; a status under 100 is final, however odd.
		if c := o.resp.StatusCode; c < 100 || c >= 200 || c == 101 {
			break
		}
	}
	o.body, o.err = io.ReadAll(o.resp.Body)
	o.leftover = br.Buffered() + src.r.Len()
	return o
}

// FuzzLeanReuse sends one request to a server that answers with any bytes
// (first, then more, then maybe closes) and checks the decision to reuse
// the connection: a connection is reusable (pooled, and its peek finds it
// idle) only when net/http's parser alone reads one whole response from
// the bytes, final, with the body Lean gave, no close asked for, nothing
// after it, and the server did not close. Whenever both read a body, the
// bodies are the same.
func FuzzLeanReuse(f *testing.F) {
	for _, tc := range reuseCases {
		f.Add([]byte(tc.first), []byte{}, false)
	}
	f.Add([]byte(okReply("first")), []byte(okReply("second")), false)
	f.Add([]byte(okReply("first")), []byte{}, true)
	f.Add([]byte("HTTP/1.1 000 \nTransfer-Encoding:chunked\n\n0\r\n\r\x02"), []byte{}, false)
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\nto the close"), []byte{}, true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"), []byte{}, false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), []byte("x"), false)
	f.Fuzz(func(t *testing.T, first, more []byte, closeAfter bool) {
		wire := append(append([]byte{}, first...), more...)
		if len(wire) > 32<<10 {
			return // within the socket's buffer: written whole before the request
		}
		client, server := socketPair(t)
		if _, err := server.Write(wire); err != nil {
			t.Fatal(err)
		}
		if closeAfter {
			server.CloseWrite()
		}
		l := leanOn(t, client)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://fuzz.test/", nil)
		o := parseAlone(wire, req)
		// Where net/http's parser met the end of the bytes, Lean waits for
		// more of them unless the server closed: end that wait.
		if !closeAfter && o.sawEnd {
			time.AfterFunc(time.Millisecond, cancel)
		}
		var hung atomic.Bool
		time.AfterFunc(10*time.Second, func() { hung.Store(true); cancel() })
		defer func() {
			if hung.Load() {
				t.Errorf("Lean waited where net/http's parser did not need more bytes")
			}
		}()

		var body []byte
		resp, err := l.RoundTrip(req)
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil && o.err == nil && !bytes.Equal(body, o.body) {
			t.Fatalf("Lean read body %q, net/http's parser %q", body, o.body)
		}
		l.mu.Lock()
		idle := l.idle["fuzz.test:80"]
		l.mu.Unlock()
		if len(idle) == 0 || !idle[0].stillIdle() {
			return
		}
		switch {
		case ctx.Err() != nil:
			t.Fatalf("reusable after the context ended")
		case err != nil || o.err != nil:
			t.Fatalf("reusable after an error: Lean %v, net/http's parser %v", err, o.err)
		case o.resp.StatusCode < 200:
			t.Fatalf("reusable after a %d", o.resp.StatusCode)
		case o.resp.Close:
			t.Fatalf("reusable though the response asked to close")
		case o.leftover != 0:
			t.Fatalf("reusable with %d bytes after the response", o.leftover)
		case closeAfter:
			t.Fatalf("reusable though the server closed")
		}
	})
}

// leanOn returns a Lean whose first dial gives conn and any later one
// fails: every request goes over conn. Its idle connections are closed
// when t ends.
func leanOn(t *testing.T, conn net.Conn) *Lean {
	l := NewLean(StdTransport())
	t.Cleanup(l.CloseIdleConnections)
	dialled := false
	l.dial = func(context.Context, string, string) (net.Conn, error) {
		if dialled {
			return nil, errors.New("one connection only")
		}
		dialled = true
		return conn, nil
	}
	return l
}
