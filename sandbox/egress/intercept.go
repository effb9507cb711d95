package egress

// This file terminates the TLS of a sandbox's CONNECT tunnel with the
// task's CA, puts secret values into the HTTP requests that come through
// it (for bound hosts only), sends them on over TLS verified by the proxy,
// and masks the values out of the answers.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// maxBufferedBody is the largest request body the proxy rewrites in memory,
// with an exact Content-Length; longer ones are streamed, chunked.
const maxBufferedBody = 1 << 20

// discardLog drops the messages of the per-tunnel HTTP servers (a client
// that hangs up is no news).
var discardLog = lazy.Value[*log.Logger]{New: func() *log.Logger { return log.New(io.Discard, "", 0) }}

// tlsRecordHandshake is the first byte of a TLS connection (a handshake record).
const tlsRecordHandshake = 0x16

// intercepted serves one CONNECT tunnel whose first bytes are TLS: it
// terminates TLS with a leaf for host and serves the HTTP requests inside.
// It returns when the tunnel closes.
func (p *Proxy) intercepted(down net.Conn, host, port string) {
	ic := p.Intercept
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hello.ServerName != "" && !strings.EqualFold(strings.TrimSuffix(hello.ServerName, "."), host) {
				return nil, fmt.Errorf("egress: TLS name %q does not match the CONNECT host %q", hello.ServerName, host)
			}
			return ic.CA.Leaf(host)
		},
	}
	tr := &http.Transport{
		Proxy: nil,
		DialTLSContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := p.dial(ctx, net.JoinHostPort(host, port))
			if err != nil {
				return nil, err
			}
			tc := tls.Client(c, &tls.Config{ServerName: host, RootCAs: ic.Roots, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}})
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, fmt.Errorf("the server's certificate could not be verified: %w", err)
			}
			return tc, nil
		},
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       30 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute,
	}
	defer tr.CloseIdleConnections()
	l := &oneConnListener{c: tls.Server(down, cfg), done: make(chan struct{})}
	srv := &http.Server{
		Handler:           &tunnelHandler{p: p, ic: ic, tr: tr, host: host, port: port},
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    MaxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          discardLog.Get(),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed || s == http.StateHijacked {
				l.Close()
			}
		},
	}
	srv.Serve(l)
}

// plainHTTP reports whether the tunnel's client, which has sent a first
// byte that is not TLS, starts an HTTP/1 request (see httpStart), waiting
// at most firstByteWait for the bytes that tell. Blank lines before the
// request line, which servers skip and the proxy's own server does not,
// are dropped.
func (p *Proxy) plainHTTP(down net.Conn, r *bufio.Reader) bool {
	down.SetReadDeadline(time.Now().Add(firstByteWait))
	defer down.SetReadDeadline(time.Time{})
	for n := 1; ; n++ {
		head, err := r.Peek(n)
		isHTTP, decided := httpStart(head)
		if isHTTP {
			r.Discard(len(head) - len(bytes.TrimLeft(head, "\r\n")))
			return true
		}
		if decided || err != nil {
			return false
		}
	}
}

// maxHTTPStart is how many leading bytes httpStart reads at most; a start
// still undecided after that many is taken as HTTP (refused, passed through).
const maxHTTPStart = 2048

// httpStart tells whether b, the first bytes a tunnel's client sent, starts
// an HTTP/1 request: blank lines, which servers skip before the request
// line (RFC 9112 2.2), then a method (any token: servers such as Go's
// net/http take "get" or "G.ET" as a method, and the tunnel passed a
// request so spelled through unmasked, a red team), a blank, and a target
// that is a path, "*" or an absolute URI (a scheme and a colon: Go's
// server takes "x:443" too); or the method CONNECT. decided is false
// while more bytes could change the answer. Other protocols whose first
// line is a word and a blank (SMTP's EHLO, FTP's USER, Redis) go on with
// a name, not a path or a scheme.
func httpStart(b []byte) (isHTTP, decided bool) {
	if len(b) >= maxHTTPStart {
		return true, true
	}
	b = bytes.TrimLeft(b, "\r\n")
	m := 0
	for m < len(b) && isTokenChar(b[m]) {
		m++
	}
	switch {
	case m == len(b):
		return false, false
	case m == 0 || b[m] != ' ':
		return false, true
	case string(b[:m]) == http.MethodConnect:
		return true, true
	}
	target := b[m+1:]
	if len(target) == 0 {
		return false, false
	}
	if target[0] == '/' || target[0] == '*' {
		return true, true
	}
	// A scheme: a letter, then letters, digits, '+', '-', '.', then ':'.
	for i, c := range target {
		switch {
		case c == ':' && i > 0:
			return true, true
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false, true
		}
	}
	return false, false
}

