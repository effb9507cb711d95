package egress

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"html"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	testValue = "s3cr3t-Value/+xyz" // '/' and '+' change when percent-encoded
	testPH    = "{{secret:TOKEN}}"
)

// seen is what the test server received.
type seen struct {
	mu   sync.Mutex
	reqs []string // method, URI, Authorization, body of each request
	file []byte   // what was last PUT to /file
}

func (s *seen) all() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.reqs, "\n")
}

// interceptFixture is a proxy with one secret, TOKEN, bound to example.com,
// in front of a TLS test server that every name dials to (its certificate
// is for example.com and *.example.com), and a client that trusts only the
// task CA.
type interceptFixture struct {
	proxy  *Proxy
	client *http.Client
	seen   *seen
	mu     sync.Mutex
	events []Event
}

// newInterceptFixture makes an interceptFixture in which TOKEN may go
// into the URL and the body too (as its owner can allow):
// most tests here check what comes back when it went there.
// newHeadersOnlyFixture leaves it at the default, headers only.
func newInterceptFixture(t *testing.T, roots func(*httptest.Server) *x509.CertPool) *interceptFixture {
	t.Helper()
	return newFixture(t, roots, Secret{InURL: true, InBody: true})
}

// newHeadersOnlyFixture is newInterceptFixture with TOKEN put into
// request headers only, the default.
func newHeadersOnlyFixture(t *testing.T) *interceptFixture {
	t.Helper()
	return newFixture(t, trustServer, Secret{})
}

// newFixture makes the fixture with TOKEN's places taken from inject.
func newFixture(t *testing.T, roots func(*httptest.Server) *x509.CertPool, inject Secret) *interceptFixture {
	t.Helper()
	f := &interceptFixture{seen: &seen{}}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.seen.mu.Lock()
		f.seen.reqs = append(f.seen.reqs, fmt.Sprintf("%s %s auth=%s body=%s", r.Method, r.RequestURI, r.Header.Get("Authorization"), b))
		f.seen.mu.Unlock()
		switch r.URL.Path {
		case "/stored-b64": // an API that serves stored content as base64
			fmt.Fprintf(w, `{"content":%q,"url":%q}`, base64.StdEncoding.EncodeToString(append([]byte("x: "), b...)),
				base64.RawURLEncoding.EncodeToString(b))
			return
		case "/stored-json":
			fmt.Fprintf(w, `{"php":"%s"}`, strings.ReplaceAll(string(b), "/", `\/`))
			return
		case "/stored-hex":
			fmt.Fprintf(w, "%x %X", b, append([]byte("ab"), b...))
			return
		case "/stored-b64-lines": // GitHub's contents API: base64 in lines of 60, in JSON
			e := base64.StdEncoding.EncodeToString(b)
			var lines []string
			for len(e) > 60 {
				lines, e = append(lines, e[:60]), e[60:]
			}
			fmt.Fprintf(w, `{"content":"%s\n"}`, strings.Join(append(lines, e), `\n`))
			return
		case "/file": // a store that serves byte ranges of what it holds
			if r.Method == http.MethodPut {
				f.seen.mu.Lock()
				f.seen.file = b
				f.seen.mu.Unlock()
				return
			}
			f.seen.mu.Lock()
			file := f.seen.file
			f.seen.mu.Unlock()
			http.ServeContent(w, r, "file", time.Time{}, strings.NewReader(string(file)))
			return
		case "/echo-gzip": // the echo compressed, its encoding named in a second header line
			w.Header()["Content-Encoding"] = []string{"identity", "gzip"}
			zw := gzip.NewWriter(w)
			fmt.Fprintf(zw, "auth=%s", r.Header.Get("Authorization"))
			zw.Close()
			return
		case "/echo-encoding": // the echo as the name of an encoding
			w.Header().Set("Content-Encoding", r.Header.Get("Authorization"))
			return
		case "/echo-malformed": // the echo in a header line the client cannot parse
			c, buf, _ := w.(http.Hijacker).Hijack()
			buf.WriteString("HTTP/1.1 200 OK\r\nX" + r.Header.Get("Authorization") + "\r\n\r\n")
			buf.Flush()
			c.Close()
			return
		case "/echo-name": // the echo as a header name, which the client re-cases
			w.Header()[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")] = []string{"1"}
			return
		case "/echo-upper": // an error message that shouts what it was sent
			fmt.Fprintf(w, "INVALID KEY %s", strings.ToUpper(r.Header.Get("Authorization")))
			return
		case "/echo-html": // an HTML error page, made with html/template
			template.Must(template.New("").Parse(`<p>invalid key {{.}}</p>`)).Execute(w, r.Header.Get("Authorization"))
			return
		case "/echo-xml": // an XML error, escaped as PHP and others do
			fmt.Fprintf(w, "<error>%s</error>", strings.NewReplacer("/", "&#x2F;", "+", "&#0043;", "-", "&#45;").Replace(r.Header.Get("Authorization")))
			return
		case "/echo-next": // a login redirect that carries the URL asked for, encoded again
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusFound)
			return
		case "/redirect-echo": // a redirect that carries what it was sent (an OAuth-style callback)
			http.Redirect(w, r, "/landing?t="+url.QueryEscape(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")), http.StatusFound)
			return
		case "/redirect-stored": // a redirect to a target stored earlier, placeholder and all
			w.Header().Set("Location", "/landing/"+testPH)
			w.WriteHeader(http.StatusFound)
			return
		case "/redirect-cross": // a redirect to another host
			w.Header().Set("Location", "https://unbound.example.com/landing?t="+testPH)
			w.WriteHeader(http.StatusFound)
			return
		case "/stored-escaped": // escaped as other languages' libraries do
			fmt.Fprintf(w, "%s %s %s %s", url.PathEscape(string(b)), escapeEach(b, "%%%02x", "-"),
				escapeEach(b, `\u%04X`, "-/"), escapeEach(b, `\u%04x`, ""))
			return
		}
		// An echo: the server sends back what it got, secret included.
		w.Header().Set("X-Echo", r.Header.Get("Authorization"))
		fmt.Fprintf(w, "uri=%s auth=%s body=%s", r.RequestURI, r.Header.Get("Authorization"), b)
	}))
	t.Cleanup(srv.Close)
	plain := httptest.NewServer(srv.Config.Handler)
	t.Cleanup(plain.Close)
	bound, _ := ParseAllowlist([]string{"example.com"})
	ic, err := NewIntercept([]Secret{{Name: "TOKEN", Placeholder: testPH, Value: testValue, Hosts: bound, InURL: inject.InURL, InBody: inject.InBody}})
	if err != nil {
		t.Fatal(err)
	}
	ic.Roots = roots(srv)
	allow, _ := ParseAllowlist([]string{"example.com", "unbound.example.com"})
	f.proxy = &Proxy{Allow: allow, Intercept: ic,
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			if strings.HasSuffix(addr, ":80") {
				return d.DialContext(ctx, network, plain.Listener.Addr().String())
			}
			return d.DialContext(ctx, network, srv.Listener.Addr().String())
		},
		OnEvent: func(e Event) { f.mu.Lock(); f.events = append(f.events, e); f.mu.Unlock() },
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.proxy.Serve(l)
	t.Cleanup(func() { f.proxy.Close() })
	pool := x509.NewCertPool()
	pool.AddCert(ic.CA.Certificate())
	pu, _ := url.Parse("http://" + l.Addr().String())
	f.client = &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(f.client.CloseIdleConnections)
	return f
}

