package egress

import (
	"bufio"
	"context"
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
)

// TestAnyHostPattern: "*" allows every host name and still no address, in
// any spelling: BULWARK_ALLOWED_DOMAINS=* is "any public host", not "any
// host".
func TestAnyHostPattern(t *testing.T) {
	for _, s := range []string{"*", " * ", "*."} {
		p, err := ParsePattern(s)
		if err != nil || !p.IsAny() || p.String() != "*" {
			t.Fatalf("ParsePattern(%q) = %v, %v; want the any-host pattern", s, p, err)
		}
	}
	for _, bad := range []string{"**", "*x", "*.*", "x.*", "*.*.com"} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("ParsePattern(%q) accepted a pattern that is not a host name, *.domain or *", bad)
		}
	}
	l, err := ParseAllowlist([]string{"*"})
	if err != nil || !l.AnyHost() {
		t.Fatalf("ParseAllowlist([*]) = %v, %v", l, err)
	}
	for _, h := range []string{"example.com", "docs.python.org", "EXAMPLE.com.", "xn--bcher-kva.example", "localhost"} {
		if !l.Allows(h) {
			t.Errorf("* refused the name %q", h)
		}
	}
	for _, tt := range parseHostTests {
		if tt.name == "" && l.Allows(tt.host) {
			t.Errorf("* allowed the address %q", tt.host)
		}
	}
	for _, h := range []string{"127.0.0.1", "10.1.2.3", "169.254.169.254", "[::1]", "2130706433", "0x7f.1", "", "a b", "exa_mple..com"} {
		if l.Allows(h) {
			t.Errorf("* allowed %q", h)
		}
	}
	if (Allowlist{{host: "example.com"}}).AnyHost() {
		t.Error("an allowlist without * reports AnyHost")
	}
}

// TestSecretNotBoundToEveryHost: a secret bound to "*" would go wherever
// the code sends it; the binding is refused where it is made and where the
// proxy is prepared.
func TestSecretNotBoundToEveryHost(t *testing.T) {
	for _, hosts := range [][]string{{"*"}, {"api.example.com", "*"}, {"*."}} {
		if _, err := BindingHosts(hosts); err == nil || !strings.Contains(err.Error(), "every host") {
			t.Errorf("BindingHosts(%q) = %v, want a refusal that says why", hosts, err)
		}
	}
	any, _ := ParseAllowlist([]string{"*"})
	if _, err := NewIntercept([]Secret{{Name: "K", Placeholder: "{{secret:K}}", Value: "v-123456789", Hosts: any}}); err == nil {
		t.Error("NewIntercept accepted a secret bound to every host")
	}
}

// TestProxyAnyHost: the sandbox's proxy with the allowlist "*" lets a
// public name through and still refuses addresses (loopback, private,
// metadata) and names that resolve to them.
func TestProxyAnyHost(t *testing.T) {
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream-ok") })}
	ul, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go upstream.Serve(ul)
	defer upstream.Close()

	// The real Dialer, with a resolver that sends the test's names where
	// an attacker's DNS would.
	real := &Dialer{Lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "loopback.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		case "private.test":
			return []netip.Addr{netip.MustParseAddr("10.0.0.7")}, nil
		case "metadata.test":
			return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
		}
		return nil, errors.New("no such host")
	}}
	allow, err := ParseAllowlist([]string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var evs []Event
	p := &Proxy{
		Allow: allow,
		Dial: func(ctx context.Context, network, a string) (net.Conn, error) {
			if strings.HasPrefix(a, "public.test:") {
				// Stands for a public host: only the allowlist is tested here.
				return (&net.Dialer{}).DialContext(ctx, network, ul.Addr().String())
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
	defer p.Close()
	proxy := l.Addr().String()

	client := &http.Client{Transport: &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return url.Parse("http://" + proxy) }}}
	for _, tt := range []struct {
		url  string
		want int
	}{
		{"http://public.test/", 200},
		{"http://127.0.0.1/", 403},
		{"http://10.1.2.3/", 403},
		{"http://169.254.169.254/latest/meta-data/", 403},
		{"http://2130706433/", 403},
		{"http://loopback.test/", 502},
		{"http://private.test/", 502},
		{"http://metadata.test/latest/meta-data/", 502},
	} {
		resp, err := client.Get(tt.url)
		if err != nil {
			t.Fatalf("GET %s: %v", tt.url, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s through the proxy with allowlist * = %d (%s), want %d", tt.url, resp.StatusCode, body, tt.want)
		}
	}
	for _, tt := range []struct {
		target string
		want   int
	}{
		{"public.test:443", 200},
		{"127.0.0.1:443", 403},
		{"10.1.2.3:443", 403},
		{"169.254.169.254:80", 403},
		{"[::1]:443", 403},
		{"loopback.test:443", 502},
		{"metadata.test:80", 502},
	} {
		c, err := net.Dial("tcp", proxy)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", tt.target, tt.target)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || resp.StatusCode != tt.want {
			t.Errorf("CONNECT %s with allowlist * = %v (%v), want %d", tt.target, resp, err, tt.want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, e := range evs {
		if strings.HasSuffix(e.Host, ".test") && e.Host != "public.test" && (e.Allowed || !strings.Contains(e.Reason, "not public")) {
			t.Errorf("event for %s = %+v, want refused by the address check", e.Host, e)
		}
	}
}
