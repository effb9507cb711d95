package transport

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http/httpproxy"
)

const canary = "sk-CANARY-0123456789abcdef"

// A hostile server that echoes the API key where net/http's parser quotes
// what it read in its error (a status line, a status code, a length, a
// transfer coding, a trailer line read with the body): no error of the
// lean transport holds it, through http.Client too.
func TestLeanErrorsHoldNoHeaderValue(t *testing.T) {
	replies := map[string]func(key string) string{
		"status line":     func(k string) string { return k + "\r\n\r\n" },
		"status code":     func(k string) string { return "HTTP/1.1 " + k + " OK\r\n\r\n" },
		"proto":           func(k string) string { return "HTTP/" + k + " 200 OK\r\n\r\n" },
		"content length":  func(k string) string { return "HTTP/1.1 200 OK\r\nContent-Length: " + k + "\r\n\r\n" },
		"header line":     func(k string) string { return "HTTP/1.1 200 OK\r\n" + k + "\r\n\r\n" },
		"chunk size":      func(k string) string { return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + k + "\r\n" },
		"header value":    func(k string) string { return "HTTP/1.1 200 OK\r\nX-K: " + k + "\r\n\r\n" },
		"transfer coding": func(k string) string { return "HTTP/1.1 200 OK\r\nTransfer-Encoding: " + k + "\r\n\r\n" },
		"lengths": func(k string) string {
			return "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: " + k + "\r\n\r\n"
		},
		// Read with the body, after RoundTrip returned.
		"trailer line": func(k string) string {
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + k + "\r\n\r\n"
		},
		"trailer name": func(k string) string {
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX " + k + ": 1\r\n\r\n"
		},
		"chunk then key": func(k string) string {
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n" + k + "\r\n"
		},
	}
	for name, reply := range replies {
		for _, header := range []string{"Authorization", "X-Api-Key", "X-Odd-Key"} {
			srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
				req, ok := readReq(br)
				if !ok {
					return
				}
				key := strings.TrimPrefix(req.Header.Get(header), "Bearer ")
				io.WriteString(c, reply(key))
			})
			l := newTestLean(t)
			req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.url+"/v1/chat", strings.NewReader("{}"))
			v := canary
			switch header {
			case "Authorization":
				v = "Bearer " + canary
			case "X-Odd-Key": // escaped where the parser quotes it
				v = `sk-"CANARY"\0123456789`
			}
			req.Header.Set(header, v)
			resp, err := (&http.Client{Transport: l}).Do(req)
			if err == nil {
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			if err != nil && strings.Contains(err.Error(), "CANARY") {
				t.Errorf("%s in %s: the error holds the key: %v", name, header, err)
			}
		}
	}
}

// A header that would split the request (CR or LF in a name or value) is
// refused before anything is sent, in net/http's words, which name no
// value.
func TestLeanRefusesHeaderInjection(t *testing.T) {
	var got atomic.Int32
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		if _, ok := readReq(br); ok {
			got.Add(1)
			io.WriteString(c, okReply("x"))
		}
	})
	std := StdTransport()
	l := NewLean(std)
	defer l.CloseIdleConnections()
	for _, h := range [][2]string{
		{"Authorization", "Bearer " + canary + "\r\nX-Injected: 1"},
		{"Authorization", "Bearer " + canary + "\nX-Injected: 1"},
		{"X-Key\r\nX-Injected", canary},
		{"X-Key", canary + "\x00"},
		{"X Key", canary},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", srv.url, strings.NewReader("{}"))
		req.Header[h[0]] = []string{h[1]}
		_, err := (&http.Client{Transport: l}).Do(req)
		if err == nil || strings.Contains(err.Error(), "CANARY") {
			t.Errorf("header %q: %q: error %v, want a refusal without the value", h[0], h[1], err)
		}
	}
	if got.Load() != 0 {
		t.Errorf("the server got %d requests, want none", got.Load())
	}
}