func trustServer(srv *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(srv.Certificate())
	return p
}

func (f *interceptFixture) do(t *testing.T, method, u, auth, ctype, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, err.Error(), nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func (f *interceptFixture) secretEvents(allowed bool) []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Event
	for _, e := range f.events {
		if e.Secret != "" && e.Allowed == allowed {
			out = append(out, e)
		}
	}
	return out
}

// The bound host receives the real value in the query, a header and the
// body (as written and form-encoded); the client sees only the
// placeholder, though the server echoes the value back.
func TestInterceptBoundHost(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	code, body, hdr := f.do(t, "POST", "https://example.com/api?key="+testPH, "Bearer "+testPH, "application/json", `{"token":"`+testPH+`"}`)
	if code != 200 {
		t.Fatalf("POST to the bound host: %d %s", code, body)
	}
	got := f.seen.all()
	esc := url.QueryEscape(testValue)
	for _, want := range []string{"key=" + esc, "auth=Bearer " + testValue, `body={"token":"` + testValue + `"}`} {
		if !strings.Contains(got, want) {
			t.Errorf("the bound host received %q, want %q in it", got, want)
		}
	}
	if strings.Contains(got, testPH) {
		t.Errorf("the bound host received a placeholder: %q", got)
	}
	if strings.Contains(body, testValue) || strings.Contains(body, esc) || strings.Contains(hdr.Get("X-Echo"), testValue) {
		t.Errorf("the client saw the value echoed: body %q, X-Echo %q", body, hdr.Get("X-Echo"))
	}
	if !strings.Contains(body, "auth=Bearer "+testPH) || hdr.Get("X-Echo") != "Bearer "+testPH {
		t.Errorf("the echo = %q, X-Echo %q, want the placeholder in place of the value", body, hdr.Get("X-Echo"))
	}
	if ev := f.secretEvents(true); len(ev) == 0 || ev[0].Secret != "TOKEN" || ev[0].Host != "example.com" {
		t.Errorf("events of the secret put in = %+v, want one for TOKEN at example.com", ev)
	}

	code, body, _ = f.do(t, "POST", "https://example.com/form", "", "application/x-www-form-urlencoded", "token="+url.QueryEscape(testPH))
	if code != 200 || !strings.Contains(f.seen.all(), "body=token="+esc) {
		t.Errorf("form body to the bound host: %d %s; server saw %q, want token=%s", code, body, f.seen.all(), esc)
	}

	// A body larger than the in-memory limit is streamed, still rewritten.
	big := strings.Repeat("a", maxBufferedBody+10) + testPH
	code, body, _ = f.do(t, "PUT", "https://example.com/big", "", "", big)
	if code != 200 || !strings.Contains(f.seen.all(), strings.Repeat("a", 10)+testValue) {
		t.Errorf("large body to the bound host: %d, server saw the value: %v", code, strings.Contains(f.seen.all(), testValue))
	}
	if strings.Contains(body, testValue) {
		t.Errorf("large body echo shows the value")
	}
}

