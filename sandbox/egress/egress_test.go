package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

var checkIPTests = []struct {
	ip   string
	want bool // allowed
}{
	{"93.184.215.14", true},
	{"1.1.1.1", true},
	{"2606:4700:4700::1111", true},
	{"127.0.0.1", false},
	{"127.8.9.10", false},
	{"10.1.2.3", false},
	{"172.16.0.1", false},
	{"192.168.1.1", false},
	{"100.64.0.1", false},
	{"169.254.169.254", false},
	{"169.254.0.1", false},
	{"0.0.0.0", false},
	{"0.1.2.3", false},
	{"224.0.0.1", false},
	{"255.255.255.255", false},
	{"::1", false},
	{"::", false},
	{"fe80::1", false},
	{"fc00::1", false},
	{"fd00:ec2::254", false},
	{"ff02::1", false},
	{"::ffff:127.0.0.1", false},
	{"::ffff:169.254.169.254", false},
	{"64:ff9b::a9fe:a9fe", false},
	{"2002:7f00:1::", false},
	{"198.18.0.1", false},
}

func TestCheckIP(t *testing.T) {
	for _, tt := range checkIPTests {
		err := CheckIP(netip.MustParseAddr(tt.ip))
		if got := err == nil; got != tt.want {
			t.Errorf("CheckIP(%s) = %v, want allowed=%v", tt.ip, err, tt.want)
		}
		if err != nil && !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("CheckIP(%s) = %v, not ErrForbiddenAddress", tt.ip, err)
		}
	}
}

func TestDialerRefusesPrivate(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	d := &Dialer{}
	for _, addr := range []string{l.Addr().String(), "localhost:80", "169.254.169.254:80", "[::1]:80", "10.0.0.1:22"} {
		c, err := d.DialContext(context.Background(), "tcp", addr)
		if err == nil {
			c.Close()
			t.Errorf("Dial(%s) connected, want refusal", addr)
		} else if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Dial(%s) = %v, want ErrForbiddenAddress", addr, err)
		}
	}
}

var patternTests = []struct {
	pattern, host string
	want          bool
}{
	{"example.com", "example.com", true},
	{"example.com", "EXAMPLE.com.", true},
	{"example.com", "www.example.com", false},
	{"*.example.com", "www.example.com", true},
	{"*.example.com", "example.com", false},
	{"*.example.com", "evilexample.com", false},
	{"example.com", "example.com.evil.net", false},
}

func TestPattern(t *testing.T) {
	for _, tt := range patternTests {
		p, err := ParsePattern(tt.pattern)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tt.pattern, err)
		}
		if got := p.Match(tt.host); got != tt.want {
			t.Errorf("Pattern(%q).Match(%q) = %v, want %v", tt.pattern, tt.host, got, tt.want)
		}
	}
	for _, bad := range []string{"", "exa mple.com", "a..b", "http://x.com", "x.com/path"} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("ParsePattern(%q) accepted a bad pattern", bad)
		}
	}
	if (Allowlist{{host: "127.0.0.1"}}).Allows("127.0.0.1") {
		t.Error("an IP literal was allowed")
	}
}

// startProxy serves a Proxy allowing allowed.test, whose test dialer sends
// allowed.test to target and uses the real Dialer for everything else.
func startProxy(t *testing.T, target string) (addr string, events func() []Event) {
	t.Helper()
	var mu sync.Mutex
	var evs []Event
	allow, _ := ParseAllowlist([]string{"allowed.test", "private.test"})
	real := &Dialer{}
	p := &Proxy{
		Allow: allow,
		Dial: func(ctx context.Context, network, a string) (net.Conn, error) {
			if a == "allowed.test:80" || a == "allowed.test:443" {
				var d net.Dialer
				return d.DialContext(ctx, network, target)
			}
			if strings.HasPrefix(a, "private.test:") {
				// An allowlisted name that resolves to a private address.
				return real.DialContext(ctx, network, "127.0.0.1:"+strings.TrimPrefix(a, "private.test:"))
			}
			return real.DialContext(ctx, network, a)
		},
		OnEvent: func(e Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() },
	}
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.Serve(l)
	t.Cleanup(func() { p.Close() })
	return l.Addr().String(), func() []Event { mu.Lock(); defer mu.Unlock(); return append([]Event(nil), evs...) }
}

