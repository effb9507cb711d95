package transport

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
)

func testParts() ([][]byte, []byte) {
	parts := [][]byte{[]byte(`{"model":"m","messages":[`), nil, []byte(`{"role":"user","content":"`), []byte(strings.Repeat("x", 5000)), {}, []byte(`"}`), []byte(`]}`)}
	return parts, bytes.Join(parts, nil)
}

// A Pieces reads as its parts put together, in reads of any size, by
// WriteTo after a partial read, and again from the start once reopened.
func TestPiecesReads(t *testing.T) {
	parts, want := testParts()
	p := NewPieces(parts)
	if p.Len() != int64(len(want)) {
		t.Errorf("Len() = %d, want %d", p.Len(), len(want))
	}
	if err := iotest.TestReader(p, want); err != nil {
		t.Error(err)
	}
	if got := p.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("Bytes() = %.80q, want %.80q", got, want)
	}
	for _, size := range []int{1, 2, 3, 7, 26, 512, 4096, 1 << 20} {
		r, got, buf := p.Reopen(), []byte(nil), make([]byte, size)
		for {
			n, err := r.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil || n == 0 {
				t.Fatalf("reads of %d: Read = %d, %v", size, n, err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Errorf("reads of %d: %.80q, want %.80q", size, got, want)
		}
	}
	r := p.Reopen()
	head := make([]byte, 30)
	io.ReadFull(r, head)
	var rest bytes.Buffer
	if n, err := r.WriteTo(&rest); err != nil || n != int64(len(want)-30) || !bytes.Equal(append(head, rest.Bytes()...), want) {
		t.Errorf("WriteTo after 30 bytes = %d, %v: %.80q", n, err, rest.Bytes())
	}
	if n, err := r.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Errorf("Read at the end = %d, %v, want 0, EOF", n, err)
	}
}

// writeCounter counts the writes on a connection.
type writeCounter struct {
	net.Conn
	writes *atomic.Int32
}

func (c writeCounter) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// A Pieces body goes out whole and with its head in one write whichever
// transport writes it: Lean, net/http's transport under HTTP.Do, or
// net/http's transport when Lean hands it the request. (net/http flushes
// the head on its own before a body it does not know to be in memory.)
func TestPiecesOneWrite(t *testing.T) {
	parts, want := testParts()
	bodies := make(chan []byte, 1)
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(req.Body)
			bodies <- b
			io.WriteString(c, okReply("ok"))
		}
	})
	var writes atomic.Int32
	counting := func(std *http.Transport) *http.Transport {
		std.Proxy = nil
		std.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			return writeCounter{c, &writes}, err
		}
		return std
	}
	off := counting(StdTransport())
	off.DisableKeepAlives = true // Lean hands every request to it
	for _, c := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"Lean", NewLean(counting(StdTransport()))},
		{"net/http", counting(StdTransport())},
		{"net/http under Lean", NewLean(off)},
	} {
		writes.Store(0)
		h := &HTTP{Provider: "p", Client: &http.Client{Transport: c.rt}}
		resp, err := h.Do(t.Context(), func(ctx context.Context) (*http.Request, error) {
			r, err := http.NewRequestWithContext(ctx, "POST", srv.url+"/v1/chat/completions", nil)
			if err == nil {
				SetBody(r, NewPieces(parts))
			}
			return r, err
		})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := <-bodies; !bytes.Equal(got, want) {
			t.Errorf("%s: the server read %.80q, want %.80q", c.name, got, want)
		}
		if n := writes.Load(); n != 1 {
			t.Errorf("%s: the request took %d writes, want 1", c.name, n)
		}
		c.rt.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	}
}
