package egress

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/netutil"
)

// Proxy is an HTTP proxy that lets through only connections to allowlisted
// domains, dialed with a dialer that refuses non-public addresses. It serves
// CONNECT (for HTTPS and any TCP protocol) and plain http:// requests in
// absolute form.
type Proxy struct {
	// Allow is the domain allowlist.
	Allow Allowlist
	// Dial connects to the upstream; nil uses a Dialer with its defaults.
	// Tests may swap it; the address check lives in Dialer, so a replacement
	// must be a test's own deliberate choice.
	Dial DialFunc
	// OnEvent, if set, is called for every allowed or refused connection,
	// and for every secret put into a request or refused.
	OnEvent func(Event)
	// Intercept, if set, makes the proxy terminate the TLS of CONNECT
	// tunnels with Intercept.CA and put the secrets' values into the
	// requests inside, for the hosts each secret is bound to (see
	// Intercept). Plain HTTP requests, in a tunnel or not, are refused
	// when they carry a placeholder; another tunnel that does not start
	// with TLS or HTTP is passed through untouched (closed if either
	// starts late).
	Intercept *Intercept

	mu    sync.Mutex
	srv   *http.Server
	wg    sync.WaitGroup
	done  bool
	conns map[net.Conn]struct{} // hijacked tunnels, closed by Close
}

// What the sandboxed code may make the proxy hold, which lives outside
// the sandbox's memory limit (in the host's process): at most MaxConns
// connections at once (those past it wait to be accepted), each with at
// most MaxHeaderBytes of request head. Without them, 1,500 connections
// each sending 1 MB of headers it never finished grew the host's process
// to 2.2 GB under a sandbox limited to 128 MiB (a red team).
const (
	MaxConns       = 128
	MaxHeaderBytes = 64 << 10
)

// Serve accepts proxy connections on l until Close; it returns nil after Close.
func (p *Proxy) Serve(l net.Listener) error {
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		return nil
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          nil,
	}
	srv := p.srv
	p.mu.Unlock()
	err := srv.Serve(netutil.LimitListener(l, MaxConns))
	if err == http.ErrServerClosed {
		return nil
	}
	return err
}

// Close stops the proxy and closes every connection it holds.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.done = true
	srv := p.srv
	p.mu.Unlock()
	var err error
	if srv != nil {
		err = srv.Close()
	}
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) dial(ctx context.Context, addr string) (net.Conn, error) {
	if p.Dial != nil {
		return p.Dial(ctx, "tcp", addr)
	}
	d := &Dialer{}
	return d.DialContext(ctx, "tcp", addr)
}

func (p *Proxy) report(host, port string, allowed bool, reason string) {
	if p.OnEvent != nil {
		p.OnEvent(Event{Time: time.Now(), Host: host, Port: port, Allowed: allowed, Reason: reason})
	}
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.connect(w, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "bulwark egress proxy: only CONNECT and absolute http:// requests", http.StatusBadRequest)
		return
	}
	host, port := splitHostPortDefault(r.URL.Host, "80")
	if !p.Allow.Allows(host) {
		p.report(host, port, false, "domain not in allowlist")
		http.Error(w, "bulwark egress proxy: domain "+host+" is not allowed", http.StatusForbidden)
		return
	}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return p.dial(ctx, net.JoinHostPort(host, port))
		},
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	if p.Intercept != nil {
		name, _, _ := ParseHost(host)
		p.forward(w, r, p.Intercept, tr, name, port, "http://"+net.JoinHostPort(host, port), false)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"} {
		out.Header.Del(h)
	}
	resp, err := tr.RoundTrip(out)
	if err != nil {
		p.report(host, port, false, err.Error())
		http.Error(w, "bulwark egress proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	p.report(host, port, true, "")
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

func (p *Proxy) connect(w http.ResponseWriter, r *http.Request) {
	host, port := splitHostPortDefault(r.Host, "443")
	if !p.Allow.Allows(host) {
		p.report(host, port, false, "domain not in allowlist")
		http.Error(w, "bulwark egress proxy: domain "+host+" is not allowed", http.StatusForbidden)
		return
	}
	if p.Intercept != nil {
		p.connectIntercepted(w, host, port)
		return
	}
	up, err := p.dial(r.Context(), net.JoinHostPort(host, port))
	if err != nil {
		p.report(host, port, false, err.Error())
		http.Error(w, "bulwark egress proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "bulwark egress proxy: cannot tunnel", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !p.track(down, up) {
		return
	}
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		up.Close()
		down.Close()
		p.wg.Done()
		return
	}
	go func() {
		defer p.wg.Done()
		// The TLS name the client asks for must be the host allowed
		// (tunnelName): not another behind the same address.
		r := bufio.NewReaderSize(io.MultiReader(buf.Reader, down), maxClientHello)
		sni, isTLS, err := tunnelName(down, r)
		switch {
		case err != nil && isTLS:
			p.report(host, port, false, "TLS start not read: "+err.Error())
		case err != nil:
		case isTLS && sni != "" && !sameHost(sni, host):
			p.report(host, port, false, "the TLS name "+sni+" is not the host connected to (domain fronting)")
		default:
			p.report(host, port, true, "")
			splice(down, r, up)
		}
		down.Close()
		up.Close()
		p.mu.Lock()
		delete(p.conns, down)
		delete(p.conns, up)
		p.mu.Unlock()
	}()
}

// track records a tunnel's connections for Close and counts its goroutine
// in p.wg; false (both closed) when the proxy is already closing.
func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	if p.conns == nil {
		p.conns = make(map[net.Conn]struct{})
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	p.wg.Add(1)
	return true
}

// splice copies both ways until either side ends, then closes both.
func splice(down net.Conn, pending io.Reader, up net.Conn) {
	var once sync.Once
	closeBoth := func() { once.Do(func() { down.Close(); up.Close() }) }
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, io.MultiReader(pending, down)); closeBoth(); done <- struct{}{} }()
	go func() { io.Copy(down, up); closeBoth(); done <- struct{}{} }()
	<-done
	<-done
}

