package transport

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzLeanResponse lets the server answer a first request with any
// bytes (KEY in them replaced by the API key the request carried), then
// sends a second request on the same Lean. Whatever the bytes, nothing
// panics, no error holds the key, and the second request's answer is
// the server's own answer to it (a nonce the bytes cannot hold), on the
// first connection or a fresh one, or an error: never a response the
// bytes forged.
func FuzzLeanResponse(f *testing.F) {
	for _, tc := range reuseCases {
		f.Add(tc.first)
	}
	for _, tc := range smuggleCases {
		f.Add(tc.first + smuggled)
	}
	f.Add("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nKEY\r\n\r\n")
	f.Add("HTTP/1.1 KEY OK\r\n\r\n")
	const key = "sk-FUZZKEY-0123456789"
	var nonce atomic.Int64
	f.Fuzz(func(t *testing.T, first string) {
		second := "second " + strconv.FormatInt(nonce.Add(1)<<20^time.Now().UnixNano(), 36)
		srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
			if _, ok := readReq(br); !ok {
				return
			}
			if i > 0 {
				io.WriteString(c, okReply(second))
				return
			}
			io.WriteString(c, strings.ReplaceAll(first, "KEY", key))
			answer(c, br, okReply(second))
		})
		l := newTestLean(t)
		do := func(ctx context.Context) (string, error) {
			req, _ := http.NewRequestWithContext(ctx, "POST", srv.url, strings.NewReader("{}"))
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := l.RoundTrip(req)
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		}
		// The first answer may never end (a body to the close, a length
		// not met): it is cut after a while, which only sends the second
		// request on a fresh connection.
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		_, err1 := do(ctx)
		cancel()
		got2, err2 := do(t.Context())
		for _, err := range []error{err1, err2} {
			if err != nil && strings.Contains(err.Error(), "FUZZKEY") {
				t.Errorf("an error holds the key: %v", err)
			}
		}
		if err2 == nil && got2 != second {
			t.Errorf("second request answered %q, want %q", got2, second)
		}
	})
}
