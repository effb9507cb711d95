package transport

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// A request is written into a buffer made once, of wireSize: room for
// the whole request and the 512 bytes that bytes.Buffer.ReadFrom wants
// free to see the body's end, so req.Write never grows it.
func TestLeanWireSize(t *testing.T) {
	saved := wireBufs.New
	wireBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }} // new buffers only
	t.Cleanup(func() { wireBufs = sync.Pool{New: saved} })
	body := `{"messages":[` + strings.Repeat(`{"role":"user","content":"x"},`, 400) + `{}]}`
	post, _ := http.NewRequest("POST", "http://127.0.0.1:8080/v1/chat/completions", strings.NewReader(body))
	post.Header.Set("Authorization", "Bearer sk-0123456789abcdef0123456789abcdef")
	post.Header.Set("Content-Type", "application/json")
	post.Header.Set("Accept", "text/event-stream")
	post.Header.Set("X-Long", strings.Repeat("v", 3000))
	get, _ := http.NewRequest("GET", "http://localhost:11434/api/tags?"+strings.Repeat("q=1&", 200), nil)
	empty, _ := http.NewRequest("POST", "http://h/", http.NoBody)
	for _, req := range []*http.Request{post, get, empty} {
		var w wire
		if err := w.build(req); err != nil {
			t.Fatal(err)
		}
		if n, room := w.b.Len(), wireSize(req); room < n+512 {
			t.Errorf("%s %s: wireSize %d, want at least the %d bytes written and 512", req.Method, req.URL.Path, room, n)
		}
		var once bytes.Buffer
		once.Grow(wireSize(req))
		if w.b.Cap() != once.Cap() {
			t.Errorf("%s %s: the buffer holds %d bytes, want the %d of one allocation of wireSize", req.Method, req.URL.Path, w.b.Cap(), once.Cap())
		}
		w.b = nil // not back to the test's pool
	}
}

// countWireBufs counts, until the test ends, the request buffers the
// pool makes anew (those it could not hand back from its store).
func countWireBufs(t *testing.T) *atomic.Int32 {
	made := new(atomic.Int32)
	saved := wireBufs.New
	wireBufs.New = func() any { made.Add(1); return new(bytes.Buffer) }
	t.Cleanup(func() { wireBufs.New = saved })
	return made
}

// A POST's request bytes go back to the pool once written, not when the
// answer comes: requests waiting for the model hold no buffer, so the
// pool makes few buffers for many requests in flight. Each request here
// is sent once the server has read the one before, and all wait for
// their answers together.
func TestLeanWireFreeWhileWaiting(t *testing.T) {
	const n = 64
	made := countWireBufs(t)

	got := make(chan struct{}, n)
	release := make(chan struct{})
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		if _, ok := readReq(br); !ok {
			return
		}
		got <- struct{}{}
		<-release
		io.WriteString(c, okReply("ok"))
	})
	l := newTestLean(t)
	sendHeld(t, l, srv.url, n, got, release)
	// One buffer would do; the race detector's pool drops a quarter of
	// what it is given back. Held until each answer, n are made.
	if m := made.Load(); m > n*3/4 {
		t.Errorf("%d request buffers made for %d requests sent one after the other, want far fewer", m, n)
	}
}

// closeBody records that a request body was closed; its reads can fail.
type closeBody struct {
	r      io.Reader
	closed atomic.Bool
}

func (b *closeBody) Read(p []byte) (int, error) { return b.r.Read(p) }
func (b *closeBody) Close() error               { b.closed.Store(true); return nil }

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("the body cannot be read") }

// The request is written once a connection is got: a failed dial still
// closes the body (as RoundTrip must), and a body that cannot be read
// leaves the connection it was to go on in the pool, unused.
func TestLeanBodyAfterConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	l := newTestLean(t)
	body := &closeBody{r: strings.NewReader("{}")}
	req, _ := http.NewRequestWithContext(t.Context(), "POST", refused, body)
	req.ContentLength = 2
	if _, err := l.RoundTrip(req); err == nil {
		t.Fatal("a request to a closed port succeeded")
	}
	if !body.closed.Load() {
		t.Error("the body of a request whose dial failed was not closed")
	}

	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) { answer(c, br, okReply("ok")) })
	bad := &closeBody{r: failReader{}}
	req, _ = http.NewRequestWithContext(t.Context(), "POST", srv.url, bad)
	req.ContentLength = 2
	if _, err := l.RoundTrip(req); err == nil {
		t.Fatal("a request whose body cannot be read succeeded")
	}
	if !bad.closed.Load() {
		t.Error("the body that could not be read was not closed")
	}
	if b, err := send(t.Context(), l, "POST", srv.url); b != "ok" || err != nil {
		t.Fatalf("the next request = %q, %v", b, err)
	}
	if c := srv.conns.Load(); c != 1 {
		t.Errorf("%d connections for a failed request and a good one, want 1 (the first kept in the pool)", c)
	}
}

// sendHeld sends n POSTs to url at once, each once the server has said
// (on got) that it holds the one before, then lets the server answer them
// all (closing release), and fails t for each answer that is not "ok".
func sendHeld(t *testing.T, l *Lean, url string, n int, got <-chan struct{}, release chan struct{}) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b, err := send(t.Context(), l, "POST", url); err != nil || b != "ok" {
				errs <- errors.New("answer " + b)
			}
		}()
		<-got
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