// Which requests take the lean path; every other goes to the standard
// transport unchanged.
func TestLeanTakes(t *testing.T) {
	proxy, _ := url.Parse("http://proxy.example:3128")
	cases := []struct {
		name  string
		mod   func(r *http.Request)
		proxy bool
		want  bool
	}{
		{"plain post", func(r *http.Request) {}, false, true},
		{"get", func(r *http.Request) { r.Method = "GET"; r.Body = nil; r.ContentLength = 0 }, false, true},
		{"https", func(r *http.Request) { r.URL.Scheme = "https" }, false, false},
		{"proxied", func(r *http.Request) {}, true, false},
		{"upgrade", func(r *http.Request) { r.Header.Set("Upgrade", "websocket") }, false, false},
		{"connection", func(r *http.Request) { r.Header["connection"] = []string{"close"} }, false, false},
		{"expect", func(r *http.Request) { r.Header.Set("Expect", "100-continue") }, false, false},
		{"unknown length", func(r *http.Request) { r.ContentLength = -1 }, false, false},
		{"body without length", func(r *http.Request) { r.ContentLength = 0 }, false, false},
		{"large body", func(r *http.Request) { r.ContentLength = maxLeanBody + 1 }, false, false},
		{"trailer", func(r *http.Request) { r.Trailer = http.Header{"X-T": nil} }, false, false},
		{"bad method", func(r *http.Request) { r.Method = "GET /x HTTP/1.1\r\n" }, false, false},
		{"bad header value", func(r *http.Request) { r.Header.Set("X-A", "a\r\nb") }, false, false},
		{"bad header name", func(r *http.Request) { r.Header["X:A"] = []string{"a"} }, false, false},
		{"non-ascii host", func(r *http.Request) { r.URL.Host = "exämple.test" }, false, false},
		{"odd Host", func(r *http.Request) { r.Host = "a b" }, false, false},
		{"connect", func(r *http.Request) { r.Method = "CONNECT"; r.Body = nil; r.ContentLength = 0 }, false, false},
	}
	for _, tc := range cases {
		std := StdTransport()
		std.Proxy = func(*http.Request) (*url.URL, error) {
			if tc.proxy {
				return proxy, nil
			}
			return nil, nil
		}
		l := NewLean(std)
		req, _ := http.NewRequest("POST", "http://127.0.0.1:8080/v1/chat", strings.NewReader("{}"))
		tc.mod(req)
		if got := l.takes(req); got != tc.want {
			t.Errorf("%s: takes = %v, want %v", tc.name, got, tc.want)
		}
	}
	h2c := new(http.Protocols)
	h2c.SetUnencryptedHTTP2(true)
	for name, set := range map[string]func(std *http.Transport){
		"keep-alives disabled":    func(std *http.Transport) { std.DisableKeepAlives = true },
		"response header timeout": func(std *http.Transport) { std.ResponseHeaderTimeout = time.Minute },
		"connections per host":    func(std *http.Transport) { std.MaxConnsPerHost = 4 },
		"HTTP/2 without TLS only": func(std *http.Transport) { std.Protocols = h2c },
	} {
		std := StdTransport()
		set(std)
		req, _ := http.NewRequest("GET", "http://127.0.0.1:8080/", nil)
		if NewLean(std).takes(req) {
			t.Errorf("with %s: takes = true, want false", name)
		}
	}
}

// Lean dials with the standard transport's dial function: one that
// refuses an address (as an SSRF guard does) refuses it for Lean too.
func TestLeanDialsWithStd(t *testing.T) {
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) { answer(c, br, okReply("x")) })
	var dialled atomic.Int32
	refused := errors.New("refused by the dialer")
	std := StdTransport()
	std.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialled.Add(1)
		return nil, refused
	}
	l := NewLean(std)
	defer l.CloseIdleConnections()
	if _, err := send(t.Context(), l, "POST", srv.url); !errors.Is(err, refused) || dialled.Load() != 1 || srv.conns.Load() != 0 {
		t.Errorf("DialContext refusing: error %v, %d dials, the server saw %d connections; want the refusal, 1, 0", err, dialled.Load(), srv.conns.Load())
	}

	std = StdTransport()
	std.DialContext = nil
	//lint:ignore SA1019 the deprecated field is what this case is about
	std.Dial = func(network, addr string) (net.Conn, error) {
		dialled.Add(1)
		return nil, refused
	}
	l = NewLean(std)
	defer l.CloseIdleConnections()
	if _, err := send(t.Context(), l, "POST", srv.url); !errors.Is(err, refused) || dialled.Load() != 2 {
		t.Errorf("Dial refusing: error %v, want the refusal", err)
	}
}

// A proxied plain-HTTP request reaches the proxy (through the standard
// transport), not the server.
func TestLeanProxied(t *testing.T) {
	var target atomic.Value
	proxySrv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		if req, ok := readReq(br); ok {
			target.Store(req.RequestURI)
			io.WriteString(c, okReply("via proxy"))
		}
	})
	std := StdTransport()
	pu, _ := url.Parse(proxySrv.url)
	std.Proxy = http.ProxyURL(pu)
	l := NewLean(std)
	defer l.CloseIdleConnections()
	got, err := send(t.Context(), l, "GET", "http://model.internal:11434/api/chat")
	if got != "via proxy" || err != nil || target.Load() != "http://model.internal:11434/api/chat" {
		t.Errorf("proxied request = %q, %v, proxy saw %v", got, err, target.Load())
	}
}

