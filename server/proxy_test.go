package server

import (
	"crypto/tls"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,,")
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"), netip.MustParsePrefix("2001:db8::/32")}
	if err != nil || len(got) != len(want) {
		t.Fatalf("ParseTrustedProxies = %v, %v, want %v", got, err, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("ParseTrustedProxies[%d] = %v, want %v", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "10.0.0.1/8/2"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) = nil error, want one", bad)
		}
	}
}

var resolveClientTests = []struct {
	name  string
	peer  string
	xff   []string
	proto string
	tls   bool
	want  string
	https bool
}{
	{"no proxy header", "198.51.100.9:1", nil, "", false, "198.51.100.9", false},
	{"untrusted peer's headers ignored", "198.51.100.9:1", []string{"203.0.113.5"}, "https", false, "198.51.100.9", false},
	{"trusted proxy, one hop", "10.0.0.2:1", []string{"203.0.113.5"}, "https", false, "203.0.113.5", true},
	{"client-written hops left of the client ignored", "10.0.0.2:1", []string{"1.2.3.4, 203.0.113.5"}, "https", false, "203.0.113.5", true},
	{"two trusted proxies", "10.0.0.2:1", []string{"203.0.113.5, 10.0.0.3"}, "http", false, "203.0.113.5", false},
	{"header lines joined", "10.0.0.2:1", []string{"6.6.6.6", "203.0.113.5"}, "", false, "203.0.113.5", false},
	{"garbage hop stops the walk", "10.0.0.2:1", []string{"203.0.113.5, not-an-ip"}, "", false, "10.0.0.2", false},
	{"only trusted hops", "10.0.0.2:1", []string{"10.0.0.7"}, "", false, "10.0.0.7", false},
	{"TLS to us", "198.51.100.9:1", nil, "", true, "198.51.100.9", true},
	{"trusted proxy says http over our TLS", "10.0.0.2:1", nil, "http", true, "10.0.0.2", false},
	{"IPv4-mapped peer", "[::ffff:10.0.0.2]:1", []string{"203.0.113.5"}, "https", false, "203.0.113.5", true},
	{"hop with a port", "10.0.0.2:1", []string{"203.0.113.5:4711"}, "", false, "203.0.113.5", false},
	{"IPv6 hop in brackets with a port", "10.0.0.2:1", []string{"[2001:db8::7]:4711"}, "", false, "2001:db8::7", false},
	{"IPv6 hop in brackets", "10.0.0.2:1", []string{"[2001:db8::7]"}, "", false, "2001:db8::7", false},
	{"IPv6 hop with a zone", "10.0.0.2:1", []string{"fe80::1%eth0"}, "", false, "fe80::1", false},
	{"many hops, the client's own ignored", "10.0.0.2:1", []string{strings.Repeat("6.6.6.6, ", 500) + "203.0.113.5, 10.0.0.9"}, "", false, "203.0.113.5", false},
}

func TestResolveClient(t *testing.T) {
	t.Parallel()
	s := &Server{cfg: Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}}
	for _, c := range resolveClientTests {
		r := httptest.NewRequest("GET", "http://bulwark.test/", nil)
		r.RemoteAddr = c.peer
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if c.proto != "" {
			r.Header.Set("X-Forwarded-Proto", c.proto)
		}
		r.TLS = nil
		if c.tls {
			r.TLS = &tls.ConnectionState{}
		}
		got := s.resolveClient(r)
		if got.addr.String() != c.want || got.https != c.https {
			t.Errorf("%s: resolveClient = %v https=%v, want %s https=%v", c.name, got.addr, got.https, c.want, c.https)
		}
	}
}

// TestTrustedProxyEndToEnd: behind a trusted proxy, HSTS follows
// X-Forwarded-Proto and failed logins are charged to (and audited as)
// the forwarded client; the same headers from anyone else change nothing.
func TestTrustedProxyEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff, func(c *Config) { c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")} })
	a := e.tenant("a")
	send := func(peer, xff, proto string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "http://bulwark.test/api/v1/login", strings.NewReader(loginBody(a.users[bulwark.RoleOwner].Email, "wrong password!")))
		r.RemoteAddr = peer
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("X-Forwarded-Proto", proto)
		w := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(w, r)
		return w
	}
	w := send("10.0.0.2:5555", "203.0.113.5", "https")
	if w.Header().Get("Strict-Transport-Security") != hsts {
		t.Errorf("HSTS behind a trusted TLS proxy = %q, want %q", w.Header().Get("Strict-Transport-Security"), hsts)
	}
	w = send("198.51.100.9:5555", "203.0.113.6", "https")
	if got := w.Header().Get("Strict-Transport-Security"); got != "" {
		t.Errorf("HSTS from an untrusted peer's X-Forwarded-Proto = %q, want none", got)
	}
	w = send("10.0.0.2:5555", "203.0.113.7", "http")
	if got := w.Header().Get("Strict-Transport-Security"); got != "" {
		t.Errorf("HSTS behind a trusted plain-HTTP proxy = %q, want none", got)
	}
	clients := map[string]bool{}
	for _, rec := range e.audited("auth.login_failed") {
		clients[rec.Details["client"]] = true
	}
	for _, want := range []string{"203.0.113.5", "198.51.100.9", "203.0.113.7"} {
		if !clients[want] {
			t.Errorf("no failed login audited from client %s; clients audited: %v", want, clients)
		}
	}
	if clients["203.0.113.6"] || clients["10.0.0.2"] {
		t.Errorf("an untrusted X-Forwarded-For or the proxy itself was taken as the client: %v", clients)
	}
}
