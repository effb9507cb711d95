package openai

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/llm"
)

// stalledConn holds its second write (the rest of a request body the
// transport's buffer did not hold) until release is closed.
type stalledConn struct {
	net.Conn
	release <-chan struct{}
	writes  int
}

func (c *stalledConn) Write(p []byte) (int, error) {
	if c.writes++; c.writes == 2 {
		<-c.release
	}
	return c.Conn.Write(p)
}

// TestBodyReusedOnlyOnceWritten: a server that answers before it has read
// the request leaves net/http writing the body after Stream has returned;
// the conversation's next request must not be encoded into that body's
// array until the write has ended, and once it has, it is (and goes out
// whole).
func TestBodyReusedOnlyOnceWritten(t *testing.T) {
	const reply = "data: {\"choices\":[{\"delta\":{\"content\":\"ok\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n"
	bodies := make(chan []byte, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > 1<<20 { // the first request: answered unread
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, reply)
			return
		}
		b, _ := io.ReadAll(r.Body)
		bodies <- b
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, reply)
	}))
	defer srv.Close()
	release := make(chan struct{})
	var once sync.Once
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		stall := false
		once.Do(func() { stall = true })
		if stall {
			return &stalledConn{Conn: c, release: release}, nil
		}
		return c, nil
	}}
	defer tr.CloseIdleConnections()
	m := New(Config{Model: "m", BaseURL: srv.URL + "/v1", Client: &http.Client{Transport: tr}})
	var cache llm.Cache
	req := llm.Request{Messages: []llm.Message{{Role: llm.User, Content: strings.Repeat("x", 2<<20)}}, Cache: &cache}
	if _, err := m.Stream(t.Context(), req, nil); err != nil {
		t.Fatal(err)
	}
	st := cache.Take(m).(*encoded)
	if st.writes.idle() {
		t.Fatal("the body is idle while net/http is still writing it")
	}
	first := &st.body[0]
	cache.Store(m, st)
	close(release)
	deadline := time.Now().Add(time.Minute)
	for !st.writes.idle() {
		if time.Now().After(deadline) {
			t.Fatal("the body never became idle once its write ended")
		}
		time.Sleep(time.Millisecond)
	}

	req.Messages[0].Content = "short"
	if _, err := m.Stream(t.Context(), req, nil); err != nil {
		t.Fatal(err)
	}
	got := <-bodies
	st = cache.Take(m).(*encoded)
	if &st.body[0] != first {
		t.Error("the next request did not reuse the idle body's array")
	}
	if want := reference(t, m, req); !bytes.Equal(got, []byte(want)) {
		t.Errorf("the server read %.200q, want %.200q", got, want)
	}
}