// A placeholder sent anywhere but a bound host is not replaced: the request
// is refused before it leaves, and the attempt is reported. So is one sent
// over plain HTTP, even to the bound host.
func TestInterceptRefusesUnbound(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	tests := []struct {
		name, method, url, auth, body string
	}{
		{"unbound host, query", "GET", "https://unbound.example.com/?k=" + testPH, "", ""},
		{"unbound host, header", "GET", "https://unbound.example.com/", "Bearer " + testPH, ""},
		{"unbound host, body", "POST", "https://unbound.example.com/", "", "x" + testPH},
		{"unbound host, encoded", "GET", "https://unbound.example.com/?k=" + url.QueryEscape(testPH), "", ""},
		{"plain http to the bound host", "GET", "http://example.com/?k=" + testPH, "", ""},
		{"plain http, body", "POST", "http://example.com/", "", testPH},
	}
	for _, tt := range tests {
		before := len(f.secretEvents(false))
		code, body, _ := f.do(t, tt.method, tt.url, tt.auth, "", tt.body)
		if code != http.StatusForbidden || !strings.Contains(body, "TOKEN") {
			t.Errorf("%s: %d %q, want 403 naming the secret", tt.name, code, body)
		}
		if ev := f.secretEvents(false); len(ev) != before+1 || ev[len(ev)-1].Secret != "TOKEN" {
			t.Errorf("%s: refusal events %+v, want one more for TOKEN", tt.name, ev)
		}
	}
	if got := f.seen.all(); strings.Contains(got, testValue) || strings.Contains(got, testPH) {
		t.Errorf("a refused request reached the server: %q", got)
	}
	// Without a placeholder, the unbound host is served as usual.
	if code, body, _ := f.do(t, "GET", "https://unbound.example.com/plain", "", "", ""); code != 200 {
		t.Errorf("GET without a placeholder to an allowed host: %d %s", code, body)
	}
}

// The Host header inside the tunnel must name the tunnel's host: another
// name could route the secret to another site behind the same server.
func TestInterceptHostMismatch(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	req, _ := http.NewRequest("GET", "https://example.com/?k="+testPH, nil)
	req.Host = "evil.example.net"
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMisdirectedRequest || strings.Contains(f.seen.all(), testValue) {
		t.Errorf("Host mismatch: %d, server saw %q, want 421 and nothing sent", resp.StatusCode, f.seen.all())
	}
}

// The proxy verifies the real server: one whose certificate it cannot
// verify gets nothing, the secret least of all.
func TestInterceptVerifiesServer(t *testing.T) {
	f := newInterceptFixture(t, func(*httptest.Server) *x509.CertPool { return x509.NewCertPool() })
	code, body, _ := f.do(t, "GET", "https://example.com/?k="+testPH, "", "", "")
	if code != http.StatusBadGateway || !strings.Contains(body, "certificate") {
		t.Errorf("untrusted server: %d %q, want 502 about its certificate", code, body)
	}
	if got := f.seen.all(); got != "" {
		t.Errorf("untrusted server received %q", got)
	}
}