// Idle connections are bounded per host and over all hosts, and closed
// once idle for longer than the idle timeout.
func TestLeanIdleBounds(t *testing.T) {
	gone := make(chan struct{}, 8)
	srv := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		answer(c, br, okReply("x"))
		gone <- struct{}{}
	})
	std := StdTransport()
	std.MaxIdleConnsPerHost = 2
	l := NewLean(std)
	defer l.CloseIdleConnections()
	drainAll(openAtOnce(t, l, srv.url, 4)) // four at once: four connections
	for range 2 {
		watchdog(t, recv(gone), "closing the connections over the bound")
	}
	l.mu.Lock()
	n := l.nidle
	for _, cs := range l.idle {
		for _, c := range cs {
			c.idleAt = c.idleAt.Add(-2 * l.idleTimeout)
		}
	}
	l.mu.Unlock()
	if n != 2 || srv.conns.Load() != 4 {
		t.Errorf("%d idle of %d connections, want 2 of 4", n, srv.conns.Load())
	}
	l.sweepIdle()
	for range 2 {
		watchdog(t, recv(gone), "closing the expired connections")
	}
	l.mu.Lock()
	n, swept := l.nidle, l.sweep == nil
	l.mu.Unlock()
	if n != 0 || !swept {
		t.Errorf("after the idle timeout: %d idle, sweeper stopped %v; want 0, true", n, swept)
	}

	std = StdTransport()
	std.MaxIdleConns = 1
	l = NewLean(std)
	defer l.CloseIdleConnections()
	srv2 := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) { answer(c, br, okReply("x")) })
	send(t.Context(), l, "GET", srv.url)
	send(t.Context(), l, "GET", srv2.url)
	if l.nidle != 1 {
		t.Errorf("MaxIdleConns 1: %d idle, want 1", l.nidle)
	}
}

// recv turns one receive from ch into a channel that closes.
func recv(ch <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() { <-ch; close(done) }()
	return done
}

// Requests Lean does not take are answered through the standard
// transport: an https request, and one that expects 100-continue.
func TestLeanRoutesToStd(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		io.WriteString(w, r.Proto+" "+string(b))
	})
	tlsSrv := httptest.NewTLSServer(handler)
	defer tlsSrv.Close()
	plain := httptest.NewServer(handler)
	defer plain.Close()
	std := tlsSrv.Client().Transport.(*http.Transport).Clone()
	l := NewLean(std)
	defer l.CloseIdleConnections()
	for _, tc := range []struct {
		url, expect string
	}{
		{tlsSrv.URL, ""},
		{plain.URL, "100-continue"},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), "POST", tc.url, strings.NewReader("{}"))
		if tc.expect != "" {
			req.Header.Set("Expect", tc.expect)
		}
		if l.takes(req) {
			t.Errorf("%s (Expect %q): taken by Lean", tc.url, tc.expect)
		}
		resp, err := l.RoundTrip(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "HTTP/1.1 {}" {
			t.Errorf("%s (Expect %q) = %q", tc.url, tc.expect, b)
		}
	}
}

