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
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// threadReads is how many read(2) calls this thread has made.
func threadReads(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/thread-self/io")
	if err != nil {
		t.Skipf("no read count per thread: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Skip("no syscr in /proc/thread-self/io")
	return 0
}

// A request on a pooled connection is written and its answer waited for
// without a read that finds nothing first: one read(2) per answer (that
// comes in one piece), where a read right after the write fails with
// EAGAIN and is made again once the answer is in.
func TestLeanOneReadPerAnswer(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, _ int) {
		for {
			if _, ok := readReq(br); !ok {
				return
			}
			time.Sleep(2 * time.Millisecond) // the model thinks: the client waits
			if _, err := c.Write([]byte(okReply("answer"))); err != nil {
				return
			}
		}
	})
	l := newTestLean(t)
	runtime.LockOSThread() // the reads counted are this goroutine's alone
	defer runtime.UnlockOSThread()
	if got, err := send(t.Context(), l, "POST", srv.url); got != "answer" || err != nil {
		t.Fatalf("first request: %q, %v", got, err)
	}
	const n = 20
	before := threadReads(t)
	for range n {
		if got, err := send(t.Context(), l, "POST", srv.url); got != "answer" || err != nil {
			t.Fatalf("request on the pooled connection: %q, %v", got, err)
		}
	}
	reads := threadReads(t) - before
	if srv.conns.Load() != 1 {
		t.Fatalf("%d connections, want 1", srv.conns.Load())
	}
	// A wake-up for nothing costs a read now and then; two reads an
	// answer is what a read before the wait makes.
	if reads >= n*3/2 {
		t.Errorf("%d read(2) calls for %d answers on a pooled connection, want about one each", reads, n)
	}
}

// A connection holds no read buffer while it waits in the pool, and gets
// one again to read its next answer.
func TestLeanIdleHoldsNoReadBuffer(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, _ int) { answer(c, br, okReply("answer")) })
	l := newTestLean(t)
	for i := range 3 {
		if got, err := send(t.Context(), l, "POST", srv.url); got != "answer" || err != nil {
			t.Fatalf("request %d: %q, %v", i, got, err)
		}
		l.mu.Lock()
		for _, cs := range l.idle {
			for _, c := range cs {
				if c.br != nil {
					t.Errorf("after request %d a pooled connection holds a read buffer of %d bytes", i, c.br.Size())
				}
			}
		}
		l.mu.Unlock()
	}
	if srv.conns.Load() != 1 {
		t.Errorf("%d connections, want 1", srv.conns.Load())
	}
}

// Pooled connections the server closed while they were idle are passed
// over however many there are: each is found closed before anything is
// written on it, which spends none of the request's attempts.
func TestLeanManyClosedIdle(t *testing.T) {
	const n = maxLeanAttempts + 4
	closed := make(chan struct{}, n)
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		if i >= n {
			answer(c, br, okReply("fresh"))
			return
		}
		readReq(br)
		c.Write([]byte(okReply("first")))
		c.Close()
		closed <- struct{}{}
	})
	l := newTestLean(t)
	drainAll(openAtOnce(t, l, srv.url, n))
	for range n {
		<-closed
	}
	if got, err := send(t.Context(), l, "POST", srv.url); got != "fresh" || err != nil {
		t.Errorf("POST with %d closed connections in the pool = %q, %v; want fresh", n, got, err)
	}
}

// The request's context ends while a request on a pooled connection waits
// for its head, or is still being written (it filled the socket): the call
// returns, and the next request goes on a fresh connection.
func TestLeanCancelPooled(t *testing.T) {
	for _, phase := range []string{"head", "write"} {
		reached, hold := make(chan struct{}), make(chan struct{})
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			if i > 0 {
				answer(c, br, okReply("fresh"))
				return
			}
			readReq(br)
			c.Write([]byte(okReply("first")))
			if phase == "head" {
				readReq(br)
			}
			close(reached) // and never answer, or never read the request
			<-hold
		})
		l := newTestLean(t)
		if got, err := send(t.Context(), l, "POST", srv.url); got != "first" || err != nil {
			t.Fatalf("%s: first request: %q, %v", phase, got, err)
		}
		req, cancel := cancelableRequest(t, phase, srv.url)
		done := make(chan struct{})
		var err error
		go func() {
			defer close(done)
			_, err = l.RoundTrip(req)
		}()
		watchdog(t, reached, phase+": the server reached")
		if phase == "write" {
			time.Sleep(10 * time.Millisecond) // most likely blocked in the write by now; either way the call must end
		}
		cancel()
		watchdog(t, done, phase+": the call after the context ended")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error %v, want context.Canceled", phase, err)
		}
		close(hold)
		if got, err := send(t.Context(), l, "POST", srv.url); got != "fresh" || err != nil {
			t.Errorf("%s: next request = %q, %v, want fresh", phase, got, err)
		}
	}
}