// A client that does not trust the task CA cannot talk through the proxy,
// and a TLS name other than the CONNECT host gets no certificate.
func TestInterceptCertificate(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	pu, _ := f.client.Transport.(*http.Transport).Proxy(&http.Request{URL: &url.URL{Scheme: "https", Host: "example.com"}})
	untrusting := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	defer untrusting.CloseIdleConnections()
	if resp, err := untrusting.Get("https://example.com/"); err == nil {
		resp.Body.Close()
		t.Errorf("a client that trusts only the system roots got through the intercepting proxy")
	}
	conn, err := net.Dial("tcp", pu.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
	buf := make([]byte, len("HTTP/1.1 200 Connection established\r\n\r\n"))
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(f.proxy.Intercept.CA.Certificate())
	tc := tls.Client(conn, &tls.Config{ServerName: "unbound.example.com", RootCAs: pool})
	if err := tc.Handshake(); err == nil {
		t.Errorf("TLS with a name other than the CONNECT host succeeded")
	}
}

// Basic credentials carry the placeholder inside base64: the proxy decodes
// them, puts the value in for the bound host, and masks the echo.
func TestInterceptBasicAuth(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	req, _ := http.NewRequest("GET", "https://example.com/basic", nil)
	req.SetBasicAuth("user", testPH)
	sent := req.Header.Get("Authorization")
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+testValue))
	if !strings.Contains(f.seen.all(), "auth="+want) {
		t.Errorf("the server saw %q, want auth=%s", f.seen.all(), want)
	}
	if resp.Header.Get("X-Echo") != sent || strings.Contains(string(b), want) {
		t.Errorf("the echo = %q, X-Echo %q; want the credentials as sent (%q)", b, resp.Header.Get("X-Echo"), sent)
	}
}

// A tunnel that does not start with TLS is passed through untouched, also
// when the server speaks first.
func TestInterceptPassesOtherProtocols(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.WriteString(c, "220 server speaks first\r\n")
			c.Close()
		}
	}()
	f.proxy.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, l.Addr().String())
	}
	pu, _ := f.client.Transport.(*http.Transport).Proxy(&http.Request{URL: &url.URL{Scheme: "https", Host: "example.com"}})
	conn, err := net.Dial("tcp", pu.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT example.com:25 HTTP/1.1\r\nHost: example.com:25\r\n\r\n")
	got, _ := io.ReadAll(conn)
	if !strings.HasSuffix(string(got), "220 server speaks first\r\n") {
		t.Errorf("server-first tunnel read %q", got)
	}
}

// A bound host that stores what it gets and serves it back re-encoded (as
// base64 or hex) does not hand the value to the sandbox: the value's
// encoded forms are masked in answers too (red team).
func TestInterceptMasksEncodedEchoes(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	for _, path := range []string{"/stored-b64", "/stored-hex", "/stored-json"} {
		code, body, _ := f.do(t, "POST", "https://example.com"+path, "", "text/plain", testPH)
		if code != 200 {
			t.Fatalf("POST %s: %d %s", path, code, body)
		}
		if !strings.Contains(f.seen.all(), testValue) {
			t.Fatalf("the bound host did not receive the value: %q", f.seen.all())
		}
		for _, enc := range []string{
			base64.StdEncoding.EncodeToString([]byte("x: " + testValue)),
			base64.RawURLEncoding.EncodeToString([]byte(testValue)),
			fmt.Sprintf("%x", testValue),
			fmt.Sprintf("%X", "ab"+testValue),
			strings.ReplaceAll(testValue, "/", `\/`),
		} {
			inner := enc[4 : len(enc)-4]
			if strings.Contains(body, inner) {
				t.Errorf("POST %s: the answer %q holds the value encoded (%q)", path, body, enc)
			}
		}
	}
}

// escapeEach writes b with every byte but letters, digits and those in keep
// escaped with format: lower-case percent escapes (.NET's UrlEncode), JSON
// \u escapes in upper case (System.Text.Json writes '+' as \u002B).
func escapeEach(b []byte, format, keep string) string {
	var sb strings.Builder
	for _, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			sb.WriteByte(c)
		} else {
			fmt.Fprintf(&sb, format, c)
		}
	}
	return sb.String()
}

// A bound host that echoes the value escaped in a spelling other than Go's
// (path escaping, lower-case percent escapes, JSON \u escapes of any
// character in either case) does not hand it to the sandbox either: the
// value is masked in every mix of percent and JSON escapes of its bytes
// (red team: only Go's QueryEscape and json.Marshal forms were masked).
func TestInterceptMasksEscapedEchoes(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	code, body, _ := f.do(t, "POST", "https://example.com/stored-escaped", "", "text/plain", testPH)
	if code != 200 {
		t.Fatalf("POST: %d %s", code, body)
	}
	if want := strings.Repeat(testPH+" ", 3) + testPH; body != want {
		t.Errorf("the answer = %q, want %q", body, want)
	}
}