// Each spelling of the proxy variables sends a request where net/http's
// Transport sends it, through the proxy or straight to the server; and a
// request that goes straight takes the lean path.
func TestLeanProxyEnvironment(t *testing.T) {
	cases := []struct {
		env map[string]string
		url string
	}{
		{map[string]string{"HTTP_PROXY": "PROXY"}, "http://model.internal:11434/api/chat"},
		{map[string]string{"http_proxy": "PROXY"}, "http://model.internal:11434/api/chat"},
		{map[string]string{"HTTP_PROXY": "PROXY", "NO_PROXY": "*"}, "http://model.internal:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY", "no_proxy": "model.internal"}, "http://model.internal:11434/"},
		{map[string]string{"http_proxy": "PROXY", "NO_PROXY": "MODEL.INTERNAL"}, "http://model.internal:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY", "NO_PROXY": ".internal"}, "http://model.internal:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY", "NO_PROXY": "internal"}, "http://model.internal:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY", "NO_PROXY": "model.internal:8080"}, "http://model.internal:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY", "NO_PROXY": "model.internal:11434"}, "http://model.internal:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY", "NO_PROXY": "10.0.0.0/8"}, "http://10.1.2.3:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY", "NO_PROXY": "10.0.0.0/8"}, "http://11.1.2.3:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY", "NO_PROXY": "fd00::1"}, "http://[fd00::1]:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY", "NO_PROXY": "[fd00::1]:11434"}, "http://[fd00::1]:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY", "NO_PROXY": "fd00::/8"}, "http://[fd00::2]:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY"}, "http://[fd00::2]:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY"}, "http://localhost:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY"}, "http://127.0.0.1:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY"}, "http://[::1]:11434/"},
		{map[string]string{"HTTPS_PROXY": "PROXY"}, "http://model.internal:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY", "REQUEST_METHOD": "GET"}, "http://model.internal:11434/"},
		{map[string]string{"HTTP_PROXY": "", "http_proxy": "PROXY"}, "http://model.internal:11434/"},
		{map[string]string{"HTTP_PROXY": "PROXY", "NO_PROXY": "", "no_proxy": "*"}, "http://model.internal:11434/"},
	}
	var direct atomic.Value
	target := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		for {
			req, ok := readReq(br)
			if !ok {
				return
			}
			direct.Store(req.RequestURI)
			io.WriteString(c, okReply("direct"))
		}
	})
	proxy := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) { answer(c, br, okReply("proxy")) })
	proxyAddr := strings.TrimPrefix(proxy.url, "http://")
	targetAddr := strings.TrimPrefix(target.url, "http://")
	// Every address but the proxy's reaches the target server.
	route := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr != proxyAddr {
			addr = targetAddr
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	for _, tc := range cases {
		for _, k := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"} {
			t.Setenv(k, strings.ReplaceAll(tc.env[k], "PROXY", proxy.url))
		}
		envProxy := func(r *http.Request) (*url.URL, error) { return httpproxy.FromEnvironment().ProxyFunc()(r.URL) }
		via := func(rt http.RoundTripper) string {
			got, err := send(t.Context(), rt, "POST", tc.url)
			if err != nil {
				return err.Error()
			}
			return got
		}
		std := StdTransport()
		std.Proxy, std.DialContext = envProxy, route
		want := via(std)
		std.CloseIdleConnections()

		std = StdTransport()
		std.Proxy, std.DialContext = envProxy, route
		l := NewLean(std)
		var lean atomic.Int32
		l.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			lean.Add(1)
			return route(ctx, network, addr)
		}
		got := via(l)
		l.CloseIdleConnections()
		if got != want || (got == "direct") != (lean.Load() == 1) {
			t.Errorf("%v, %s: %q (lean dials %d), net/http %q", tc.env, tc.url, got, lean.Load(), want)
		}
	}
}

// A redirect that http.Client follows is routed afresh: to https through
// the standard transport, to a proxied host through the proxy; only the
// first, plain and direct, request takes the lean path.
func TestLeanRedirect(t *testing.T) {
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "tls "+r.Method)
	}))
	defer tlsSrv.Close()
	proxy := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) { answer(c, br, okReply("proxy")) })
	origin := newRawServer(t, func(c net.Conn, br *bufio.Reader, i int) {
		for {
			req, ok := readReq(br)
			if !ok {
				return
			}
			to := tlsSrv.URL
			if req.URL.Path == "/to-proxied" {
				to = "http://model.internal:11434/"
			}
			io.WriteString(c, "HTTP/1.1 307 Temporary Redirect\r\nLocation: "+to+"\r\nContent-Length: 0\r\n\r\n")
		}
	})
	pu, _ := url.Parse(proxy.url)
	std := StdTransport()
	std.TLSClientConfig = tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig
	std.Proxy = func(r *http.Request) (*url.URL, error) {
		if r.URL.Hostname() == "model.internal" {
			return pu, nil
		}
		return nil, nil
	}
	l := NewLean(std)
	defer l.CloseIdleConnections()
	var lean atomic.Int32
	dial := l.dial
	l.dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		lean.Add(1)
		return dial(ctx, network, addr)
	}
	client := &http.Client{Transport: l}
	for path, want := range map[string]string{"/to-tls": "tls POST", "/to-proxied": "proxy"} {
		lean.Store(0)
		resp, err := client.Post(origin.url+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want || lean.Load() > 1 {
			t.Errorf("%s: %q after %d lean dials, want %q after at most 1", path, b, lean.Load(), want)
		}
	}
}