// isTokenChar says whether c may be in an HTTP token (RFC 9110 5.6.2), a
// method's characters.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// plainTunnel serves the plain HTTP requests of a tunnel to host:port as
// the proxy serves absolute http:// requests: a placeholder refuses the
// request (audited), since secrets travel only over TLS, and answers are
// masked. Passed through untouched, such a request would carry a
// placeholder to any host unseen.
func (p *Proxy) plainTunnel(down net.Conn, host, port string) {
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return p.dial(ctx, net.JoinHostPort(host, port))
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	l := &oneConnListener{c: down, done: make(chan struct{})}
	srv := &http.Server{
		Handler:           &tunnelHandler{p: p, ic: p.Intercept, tr: tr, host: host, port: port, plain: true},
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    MaxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          discardLog.Get(),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateClosed || s == http.StateHijacked {
				l.Close()
			}
		},
	}
	srv.Serve(l)
}

// tunnelHandler serves the requests of one intercepted tunnel to host:port
// (over TLS, or plain HTTP when plain is set).
type tunnelHandler struct {
	p          *Proxy
	ic         *Intercept
	tr         *http.Transport
	host, port string
	plain      bool
}

func (h *tunnelHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Only HTTP/1 is rewritten: an HTTP/2 preface sent with prior
	// knowledge ("PRI * HTTP/2.0") reads as a request, and must not be
	// sent on as one.
	if r.ProtoMajor != 1 {
		h.p.report(h.host, h.port, false, "HTTP version "+r.Proto+" is not supported")
		http.Error(w, "bulwark egress proxy: only HTTP/1.1 is supported", http.StatusHTTPVersionNotSupported)
		return
	}
	// The request goes to the tunnel's host whatever its Host header says;
	// a different Host could route it, with the secret, to another site
	// behind the same server.
	if name, _, err := ParseHost(hostOnly(r.Host)); r.Host != "" && (err != nil || name != h.host) {
		if e := h.ic.placeholderIn(h.host, r.Host, inHost); e != nil {
			h.p.reportSecret(h.host, h.port, e.secret, false, e.why)
			http.Error(w, e.Error(), http.StatusMisdirectedRequest)
			return
		}
		h.p.report(h.host, h.port, false, fmt.Sprintf("Host header %q differs from the CONNECT host", r.Host))
		http.Error(w, "bulwark egress proxy: the Host header must name the host of the tunnel ("+h.host+")", http.StatusMisdirectedRequest)
		return
	}
	if h.plain {
		h.p.forward(w, r, h.ic, h.tr, h.host, h.port, "http://"+net.JoinHostPort(h.host, h.port), false)
		return
	}
	target := "https://" + net.JoinHostPort(h.host, h.port)
	if h.port == "443" {
		target = "https://" + h.host
	}
	h.p.forward(w, r, h.ic, h.tr, h.host, h.port, target, true)
}