// A bound host that serves stored content as base64 broken into lines
// (GitHub's contents API: lines of 60, "\n" escaped in JSON; MIME: 76 and
// CRLF) does not hand the value to the sandbox when the sandbox placed it
// across a line break: the encoded forms are masked with line breaks
// between any two characters (red team: each line held half the value).
func TestInterceptMasksWrappedBase64(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	for pad := 30; pad < 48; pad++ {
		code, body, _ := f.do(t, "POST", "https://example.com/stored-b64-lines", "", "text/plain", strings.Repeat("p", pad)+testPH)
		if code != 200 {
			t.Fatalf("POST: %d %s", code, body)
		}
		if !strings.Contains(body, testPH) {
			t.Errorf("with %d bytes before the value, the answer %q does not mask it", pad, body)
		}
	}
}

// A store on a bound host that serves byte ranges of what it holds does
// not hand the value to the sandbox a few bytes at a time, each too short
// to be masked: the proxy drops Range from requests, so answers hold the
// whole content, masked (red team).
func TestInterceptNoRanges(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	if code, body, _ := f.do(t, "PUT", "https://example.com/file", "", "text/plain", "v="+testPH); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	var got strings.Builder
	for at := 2; at < 2+len(testValue); at += 4 {
		req, _ := http.NewRequest("GET", "https://example.com/file", nil)
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", at, at+3))
		resp, err := f.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got.Write(b)
	}
	if strings.Contains(got.String(), testValue[:4]) || strings.Contains(got.String(), testValue[8:12]) {
		t.Errorf("ranges of the stored value came back unmasked: %q", got.String())
	}
}

