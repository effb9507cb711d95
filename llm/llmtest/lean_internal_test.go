package llmtest

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseLeanHead: hostile input never panics, a parsed head lies within
// the input and its bounds, and what the lean parser accepts net/http's
// request parser accepts too, with the same method, target and length.
func FuzzParseLeanHead(f *testing.F) {
	f.Add([]byte("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"))
	f.Add([]byte("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h leanHead
		in := bytes.Clone(b)
		n, err := parseLeanHead(b, &h)
		if !bytes.Equal(in, b) {
			t.Fatal("the parser wrote to its input")
		}
		if err != nil || n == 0 {
			return
		}
		if n > len(b) || n > maxLeanHead || !bytes.HasSuffix(b[:n], []byte("\r\n\r\n")) {
			t.Fatalf("head of %d bytes in %d", n, len(b))
		}
		if h.length < 0 || h.length > maxLeanBody || len(h.fields) > maxLeanHeaders {
			t.Fatalf("length %d, %d fields", h.length, len(h.fields))
		}
		for _, f := range append([]leanField{{h.method, h.target}}, h.fields...) {
			if !bytes.Contains(b[:n], f.name) || !bytes.Contains(b[:n], f.value) {
				t.Fatalf("field %q: %q outside the head", f.name, f.value)
			}
		}
		r, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(b[:n])))
		if err != nil {
			if strings.Contains(err.Error(), "invalid URI") || strings.Contains(err.Error(), "malformed HTTP request") && bytes.Contains(h.target, []byte("://")) {
				return // the target is checked by the connection, not the head parser
			}
			t.Fatalf("net/http refuses what the lean parser accepts: %v\n%q", err, b[:n])
		}
		if r.Method != string(h.method) || r.RequestURI != string(h.target) || r.ContentLength != h.length || r.Close != h.close {
			t.Fatalf("net/http reads %s %s length %d close %v, the lean parser %s %s %d %v\n%q",
				r.Method, r.RequestURI, r.ContentLength, r.Close, h.method, h.target, h.length, h.close, b[:n])
		}
	})
}
