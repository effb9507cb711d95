package transport

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"testing"
)

// checkWriteRequest fails t when writeRequest writes a request that mk
// makes otherwise than req.Write writes another it makes (bytes and
// error), and reports whether writeHead wrote the head itself.
func checkWriteRequest(t testing.TB, mk func() *http.Request) (own bool) {
	t.Helper()
	var got, want, head bytes.Buffer
	gotErr, wantErr := writeRequest(&got, mk()), mk().Write(&want)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("writeRequest wrote %q, %v\nreq.Write wrote %q, %v", got.Bytes(), gotErr, want.Bytes(), wantErr)
	}
	req := mk()
	_, ok := plainBody(req)
	return ok && writeHead(&head, req)
}

func pieces(parts ...string) *Pieces {
	var b [][]byte
	for _, p := range parts {
		b = append(b, []byte(p))
	}
	return NewPieces(b)
}

// request returns a request as the OpenAI adapter makes one, changed by f.
func request(f func(*http.Request)) func() *http.Request {
	return func() *http.Request {
		req, _ := http.NewRequestWithContext(context.Background(), "POST", "http://127.0.0.1:8080/v1/chat/completions", nil)
		SetBody(req, pieces(`{"model":"m","messages":[`, `{"role":"user","content":"hi"}`, `]}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Authorization", "Bearer sk-test")
		if f != nil {
			f(req)
		}
		return req
	}
}

// TestWriteRequest: the requests writeHead writes itself (the adapters',
// bodiless ones of every method, odd hosts, headers and user agents) and
// those it leaves to req.Write come out as req.Write writes them.
func TestWriteRequest(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(*http.Request)
		own  bool
	}{
		{"openai", nil, true},
		{"get, no body", func(r *http.Request) { r.Method, r.Body, r.ContentLength, r.GetBody = "GET", nil, 0, nil }, true},
		{"head, NoBody", func(r *http.Request) { r.Method, r.Body, r.ContentLength = "HEAD", http.NoBody, 0 }, true},
		{"no method", func(r *http.Request) { r.Method, r.Body, r.ContentLength = "", nil, 0 }, true},
		{"delete, no body", func(r *http.Request) { r.Method, r.Body, r.ContentLength = "DELETE", nil, 0 }, true},
		{"put, NoBody with a length", func(r *http.Request) { r.Method, r.Body, r.ContentLength = "PUT", http.NoBody, 5 }, true},
		{"Host set", func(r *http.Request) { r.Host = "example.com:9" }, true},
		{"invalid Host", func(r *http.Request) { r.Host = "a b" }, true},
		{"query and escapes", func(r *http.Request) { r.URL, _ = url.Parse("http://h/a%2Fb/c d?x=1&y=%20#frag") }, true},
		{"opaque", func(r *http.Request) { r.URL = &url.URL{Scheme: "http", Host: "h", Opaque: "//h/p?q"} }, true},
		{"spaces around values", func(r *http.Request) { r.Header["X-Pad"] = []string{" \tv \t", "", "w"} }, true},
		{"no user agent key", func(r *http.Request) { r.Header.Del("User-Agent") }, true},
		{"empty user agent", func(r *http.Request) { r.Header.Set("User-Agent", "") }, true},
		{"blank user agent", func(r *http.Request) { r.Header.Set("User-Agent", " \t") }, true},
		{"user agent", func(r *http.Request) { r.Header["User-Agent"] = []string{" bulwark/1 ", "second"} }, true},
		{"lower-case user agent", func(r *http.Request) { r.Header["user-agent"] = []string{"x"} }, true},
		{"written-by-Write keys", func(r *http.Request) {
			r.Header["Content-Length"] = []string{"99"}
			r.Header["Host"] = []string{"evil"}
			r.Header["Transfer-Encoding"] = []string{"chunked"}
			r.Header["Trailer"] = []string{"X"}
			r.Header["content-length"] = []string{"7"} // not excluded: not the exact key
		}, true},
		{"many headers", func(r *http.Request) {
			for i := range 40 {
				r.Header.Add(fmt.Sprintf("X-H%02d", 40-i), fmt.Sprint(i))
			}
		}, true},
		{"line break in a value", func(r *http.Request) { r.Header.Set("X-Bad", "a\r\nInjected: 1") }, false},
		{"line break in the user agent", func(r *http.Request) { r.Header.Set("User-Agent", "a\nb") }, false},
		{"invalid header name", func(r *http.Request) { r.Header["Bad Name"] = []string{"v"} }, false},
		{"close", func(r *http.Request) { r.Close = true }, false},
		{"chunked", func(r *http.Request) { r.TransferEncoding = []string{"chunked"} }, false},
		{"IPv6 zone", func(r *http.Request) { r.Host, r.URL.Host = "", "[fe80::1%eth0]:80" }, false},
		{"not ASCII host", func(r *http.Request) { r.Host = "bücher.example" }, false},
		{"control byte in the query", func(r *http.Request) { r.URL.RawQuery = "a=\x7f" }, false},
		{"pieces read", func(r *http.Request) { r.Body.Read(make([]byte, 3)) }, false},
		{"pieces shorter than the length", func(r *http.Request) { r.ContentLength++ }, false},
		{"pieces longer than the length", func(r *http.Request) { r.ContentLength-- }, false},
		{"other body", func(r *http.Request) { r.Body, r.ContentLength = struct{ *Pieces }{pieces("abc")}, 3 }, false},
		{"no body with a length", func(r *http.Request) { r.Body, r.ContentLength = nil, 3 }, false},
		{"client trace", func(r *http.Request) {
			*r = *r.WithContext(httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{WroteHeaders: func() {}}))
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if own := checkWriteRequest(t, request(tc.f)); own != tc.own {
				t.Errorf("writeHead wrote the head itself: %v, want %v", own, tc.own)
			}
		})
	}
}

// FuzzWriteRequest holds writeRequest to req.Write on requests of any
// method, host, path, query, header and body.
func FuzzWriteRequest(f *testing.F) {
	f.Add("POST", "127.0.0.1:8080", "", "/v1/chat", "a=1", "Content-Type", "application/json", "X-Y", " v ", uint8(2), "body")
	f.Add("", "h", "h2", "", "", "content-length", "5", "User-Agent", "", uint8(0), "")
	f.Add("GET", "[::1]:80", "", "/%zz", "\x00", "X", "a\rb", "Bad Key", "x", uint8(1), "xx")
	f.Fuzz(func(t *testing.T, method, host, hostHeader, path, query, k1, v1, k2, v2 string, body uint8, content string) {
		checkWriteRequest(t, func() *http.Request {
			req := &http.Request{
				Method: method,
				URL:    &url.URL{Scheme: "http", Host: host, Path: path, RawQuery: query},
				Host:   hostHeader,
				Header: http.Header{k1: {v1}},
			}
			req.Header[k2] = append(req.Header[k2], v2)
			switch body % 4 {
			case 1:
				req.Body = http.NoBody
			case 2:
				p := pieces(content[:len(content)/2], content[len(content)/2:])
				req.Body, req.ContentLength = p, p.Len()
			case 3:
				req.Body, req.ContentLength = pieces(content), int64(len(content)+int(body)%3-1)
			}
			return req
		})
	})
}

// TestWriteRequestAllocs: the adapter's request written by writeHead
// allocates nothing past the request itself; req.Write allocates seven
// times (go1.26).
func TestWriteRequestAllocs(t *testing.T) {
	mk := request(nil)
	var b bytes.Buffer
	b.Grow(4 << 10)
	base := testing.AllocsPerRun(50, func() { mk() })
	own := testing.AllocsPerRun(50, func() { b.Reset(); writeRequest(&b, mk()) })
	std := testing.AllocsPerRun(50, func() { b.Reset(); mk().Write(&b) })
	t.Logf("allocations: the request %v, writeRequest %v, req.Write %v", base, own-base, std-base)
	if own > base {
		t.Errorf("writeRequest allocated %v times, want none", own-base)
	}
}