// forward sends r on to target (scheme and authority) through tr, with
// the secrets' placeholders replaced by the rules for host, and copies the
// answer back masked. Over plain HTTP (tls false) a placeholder refuses the
// request.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, ic *Intercept, tr http.RoundTripper, host, port, target string, tls bool) {
	used := map[string]bool{}
	var mu sync.Mutex
	var refused *errSecretRefused
	hit := refuser(host, used)
	onHit := func(ru rule) error { // also called from the transport's body writer
		mu.Lock()
		defer mu.Unlock()
		err := hit(ru)
		if e, ok := asRefused(err); ok && refused == nil {
			refused = e
		}
		return err
	}
	refusedErr := func() *errSecretRefused {
		mu.Lock()
		defer mu.Unlock()
		return refused
	}
	refuse := func(e *errSecretRefused) {
		p.reportSecret(host, port, e.secret, false, e.why)
		http.Error(w, e.Error(), http.StatusForbidden)
	}
	out, echoes, err := p.rewrite(r, ic, host, target, tls, onHit)
	if e := refusedErr(); e != nil {
		refuse(e)
		return
	}
	if err != nil {
		http.Error(w, "bulwark egress proxy: "+err.Error(), http.StatusBadRequest)
		return
	}
	// What comes back is masked, the proxy's own messages too: they may
	// quote the server (an answer it could not parse, an encoding).
	mask := append(echoes, ic.maskRules()...)
	masked := func(s string) string { s, _ = replaceString(s, mask, nil); return s }
	resp, err := tr.RoundTrip(out)
	if e := refusedErr(); e != nil {
		if err == nil {
			resp.Body.Close()
		}
		refuse(e)
		return
	}
	// The values went out (or may have) whatever came back: audited now.
	mu.Lock()
	names := slices.Collect(maps.Keys(used))
	mu.Unlock()
	for _, name := range names {
		p.reportSecret(host, port, name, true, "")
	}
	if err != nil {
		msg := masked(err.Error())
		p.report(host, port, false, msg)
		http.Error(w, "bulwark egress proxy: "+msg, http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if !tls {
		p.report(host, port, true, "")
	}
	if ce, ok := encoded(resp.Header); ok {
		p.report(host, port, false, "response in encoding "+masked(ce))
		http.Error(w, "bulwark egress proxy: the server answered in an encoding the proxy cannot check for secrets", http.StatusBadGateway)
		return
	}
	for k, vs := range resp.Header {
		if hopHeader(k) || k == "Content-Length" || holdsValue(k, mask) {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, masked(v))
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(flushWriter{w}, newReplaceReader(resp.Body, mask, nil))
}

// holdsValue reports whether the header name k holds a needle of mask in
// any case: a name cannot be masked in place, and clients re-case it, so a
// header that echoes a value in its name is left out.
func holdsValue(k string, mask []rule) bool {
	k = strings.ToLower(k)
	for _, ru := range mask {
		if ru.needle != "" && strings.Contains(k, strings.ToLower(ru.needle)) {
			return true
		}
	}
	return false
}

// encoded reports whether h names a content coding other than identity in
// any Content-Encoding line (a server may send several, and the client
// applies them all), and returns the lines.
func encoded(h http.Header) (string, bool) {
	vs := h.Values("Content-Encoding")
	for _, v := range vs {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return strings.Join(vs, ", "), true
			}
		}
	}
	return "", false
}