func TestProxy(t *testing.T) {
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream-ok") })}
	ul, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go upstream.Serve(ul)
	defer upstream.Close()
	proxy, events := startProxy(t, ul.Addr().String())

	// CONNECT to the allowed host tunnels to the upstream.
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT allowed.test: %v %v", resp, err)
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n")
	body, _ := io.ReadAll(br)
	c.Close()
	if !strings.Contains(string(body), "upstream-ok") {
		t.Errorf("tunnel answered %q", body)
	}

	// Plain HTTP through the proxy, and refusals.
	for _, tt := range []struct {
		url  string
		want int
	}{
		{"http://allowed.test/", 200},
		{"http://notallowed.test/", 403},
		{"http://127.0.0.1/", 403},
		{"http://169.254.169.254/latest/meta-data/", 403},
		{"http://private.test:" + strings.Split(ul.Addr().String(), ":")[1] + "/", 502},
	} {
		client := &http.Client{Transport: &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return url.Parse("http://" + proxy) }}}
		resp, err := client.Get(tt.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s through the proxy = %d, want %d", tt.url, resp.StatusCode, tt.want)
		}
	}
	for _, tt := range []struct {
		target string
		want   int
	}{
		{"notallowed.test:443", 403},
		{"169.254.169.254:80", 403},
		{"[::1]:443", 403},
		{"private.test:443", 502},
	} {
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", tt.target, tt.target)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || resp.StatusCode != tt.want {
			t.Errorf("CONNECT %s = %v (%v), want %d", tt.target, resp, err, tt.want)
		}
	}
	var allowed, refused int
	for _, e := range events() {
		if e.Allowed {
			allowed++
		} else {
			refused++
			if e.Host == "private.test" && !strings.Contains(e.Reason, "not public") {
				t.Errorf("private.test refused for %q, want the address check", e.Reason)
			}
		}
	}
	if allowed != 2 || refused != 8 {
		t.Errorf("events: %d allowed, %d refused, want 2 and 8: %+v", allowed, refused, events())
	}
}

// What sandboxed code can make the proxy hold is bounded: a request head
// past MaxHeaderBytes is refused, and past MaxConns connections the next
// waits until one ends (a red team grew the host's process to 2.2 GB with
// 1,500 unfinished 1 MB heads).
func TestProxyBoundsWhatItHolds(t *testing.T) {
	proxy, _ := startProxy(t, "127.0.0.1:1")
	c, err := net.Dial("tcp", proxy)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET http://allowed.test/ HTTP/1.1\r\nHost: allowed.test\r\nX-Pad: %s\r\n\r\n", strings.Repeat("a", 2*MaxHeaderBytes))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("a %d-byte head: %v %v, want 431", 2*MaxHeaderBytes, resp, err)
	}
	c.Close()

	held := make([]net.Conn, MaxConns)
	for i := range held {
		if held[i], err = net.Dial("tcp", proxy); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(held[i], "GET http://allowed.test/ HTTP/1.1\r\n") // a head never finished
	}
	defer func() {
		for _, h := range held {
			if h != nil {
				h.Close()
			}
		}
	}()
	ask := func(wait time.Duration) (*http.Response, error) {
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(wait))
		fmt.Fprintf(c, "GET http://denied.test/ HTTP/1.1\r\nHost: denied.test\r\n\r\n")
		return http.ReadResponse(bufio.NewReader(c), nil)
	}
	if resp, err := ask(time.Second); err == nil {
		t.Errorf("with %d connections held, another was served: %v", MaxConns, resp.Status)
	}
	held[0].Close()
	held[0] = nil
	if resp, err := ask(10 * time.Second); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("with one of %d connections closed: %v %v, want 403", MaxConns, resp, err)
	}
}

// A tunnel passed through untouched carries TLS only for the host the
// allowlist judged: a ClientHello that asks for another name is refused
// before a byte of it reaches the upstream (domain fronting: CONNECT
// allowed.test, SNI evil.test, answered by a front end serving both; a red
// team). The same name, any case or a trailing dot, and a protocol that is
// not TLS go through.
func TestTunnelRefusesAnotherTLSName(t *testing.T) {
	ul, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	got := make(chan []byte, 16)
	go func() {
		for {
			c, err := ul.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				b := make([]byte, 64)
				n, _ := io.ReadAtLeast(c, b, 1)
				got <- b[:n]
			}()
		}
	}()
	proxy, events := startProxy(t, ul.Addr().String())
	tunnel := func(first func(net.Conn)) (reached bool) {
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n")
		br := bufio.NewReader(c)
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("CONNECT: %v %v", resp, err)
		}
		first(c)
		select {
		case b := <-got:
			return len(b) > 0
		case <-time.After(3 * time.Second):
			return false
		}
	}
	hello := func(name string) func(net.Conn) {
		return func(c net.Conn) {
			tc := tls.Client(c, &tls.Config{ServerName: name, InsecureSkipVerify: true})
			tc.SetDeadline(time.Now().Add(500 * time.Millisecond))
			go tc.Handshake()
		}
	}
	for name, want := range map[string]bool{"evil.test": false, "allowed.test.evil.test": false, "allowed.test": true, "ALLOWED.test.": true} {
		if reached := tunnel(hello(name)); reached != want {
			t.Errorf("a ClientHello for %q through a tunnel to allowed.test reached the upstream: %v, want %v", name, reached, want)
		}
	}
	if !tunnel(func(c net.Conn) { io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n") }) {
		t.Errorf("a protocol that is not TLS did not go through")
	}
	var refused bool
	for _, e := range events() {
		refused = refused || !e.Allowed && strings.Contains(e.Reason, "evil.test")
	}
	if !refused {
		t.Errorf("no refusal naming the TLS name was reported: %+v", events())
	}
}
