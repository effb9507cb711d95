package transport

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// watchdog fails the test if ch is not closed in a minute: what it waits
// for must come at once, and the minute only keeps a broken promise from
// hanging the suite.
func watchdog(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("%s: still waiting after a minute", what)
	}
}

// cancelableRequest is a POST to url under a context of its own, and
// the function that ends it. Its body is small, but for the phase
// "write": the largest body Lean sends, which fills the socket of a
// server that does not read it, so the call is caught in its write.
func cancelableRequest(t *testing.T, phase, url string) (*http.Request, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	body := strings.NewReader(`{}`)
	if phase == "write" {
		body = strings.NewReader(strings.Repeat("x", maxLeanBody))
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, body)
	if err != nil {
		t.Fatal(err)
	}
	return req, cancel
}

// The request's context ended while the server holds back the head, or
// in the middle of a body that trickles (slow loris): the call or the
// read returns, the connection is closed (the server sees its end), and
// it is not reused.
func TestLeanCancel(t *testing.T) {
	for _, phase := range []string{"head", "body", "close body", "write"} {
		reached, gone, hold := make(chan struct{}), make(chan struct{}), make(chan struct{})
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			if i > 0 {
				answer(c, br, okReply("fresh"))
				return
			}
			if phase == "write" {
				close(reached) // and never read: the request's write fills the socket
				<-hold
				return
			}
			readReq(br)
			if phase != "head" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
			}
			close(reached)
			waitGone(c, gone)
		})
		l := newTestLean(t)
		req, cancel := cancelableRequest(t, phase, srv.url)
		done := make(chan struct{})
		var err error
		go func() {
			defer close(done)
			var resp *http.Response
			resp, err = l.RoundTrip(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var b [1]byte
			if _, err = io.ReadFull(resp.Body, b[:]); err != nil || b[0] != 'a' {
				t.Errorf("%s: first byte %q, %v", phase, b, err)
				return
			}
			if phase == "close body" {
				err = resp.Body.Close() // before its end, while the server stalls: no drain
				if err == nil {
					err = context.Canceled // as the other phases end
				}
				return
			}
			_, err = resp.Body.Read(b[:])
		}()
		watchdog(t, reached, phase+": the server reached")
		if phase == "write" {
			time.Sleep(10 * time.Millisecond) // most likely blocked in the write by now; either way the call must end
		}
		if phase != "close body" {
			cancel()
		}
		watchdog(t, done, phase+": the call after the context ended")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: error %v, want context.Canceled", phase, err)
		}
		if phase != "write" {
			watchdog(t, gone, phase+": the server seeing the connection closed")
		}
		close(hold)
		cancel()
		if got, err := send(t.Context(), l, "POST", srv.url); got != "fresh" || err != nil {
			t.Errorf("%s: next request = %q, %v, want fresh", phase, got, err)
		}
	}
}

// A dial that waits is ended by the context too.
func TestLeanCancelDial(t *testing.T) {
	l := newTestLean(t)
	l.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		<-ctx.Done()
		return d.DialContext(ctx, network, addr)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := send(ctx, l, "GET", "http://192.0.2.1/"); !errors.Is(err, context.Canceled) {
		t.Errorf("dial with the context ended: %v, want context.Canceled", err)
	}
}