// A request written on a pooled connection does not hold its buffer
// while it waits for the answer either (TestLeanWireFreeWhileWaiting for
// fresh connections).
func TestLeanWireFreeWhileWaitingPooled(t *testing.T) {
	const n = 64
	made := countWireBufs(t)

	got := make(chan struct{}, n)
	release := make(chan struct{})
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		for {
			req, ok := readReq(br)
			if !ok {
				return
			}
			if req.Method == "POST" {
				got <- struct{}{}
				<-release
			}
			io.WriteString(c, okReply("ok"))
		}
	})
	l := newTestLean(t)
	drainAll(openAtOnce(t, l, srv.url, n)) // n connections in the pool
	made.Store(0)
	sendHeld(t, l, srv.url, n, got, release)
	if c := srv.conns.Load(); c != n {
		t.Errorf("%d connections, want the %d pooled", c, n)
	}
	if m := made.Load(); m > n*3/4 {
		t.Errorf("%d request buffers made for %d requests sent one after the other on pooled connections, want far fewer", m, n)
	}
}

// FuzzLeanPooled is FuzzLeanReuse for the second request of a connection,
// the one written, and its answer waited for, by writeIdle: the server
// answers it with any bytes (then maybe closes), and Lean reads the body
// net/http's parser alone reads from them, or fails where it fails.
func FuzzLeanPooled(f *testing.F) {
	for _, tc := range reuseCases {
		f.Add([]byte(tc.first), false)
	}
	f.Add([]byte(okReply("second")), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\n\r\nto the close"), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), false)
	f.Fuzz(func(t *testing.T, second []byte, closeAfter bool) {
		if len(second) > 32<<10 {
			return
		}
		if r, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(second)), nil); err == nil && r.StatusCode < 100 {
			// parseAlone skips a status under 100 as informational, where
			// Lean (as net/http's Transport) takes it as final and reads
			// its body: the oracle cannot judge these.
			return
		}
		client, server := socketPair(t)
		go func() {
			br := bufio.NewReader(server)
			if _, ok := readReq(br); !ok {
				return
			}
			server.Write([]byte(okReply("first")))
			if _, ok := readReq(br); !ok {
				return
			}
			server.Write(second)
			if closeAfter {
				server.CloseWrite()
			}
		}()
		l := leanOn(t, client)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		get := func() ([]byte, error) {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://fuzz.test/", nil)
			resp, err := l.RoundTrip(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			return io.ReadAll(resp.Body)
		}
		if b, err := get(); string(b) != "first" || err != nil {
			t.Fatalf("first request: %q, %v", b, err)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://fuzz.test/", nil)
		o := parseAlone(second, req)
		if !closeAfter && o.sawEnd {
			time.AfterFunc(time.Millisecond, cancel) // Lean waits for more bytes: end that wait
		}
		var hung atomic.Bool
		time.AfterFunc(10*time.Second, func() { hung.Store(true); cancel() })
		body, err := get()
		if hung.Load() {
			t.Fatalf("Lean waited where net/http's parser did not need more bytes")
		}
		if err == nil && o.err == nil && !bytes.Equal(body, o.body) {
			t.Fatalf("Lean read body %q, net/http's parser %q", body, o.body)
		}
		if err == nil && o.err != nil && ctx.Err() == nil {
			t.Fatalf("Lean read %q where net/http's parser failed: %v", body, o.err)
		}
	})
}