// rewrite makes the outgoing request of r: target's scheme and host, r's
// path and query, headers and body with the placeholders replaced by the
// rules of each place (see requestRules): a placeholder where its secret
// may not go, a header name included, refuses the request through onHit.
// It also returns rules that turn the rewritten header values back into
// those the sandbox sent, for masking echoes.
func (p *Proxy) rewrite(r *http.Request, ic *Intercept, host, target string, tls bool, onHit func(rule) error) (out *http.Request, echoes []rule, err error) {
	uri := r.URL.RequestURI()
	if r.URL.IsAbs() {
		uri = r.URL.EscapedPath()
		if uri == "" {
			uri = "/"
		}
		if r.URL.RawQuery != "" {
			uri += "?" + r.URL.RawQuery
		}
	}
	uri, err = replaceString(uri, ic.requestRules(host, tls, inURL), onHit)
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(target + uri)
	if err != nil {
		return nil, nil, errors.New("the request's URL is not valid")
	}
	out, err = http.NewRequestWithContext(r.Context(), r.Method, u.String(), nil)
	if err != nil {
		return nil, nil, errors.New("the request is not valid")
	}
	rules, names := ic.requestRules(host, tls, inHeader), ic.refuseAll(host, inHeaderName)
	for k, vs := range r.Header {
		// A name is never rewritten, and a placeholder in it (a name
		// may hold "%7B%7Bsecret%3ANAME%7D%7D") is refused, as hop
		// headers' are: nothing of a placeholder leaves unseen.
		if _, err := replaceString(k, names, onHit); err != nil {
			return nil, nil, err
		}
		// Range goes too (a server may ignore it and send the whole):
		// a store on a bound host would serve the value a few bytes at a
		// time, each piece too short to be masked.
		if hopHeader(k) || k == "Accept-Encoding" || k == "Content-Length" || k == "Range" || k == "If-Range" {
			continue
		}
		for _, v := range vs {
			nv, err := replaceHeader(k, v, rules, onHit)
			if err != nil {
				return nil, nil, err
			}
			if nv != v && len(nv) >= 8 {
				// An echo of the header as sent (Basic credentials
				// included) goes back as the sandbox wrote it.
				echoes = append(echoes, rule{needle: nv, repl: v})
			}
			out.Header.Add(k, nv)
		}
	}
	if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		return out, echoes, nil
	}
	// The body as the server decoded its framing (chunks joined, however
	// split), streamed: the replacer holds back enough to see a
	// placeholder across reads.
	br := newReplaceReader(r.Body, ic.requestRules(host, tls, inBody), onHit)
	head, err := io.ReadAll(io.LimitReader(br, maxBufferedBody+1))
	if err != nil {
		return nil, nil, errors.New("the request body could not be read")
	}
	if len(head) <= maxBufferedBody {
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(head)), int64(len(head))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(head)), nil }
		return out, echoes, nil
	}
	out.Body, out.ContentLength = io.NopCloser(io.MultiReader(bytes.NewReader(head), br)), -1
	return out, echoes, nil
}

// replaceHeader applies rules to one header value, and inside the
// base64 credentials of Basic authorization (user:{{secret:NAME}}), which
// clients encode before the proxy sees them.
func replaceHeader(k, v string, rules []rule, onHit func(rule) error) (string, error) {
	v, err := replaceString(v, rules, onHit)
	if err != nil {
		return "", err
	}
	if k != "Authorization" {
		return v, nil
	}
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return v, nil
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return v, nil
	}
	plain, err := replaceString(string(dec), rules, onHit)
	if err != nil || plain == string(dec) {
		return v, err
	}
	return scheme + " " + base64.StdEncoding.EncodeToString([]byte(plain)), nil
}

// reportSecret reports a secret put into a request (allowed) or a request
// refused because of a secret's placeholder.
func (p *Proxy) reportSecret(host, port, name string, allowed bool, why string) {
	if p.OnEvent == nil {
		return
	}
	reason := "secret " + name + " put into the request"
	if !allowed {
		reason = "secret " + name + " refused: it " + why
	}
	p.OnEvent(Event{Time: time.Now(), Host: host, Port: port, Allowed: allowed, Reason: reason, Secret: name})
}

func hopHeader(k string) bool {
	switch http.CanonicalHeaderKey(k) {
	case "Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

func hostOnly(hostport string) string {
	h, _ := splitHostPortDefault(hostport, "")
	return h
}

// flushWriter flushes after every write, so a streamed answer streams.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// oneConnListener hands out one connection, then waits until closed.
type oneConnListener struct {
	mu   sync.Mutex
	c    net.Conn
	done chan struct{}
	once sync.Once
}

func (l *oneConnListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	c := l.c
	l.c = nil
	l.mu.Unlock()
	if c != nil {
		return c, nil
	}
	<-l.done
	return nil, net.ErrClosed
}

func (l *oneConnListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *oneConnListener) Addr() net.Addr { return dummyAddr{} }

type dummyAddr struct{}

func (dummyAddr) Network() string { return "tunnel" }
func (dummyAddr) String() string  { return "tunnel" }

// prefixConn is a connection whose first bytes were already read into r.
type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (c prefixConn) Read(b []byte) (int, error) { return c.r.Read(b) }