func splitHostPortDefault(hostport, def string) (host, port string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return strings.Trim(hostport, "[]"), def
	}
	return host, port
}

// firstByteWait is how long an intercepting proxy waits for the first
// byte of a tunnel to tell TLS from other protocols.
const firstByteWait = 2 * time.Second

// connectIntercepted answers a CONNECT when secrets may be put into
// requests: it accepts the tunnel, and serves it as TLS terminated here
// (intercepted) when it starts with TLS, or splices it to host:port
// untouched otherwise.
func (p *Proxy) connectIntercepted(w http.ResponseWriter, host, port string) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "bulwark egress proxy: cannot tunnel", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	if !p.track(down) {
		return
	}
	defer p.wg.Done()
	defer func() {
		down.Close()
		p.mu.Lock()
		delete(p.conns, down)
		p.mu.Unlock()
	}()
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	// A TLS client speaks first, at once; a protocol in which the server
	// speaks first is passed through after a short wait.
	down.SetReadDeadline(time.Now().Add(firstByteWait))
	first, err := buf.Reader.Peek(1)
	var ne net.Error
	if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
		return
	}
	down.SetReadDeadline(time.Time{})
	name, _, _ := ParseHost(host)
	conn := prefixConn{Conn: down, r: buf.Reader}
	if len(first) == 1 && first[0] == tlsRecordHandshake {
		p.report(host, port, true, "")
		p.intercepted(conn, name, port)
		return
	}
	if len(first) == 1 && p.plainHTTP(down, buf.Reader) {
		p.report(host, port, true, "")
		p.plainTunnel(conn, name, port)
		return
	}
	up, err := p.dial(context.Background(), net.JoinHostPort(host, port))
	if err != nil {
		p.report(host, port, false, err.Error())
		return
	}
	p.mu.Lock()
	if p.done {
		p.mu.Unlock()
		up.Close()
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	p.report(host, port, true, "")
	late := &passGuard{r: buf.Reader}
	splice(down, late, up)
	if late.refused != "" {
		p.report(host, port, false, late.refused+" started after the tunnel was passed through untouched")
	}
	p.mu.Lock()
	delete(p.conns, up)
	p.mu.Unlock()
}

// passGuard reads the first bytes of a tunnel passed through untouched and
// fails when they start TLS or an HTTP request: a client that waited out
// firstByteWait before its handshake, or sent its request line slowly or
// after blank lines, would otherwise speak TLS end to end with the server,
// or HTTP that the proxy never checked for placeholders, and read answers
// the proxy never masked (a bound host's echo of a secret's value). Until
// the first bytes tell, none are passed on.
type passGuard struct {
	r       io.Reader
	held    []byte
	decided bool
	refused string // "TLS" or "HTTP" when the tunnel was closed
}

func (g *passGuard) Read(b []byte) (int, error) {
	for !g.decided {
		var chunk [512]byte
		k, err := g.r.Read(chunk[:])
		g.held = append(g.held, chunk[:k]...)
		if len(g.held) > 0 && g.held[0] == tlsRecordHandshake {
			g.refused = "TLS"
			return 0, errLateStart
		}
		if isHTTP, decided := httpStart(g.held); isHTTP {
			g.refused = "HTTP"
			return 0, errLateStart
		} else if decided {
			g.decided = true
		} else if err != nil {
			if len(g.held) == 0 {
				return 0, err
			}
			g.decided = true // the client stopped: what it sent is not HTTP
		}
	}
	if len(g.held) > 0 {
		n := copy(b, g.held)
		g.held = g.held[n:]
		return n, nil
	}
	return g.r.Read(b)
}

var errLateStart = errors.New("egress: TLS or HTTP after the first-byte wait")