// A client that waits out the first-byte wait and only then starts TLS
// does not get an end-to-end TLS session with the server: answers in it
// would reach the sandbox unmasked (a bound host echoing the value). The
// tunnel is closed at its first byte and the refusal reported (red team).
func TestInterceptRefusesLateTLS(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	pu, _ := f.client.Transport.(*http.Transport).Proxy(&http.Request{URL: &url.URL{Scheme: "https", Host: "example.com"}})
	conn, err := net.Dial("tcp", pu.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	time.Sleep(firstByteWait + 300*time.Millisecond)
	// The test server's own root: the client trusts the real server, as
	// a sandbox trusting the system roots would.
	srvRoots := f.proxy.Intercept.Roots
	tc := tls.Client(conn, &tls.Config{ServerName: "example.com", RootCAs: srvRoots})
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err == nil {
		fmt.Fprintf(tc, "GET /echo HTTP/1.1\r\nHost: example.com\r\n\r\n")
		b, _ := io.ReadAll(tc)
		t.Fatalf("a TLS handshake after the first-byte wait reached the server end to end: %q", b)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		f.mu.Lock()
		var found bool
		for _, e := range f.events {
			found = found || !e.Allowed && strings.Contains(e.Reason, "TLS started after")
		}
		f.mu.Unlock()
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the late TLS was not reported")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A client that sends the first byte of its request line and the rest only
// after the first-byte wait does not get a tunnel passed through untouched
// for an HTTP request: its placeholder would reach the host unchecked and
// unaudited, and the answer come back unmasked. The tunnel is closed
// before any of it reaches the server, and the refusal reported (red team).
func TestInterceptRefusesSlowHTTPStart(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	pu, _ := f.client.Transport.(*http.Transport).Proxy(&http.Request{URL: &url.URL{Scheme: "https", Host: "example.com"}})
	conn, err := net.Dial("tcp", pu.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "CONNECT unbound.example.com:80 HTTP/1.1\r\nHost: unbound.example.com:80\r\n\r\nG")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	time.Sleep(firstByteWait + 300*time.Millisecond)
	fmt.Fprintf(conn, "ET /x?%s HTTP/1.1\r\nHost: unbound.example.com\r\nConnection: close\r\n\r\n", testPH)
	b, _ := io.ReadAll(br)
	if got := f.seen.all(); got != "" || len(b) > 0 {
		t.Fatalf("the slow request reached the server: it saw %q, the client got %q", got, b)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		f.mu.Lock()
		var found bool
		for _, e := range f.events {
			found = found || !e.Allowed && strings.Contains(e.Reason, "HTTP started after")
		}
		f.mu.Unlock()
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow HTTP start was not reported")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// httpStart tells HTTP from the protocols passed through untouched.
func TestHTTPStart(t *testing.T) {
	for in, want := range map[string][2]bool{ // isHTTP, decided
		"GET / HTTP/1.1":                {true, true},
		"\r\n\nPOST /x":                 {true, true},
		"OPTIONS * HTTP/1.1":            {true, true},
		"GET hTTps://x/":                {true, true},
		"get /file HTTP/1.1":            {true, true},
		"gET /file":                     {true, true},
		"GET1 /file":                    {true, true},
		"G.ET /file":                    {true, true},
		"GET ftp://x/file":              {true, true},
		"GET x:443 HTTP/1.1":            {true, true},
		"get x":                         {false, false},
		"USER anonymous\r\n":            {false, true},
		"MAIL FROM:<a@b>":               {true, true},
		"SET key value\r\n":             {false, true},
		"GET 1x:/":                      {false, true},
		"CONNECT x:443 HTTP/1.1":        {true, true},
		"GE":                            {false, false},
		"GET ht":                        {false, false},
		"EHLO mail.example.com\r\n":     {false, true},
		"PING\r\n":                      {false, true},
		"SSH-2.0-OpenSSH_9.6\r\n":       {false, true},
		"\x00\x00\x00\x08\x04\xd2\x16/": {false, true},
		strings.Repeat("\r\n", 1024):    {true, true},
	} {
		if isHTTP, decided := httpStart([]byte(in)); [2]bool{isHTTP, decided} != want {
			t.Errorf("httpStart(%.20q) = %v, %v, want %v", in, isHTTP, decided, want)
		}
	}
}

// rawTunnel opens a CONNECT tunnel to hostport through the fixture's proxy
// and a TLS session in it that trusts the task CA, offering protos.
func (f *interceptFixture) rawTunnel(t *testing.T, hostport string, protos []string) (*tls.Conn, error) {
	t.Helper()
	pu, _ := f.client.Transport.(*http.Transport).Proxy(&http.Request{URL: &url.URL{Scheme: "https", Host: "example.com"}})
	conn, err := net.Dial("tcp", pu.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", hostport, hostport)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: %v %v", hostport, resp, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(f.proxy.Intercept.CA.Certificate())
	name, _, _ := net.SplitHostPort(hostport)
	tc := tls.Client(conn, &tls.Config{ServerName: name, RootCAs: pool, NextProtos: protos})
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	return tc, tc.Handshake()
}

// Requests written by hand inside a tunnel: every request of a connection
// is checked (not only the first), whatever form its target takes and
// however its body is framed; the value never reaches another host.
func TestInterceptRawRequests(t *testing.T) {
	tests := []struct {
		name, tunnel, req string
		want              []string // in the answers, in order
	}{
		{"a second pipelined request to another host", "example.com:443",
			"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\nGET /b?" + testPH + " HTTP/1.1\r\nHost: unbound.example.com\r\nConnection: close\r\n\r\n",
			[]string{"200 OK", "421 Misdirected"}},
		{"an absolute-form target naming another host", "example.com:443",
			"GET https://unbound.example.com/x?" + testPH + " HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
			[]string{"421 Misdirected"}},
		{"a placeholder split across chunks, with a Content-Length too", "unbound.example.com:443",
			"POST /x HTTP/1.1\r\nHost: unbound.example.com\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n8\r\n{{secret\r\n8\r\n:TOKEN}}\r\n0\r\n\r\n",
			[]string{"403 Forbidden", "secret TOKEN"}},
		{"a placeholder in a cookie", "unbound.example.com:443",
			"GET /x HTTP/1.1\r\nHost: unbound.example.com\r\nCookie: a=" + testPH + "\r\nConnection: close\r\n\r\n",
			[]string{"403 Forbidden", "secret TOKEN"}},
		{"a placeholder in the path", "unbound.example.com:443",
			"GET /" + url.PathEscape(testPH) + " HTTP/1.1\r\nHost: unbound.example.com\r\nConnection: close\r\n\r\n",
			[]string{"403 Forbidden", "secret TOKEN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newInterceptFixture(t, trustServer)
			tc, err := f.rawTunnel(t, tt.tunnel, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(tc, tt.req)
			b, _ := io.ReadAll(tc)
			rest := string(b)
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("the answers %q lack %q (in order %q)", b, w, tt.want)
				}
				rest = rest[i+len(w):]
			}
			if got := f.seen.all(); strings.Contains(got, "unbound") || strings.Contains(got, "/b") || strings.Contains(got, "secret") || strings.Contains(got, "s3cr3t") {
				t.Errorf("the server received %q", got)
			}
		})
	}
}

// HTTP/2, which the proxy does not rewrite, is refused in the handshake
// rather than carried unscanned.
func TestInterceptRefusesHTTP2(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	if _, err := f.rawTunnel(t, "example.com:443", []string{"h2"}); err == nil {
		t.Error("a client offering only h2 completed the TLS handshake")
	}
}

// Plain HTTP inside a CONNECT tunnel (curl --proxytunnel http://...) is
// held to the rules of plain http:// through the proxy: a placeholder
// refuses the request, audited, whatever the host; other requests are
// answered (red team: passed through untouched, a placeholder reached any
// host unseen).
func TestInterceptPlainHTTPInTunnel(t *testing.T) {
	tests := []struct {
		tunnel, req, want string
		refused           bool
	}{
		{"unbound.example.com:80", "GET /x?" + testPH + " HTTP/1.1\r\nHost: unbound.example.com\r\nConnection: close\r\n\r\n", "403 Forbidden", true},
		{"example.com:80", "POST /x HTTP/1.1\r\nHost: example.com\r\nContent-Length: 16\r\nConnection: close\r\n\r\n" + testPH, "403 Forbidden", true},
		{"example.com:80", "GET /x HTTP/1.1\r\nHost: unbound.example.com\r\nConnection: close\r\n\r\n", "421 Misdirected", false},
		{"example.com:80", "GET /plain HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", "uri=/plain", false},
		// Blank lines before the request line, which servers such as nginx
		// skip (RFC 9112 2.2): the request is still HTTP (red team: passed
		// through untouched, unaudited, and its answer unmasked).
		{"unbound.example.com:80", "\r\n\r\nGET /x?" + testPH + " HTTP/1.1\r\nHost: unbound.example.com\r\nConnection: close\r\n\r\n", "403 Forbidden", true},
		{"example.com:80", "\nGET /plain HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", "uri=/plain", false},
	}
	for _, tt := range tests {
		t.Run(tt.tunnel+" "+strings.SplitN(tt.req, "\r\n", 2)[0], func(t *testing.T) {
			f := newInterceptFixture(t, trustServer)
			pu, _ := f.client.Transport.(*http.Transport).Proxy(&http.Request{URL: &url.URL{Scheme: "https", Host: "example.com"}})
			conn, err := net.Dial("tcp", pu.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n%s", tt.tunnel, tt.tunnel, tt.req)
			b, _ := io.ReadAll(conn)
			if !strings.Contains(string(b), tt.want) {
				t.Errorf("the answer %q lacks %q", b, tt.want)
			}
			if got := f.seen.all(); strings.Contains(got, "secret") || strings.Contains(got, "s3cr3t") || tt.want != "uri=/plain" && got != "" {
				t.Errorf("the server received %q", got)
			}
			if refused := f.secretEvents(false); (len(refused) == 1) != tt.refused {
				t.Errorf("secret refusals reported: %+v, want refused %v", refused, tt.refused)
			}
		})
	}
}

// Red team (session 35): a bound host that echoes the value compressed,
// naming the encoding only in a second Content-Encoding line, does not
// hand it to the sandbox (the proxy read only the first line).
func TestInterceptMasksHiddenEchoes(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	req, _ := http.NewRequest("GET", "https://example.com/echo-gzip", nil)
	req.Header.Set("Authorization", "Bearer "+testPH)
	req.Header.Set("Accept-Encoding", "gzip") // the client leaves the body as sent
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	body := string(raw)
	if zr, err := gzip.NewReader(strings.NewReader(body)); err == nil {
		b, _ := io.ReadAll(zr)
		body = string(b)
	}
	if strings.Contains(body, testValue) {
		t.Errorf("a second Content-Encoding line hid the value from the masker: %d %q", resp.StatusCode, body)
	}
}

// Red team (session 35): the proxy's own refusals quote the server (the
// encoding it named, the answer it could not parse), and were sent to the
// sandbox and the events unmasked; and the value, sent, was not audited.
func TestInterceptMasksErrors(t *testing.T) {
	for _, path := range []string{"/echo-encoding", "/echo-malformed"} {
		t.Run(path, func(t *testing.T) {
			f := newInterceptFixture(t, trustServer)
			code, body, _ := f.do(t, "GET", "https://example.com"+path, "Bearer "+testPH, "", "")
			if code != http.StatusBadGateway || strings.Contains(body, testValue) {
				t.Errorf("the answer = %d %q, want 502 without the value", code, body)
			}
			if ev := f.secretEvents(true); len(ev) != 1 || ev[0].Secret != "TOKEN" {
				t.Errorf("events of the secret put in = %+v, want one for TOKEN: it was sent", ev)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, e := range f.events {
				if strings.Contains(e.Reason, testValue) {
					t.Errorf("an event carries the value: %+v", e)
				}
			}
		})
	}
}

// Red team (session 35): a bound host that echoes a value as the name of
// a header does not hand it to the sandbox, though the name comes back
// re-cased (as Go's client and others canonicalise it).
func TestInterceptMasksHeaderNames(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	const name, value = "KEY", "tokenabcdef123456" // a valid header name
	f.proxy.Intercept.Secrets = append(f.proxy.Intercept.Secrets,
		Secret{Name: name, Placeholder: "{{secret:KEY}}", Value: value, Hosts: f.proxy.Intercept.Secrets[0].Hosts})
	code, _, hdr := f.do(t, "GET", "https://example.com/echo-name", "Bearer {{secret:KEY}}", "", "")
	if code != 200 {
		t.Fatalf("GET = %d", code)
	}
	if !strings.Contains(f.seen.all(), "auth=Bearer "+value) {
		t.Fatalf("the server did not get the value: %q", f.seen.all())
	}
	for k := range hdr {
		if strings.Contains(strings.ToLower(k), value) {
			t.Errorf("a header name carries the value: %q", k)
		}
	}
}

// Red team (session 35): a bound host that echoes the value in another
// case (an error message in capitals) does not hand it to the sandbox.
func TestInterceptMasksRecasedEcho(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	code, body, _ := f.do(t, "GET", "https://example.com/echo-upper", "Bearer "+testPH, "", "")
	if code != 200 {
		t.Fatalf("GET = %d %q", code, body)
	}
	if strings.Contains(strings.ToLower(body), strings.ToLower(testValue)) {
		t.Errorf("the echo in capitals carries the value: %q", body)
	}
}

// Red team (session 35): a bound host that echoes the value in HTML or
// XML, with character references for some of its bytes (html/template
// writes '+' as &#43;), does not hand it to the sandbox.
func TestInterceptMasksHTMLEcho(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	for _, path := range []string{"/echo-html", "/echo-xml"} {
		code, body, _ := f.do(t, "GET", "https://example.com"+path, "Bearer "+testPH, "", "")
		if code != 200 {
			t.Fatalf("GET %s = %d %q", path, code, body)
		}
		if strings.Contains(html.UnescapeString(body), testValue) {
			t.Errorf("the echo in %s carries the value: %q", path, body)
		}
	}
}

// Red team (session 35): a bound host that echoes a URL that carried the
// value (percent-encoded by the proxy) encoded once more, as login
// redirects carry the page asked for, does not hand it to the sandbox.
func TestInterceptMasksReencodedURL(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	f.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	code, body, hdr := f.do(t, "GET", "https://example.com/echo-next?key="+testPH, "", "", "")
	if code != http.StatusFound {
		t.Fatalf("GET = %d %q", code, body)
	}
	for _, got := range []string{hdr.Get("Location"), body} {
		for range 3 {
			if strings.Contains(got, testValue) {
				t.Errorf("the redirect carries the value: Location %q, body %q", hdr.Get("Location"), body)
			}
			got, _ = url.PathUnescape(got)
		}
	}
}

// A value the bound host stores (put in on the intercepted HTTPS path) is
// not read back unmasked through a tunnel to the host's plain-HTTP port
// by a request whose method the proxy did not take for HTTP: "get" and
// other tokens a Go server serves were passed through untouched (a red
// team).
func TestTunnelReadsBackMaskedWhateverTheMethod(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	if code, body, _ := f.do(t, "PUT", "https://example.com/file", "", "text/plain", "stored="+testPH); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	for _, method := range []string{"GET", "get", "gET", "GET1", "G.ET"} {
		pu, _ := f.client.Transport.(*http.Transport).Proxy(&http.Request{URL: &url.URL{Scheme: "https", Host: "example.com"}})
		conn, err := net.Dial("tcp", pu.Host)
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(8 * time.Second))
		fmt.Fprintf(conn, "CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n%s /file HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n", method)
		b, _ := io.ReadAll(conn)
		conn.Close()
		if strings.Contains(string(b), testValue) {
			t.Errorf("method %q: the tunnel's client read the secret's value unmasked: %q", method, b)
		}
		if method == "GET" && !strings.Contains(string(b), "stored="+testPH) {
			t.Errorf("GET through the tunnel: %q, want the stored text masked", b)
		}
	}
}

// A secret revoked since the sandbox began (deleted or changed: Revoked)
// is not put in, even for its bound host: the request is refused, naming
// why, and the host receives neither value nor placeholder; answers are
// still masked.
func TestInterceptRefusesRevoked(t *testing.T) {
	f := newInterceptFixture(t, trustServer)
	revoked := false
	f.proxy.Intercept.Revoked = func(name string) bool { return revoked && name == "TOKEN" }
	if code, body, _ := f.do(t, "GET", "https://example.com/", "Bearer "+testPH, "", ""); code != 200 {
		t.Fatalf("before the revocation: %d %s", code, body)
	}
	revoked = true
	before := f.seen.all()
	code, body, _ := f.do(t, "GET", "https://example.com/again", "Bearer "+testPH, "", "")
	if code != http.StatusForbidden || !strings.Contains(body, "deleted or changed") {
		t.Errorf("a revoked secret to its bound host: %d %q, want 403 saying why", code, body)
	}
	if got := strings.TrimPrefix(f.seen.all(), before); strings.Contains(got, testValue) || strings.Contains(got, "/again") {
		t.Errorf("the bound host received the request of a revoked secret: %q", got)
	}
}
