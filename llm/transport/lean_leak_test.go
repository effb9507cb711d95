package transport

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// fdCount is the number of the process's open file descriptors.
func fdCount() int {
	fds, _ := os.ReadDir("/proc/self/fd")
	return len(fds)
}

// settled polls f until it is at most want, for up to a minute (what it
// waits for is goroutines ending and sockets closing, which take no
// time but a scheduling), and returns its last value.
func settled(f func() int, want int) int {
	n := f()
	for deadline := time.Now().Add(time.Minute); n > want && time.Now().Before(deadline); n = f() {
		time.Sleep(5 * time.Millisecond)
	}
	return n
}

// leakPhases make a Lean meet each way a request can end early; each
// runs against its own server, which is closed before the counts.
var leakPhases = map[string]func(t *testing.T, l *Lean){
	"cancel in the write": func(t *testing.T, l *Lean) {
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) { waitGone(c, make(chan struct{})) })
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.url, strings.NewReader(strings.Repeat("x", maxLeanBody)))
		time.AfterFunc(10*time.Millisecond, cancel)
		if _, err := l.RoundTrip(req); err == nil {
			t.Errorf("the write: no error after the context ended")
		}
	},
	"cancel waiting for the head": func(t *testing.T, l *Lean) {
		reached := make(chan struct{})
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			readReq(br)
			close(reached)
			waitGone(c, make(chan struct{}))
		})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { <-reached; cancel() }()
		if _, err := send(ctx, l, "POST", srv.url); !errors.Is(err, context.Canceled) {
			t.Errorf("the head: %v, want context.Canceled", err)
		}
	},
	"cancel in the body": func(t *testing.T, l *Lean) {
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			readReq(br)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
			waitGone(c, make(chan struct{}))
		})
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.url, nil)
		resp, err := l.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var b [1]byte
		io.ReadFull(resp.Body, b[:])
		cancel()
		if _, err := resp.Body.Read(b[:]); !errors.Is(err, context.Canceled) {
			t.Errorf("the body: %v, want context.Canceled", err)
		}
		// Not closed: the context's end closed the connection.
	},
	"body closed early, twice, then read": func(t *testing.T, l *Lean) {
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			readReq(br)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome")
			waitGone(c, make(chan struct{}))
		})
		req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.url, nil)
		resp, err := l.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		e1, e2 := resp.Body.Close(), resp.Body.Close()
		n, e3 := resp.Body.Read(make([]byte, 8))
		if e1 != nil || e2 != nil || n != 0 || !errors.Is(e3, errBodyClosed) {
			t.Errorf("Close, Close, Read = %v, %v, (%d, %v); want nil, nil, (0, read on closed body)", e1, e2, n, e3)
		}
	},
	"body read and closed at once": func(t *testing.T, l *Lean) {
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			readReq(br)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
			for {
				if _, err := io.WriteString(c, "4\r\nmore\r\n"); err != nil {
					return
				}
			}
		})
		req, _ := http.NewRequestWithContext(context.Background(), "GET", srv.url, nil)
		resp, err := l.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Go(func() { io.Copy(io.Discard, resp.Body) })
		resp.Body.Close()
		wg.Wait()
	},
	"server closes in the write": func(t *testing.T, l *Lean) {
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			br.Peek(1)
			c.(*net.TCPConn).SetLinger(0) // a reset, not a FIN
		})
		req, _ := http.NewRequestWithContext(context.Background(), "POST", srv.url, strings.NewReader(strings.Repeat("x", maxLeanBody)))
		if _, err := l.RoundTrip(req); err == nil {
			t.Errorf("the server reset in the write: no error")
		}
	},
	"server closes in the head": func(t *testing.T, l *Lean) {
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			readReq(br)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n")
		})
		if _, err := send(context.Background(), l, "POST", srv.url); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("the server closed in the head: %v, want unexpected EOF", err)
		}
	},
	"no answer within HTTP.Do's header timeout": func(t *testing.T, l *Lean) {
		for _, head := range []string{"", "HTTP/1.1 200 OK\r\nX-Drip: a"} {
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
				readReq(br)
				io.WriteString(c, head)
				waitGone(c, make(chan struct{}))
			})
			h := &HTTP{Provider: "openai", Client: &http.Client{Transport: l}, Logger: slog.New(slog.DiscardHandler), Retry: Retry{
				MaxAttempts: 2, HeaderTimeout: 20 * time.Millisecond, Sleep: func(context.Context, time.Duration) error { return nil }}}
			_, err := h.Do(context.Background(), func(ctx context.Context) (*http.Request, error) {
				return http.NewRequestWithContext(ctx, "POST", srv.url, strings.NewReader("{}"))
			})
			if bulwark.ErrorKind(err) != bulwark.Unavailable || !strings.Contains(err.Error(), "no answer") || srv.conns.Load() != 2 {
				t.Errorf("head %q never ending: %v on %d connections, want no answer after 2", head, err, srv.conns.Load())
			}
		}
	},
	"body stalled past HTTP.Do's idle timeout": func(t *testing.T, l *Lean) {
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			readReq(br)
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nsome")
			waitGone(c, make(chan struct{}))
		})
		h := &HTTP{Provider: "openai", Client: &http.Client{Transport: l}, Retry: Retry{IdleTimeout: 20 * time.Millisecond}}
		resp, err := h.Do(context.Background(), func(ctx context.Context) (*http.Request, error) {
			return http.NewRequestWithContext(ctx, "POST", srv.url, strings.NewReader("{}"))
		})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); !errors.Is(err, errIdleTimeout) {
			t.Errorf("a stalled body: %v, want the idle timeout", err)
		}
	},
	"many connections at once": func(t *testing.T, l *Lean) {
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) { answer(c, br, okReply("x")) })
		drainAll(openAtOnce(t, l, srv.url, 3*l.idlePerHost))
		l.mu.Lock()
		n := l.nidle
		l.mu.Unlock()
		if n > l.idlePerHost {
			t.Errorf("%d idle connections, want at most %d", n, l.idlePerHost)
		}
	},
}

// However a request ends (its context ended in each phase, its body
// closed early or twice or while read, the server resetting or closing
// or never answering), no goroutine and no file descriptor stays behind
// once the idle connections are closed.
func TestLeanNoLeaks(t *testing.T) {
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("no /proc/self/fd to count descriptors")
	}
	// No collection while counting: a socket dropped open would be
	// closed by its finalizer, hiding the leak.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	std := StdTransport()
	std.MaxIdleConnsPerHost = 8
	l := NewLean(std)
	// Warm up what the first request starts once (the resolver, timers).
	warm := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) { answer(c, br, okReply("x")) })
	send(context.Background(), l, "GET", warm.url)
	l.CloseIdleConnections()
	for name, phase := range leakPhases {
		g0, fd0 := runtime.NumGoroutine(), fdCount()
		t.Run(name, func(t *testing.T) { phase(t, l) })
		l.CloseIdleConnections()
		if g, fd := settled(runtime.NumGoroutine, g0), settled(fdCount, fd0); g > g0 || fd > fd0 {
			t.Errorf("%s: %d goroutines and %d descriptors after, %d and %d before", name, g, fd, g0, fd0)
		}
	}
}
