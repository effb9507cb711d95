package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/tool"
)

// testNames are what the fake resolver answers; names of the allowlist
// that resolve to non-public addresses must be refused at dial time.
var testNames = map[string][]string{
	"loopback.test":   {"127.0.0.1"},
	"private.test":    {"10.1.2.3"},
	"metadata.test":   {"169.254.169.254"},
	"cgnat.test":      {"100.64.0.1"},
	"mapped.test":     {"::ffff:127.0.0.1"},
	"nat64.test":      {"64:ff9b::a9fe:a9fe"},
	"nat64b.test":     {"64:ff9b:1::a00:1"},
	"sixtofour.test":  {"2002:7f00:1::1"},
	"teredo.test":     {"2001:0:4136:e378:8000:63bf:3fff:fdd2"},
	"linklocal6.test": {"fe80::1"},
	"unspec.test":     {"0.0.0.0"},
	"multicast.test":  {"224.0.0.1"},
	"ula.test":        {"fd12:3456::1"},
	"mixed.test":      {"10.0.0.1", "192.168.0.1"},
}

// newFetcher returns fetch_url with an allowlist of allowed.test (served by
// h through a test-only dial hook), every testNames name, and cfg's limits.
// Every other name goes through the real egress.Dialer with the fake
// resolver, so the production address check decides.
func newFetcher(t *testing.T, h http.Handler, cfg Config) (tool.Tool, *atomic.Int32) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	var lookups atomic.Int32
	real := &egress.Dialer{Lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
		lookups.Add(1)
		var ips []netip.Addr
		for _, a := range testNames[host] {
			ips = append(ips, netip.MustParseAddr(a))
		}
		if ips == nil {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		return ips, nil
	}}
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if host, _, _ := net.SplitHostPort(addr); host == "allowed.test" || host == "other.allowed.test" {
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Listener.Addr().String())
		}
		return real.DialContext(ctx, network, addr)
	}
	if cfg.Allow == nil {
		entries := []string{"allowed.test", "*.allowed.test"}
		for n := range testNames {
			entries = append(entries, n)
		}
		var err error
		if cfg.Allow, err = egress.ParseAllowlist(entries); err != nil {
			t.Fatal(err)
		}
	}
	return FetchURL(cfg), &lookups
}

func fetch(t *testing.T, tl tool.Tool, u string) (tool.Result, error) {
	t.Helper()
	args, _ := json.Marshal(map[string]string{"url": u})
	return tl.Run(context.Background(), &tool.Env{}, args)
}

// ssrfURLs must all be refused, before or at the dial.
var ssrfURLs = []string{
	"http://127.0.0.1/", "http://2130706433/", "http://017700000001/", "http://0x7f000001/",
	"http://0177.0.0.1/", "http://0x7f.1/", "http://127.1/", "http://0/", "http://127.0.0.1./",
	"http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:7f00:1]/", "http://[fe80::1%25eth0]/",
	"http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b:1::a00:1]/", "http://[2002:7f00:1::]/",
	"http://169.254.169.254/latest/meta-data/", "http://0xa9fea9fe/", "http://169.254.43518/",
	"http://%31%32%37.0.0.1/", "http://１２７.０.０.１/", "http://10.0.0.1/", "http://100.64.0.1/",
	"http://[::]/", "http://224.0.0.1/", "http://localhost/",
	"http://user:pw@allowed.test/", "file:///etc/passwd", "gopher://allowed.test/", "ftp://allowed.test/",
	"http://allowed.test:22/", "//allowed.test/", "http://notallowed.test/", "http://allowed.test.evil.net/",
	"javascript:alert(1)", "http://[::1", "http://1.2.3.256/",
}

func TestFetchRefusesSSRF(t *testing.T) {
	tl, _ := newFetcher(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("the server was reached for %s", r.URL)
	}), Config{})
	urls := append([]string(nil), ssrfURLs...)
	for n := range testNames {
		urls = append(urls, "http://"+n+"/", "https://"+n+"/x")
	}
	for _, u := range urls {
		res, err := fetch(t, tl, u)
		if err == nil {
			t.Errorf("fetch_url(%q) = %q, want a refusal", u, res.Output)
			continue
		}
		if k := bulwark.ErrorKind(err); k != bulwark.PermissionDenied && k != bulwark.Invalid {
			t.Errorf("fetch_url(%q) = %v (kind %v), want PermissionDenied or Invalid", u, err, k)
		}
	}
}

// TestFetchNamesResolvingPrivate: the refusal of an allowlisted name comes
// from the dial-time address check, and says so.
func TestFetchNamesResolvingPrivate(t *testing.T) {
	tl, lookups := newFetcher(t, http.NotFoundHandler(), Config{})
	for n := range testNames {
		_, err := fetch(t, tl, "http://"+n+"/")
		if !errors.Is(err, egress.ErrForbiddenAddress) {
			t.Errorf("fetch_url(http://%s/) = %v, want the address check's refusal", n, err)
		} else if !strings.Contains(bulwark.ErrorMessage(err), "private or special address") {
			t.Errorf("fetch_url(http://%s/) message %q does not say why", n, bulwark.ErrorMessage(err))
		}
	}
	if lookups.Load() == 0 {
		t.Error("the resolver was never asked: the check did not run at dial time")
	}
}

// TestFetchRebinding: a name that answers a public address first and a
// private one next is refused, because only the dial's own lookup counts.
func TestFetchRebinding(t *testing.T) {
	var n atomic.Int32
	d := &egress.Dialer{Lookup: func(context.Context, string) ([]netip.Addr, error) {
		if n.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}}
	allow, _ := egress.ParseAllowlist([]string{"rebind.test"})
	tl := FetchURL(Config{Allow: allow, Dial: d.DialContext})
	// Someone checked the name and saw a public address...
	if ips, _ := d.Lookup(context.Background(), "rebind.test"); egress.CheckIP(ips[0]) != nil {
		t.Fatal("first answer should be public")
	}
	// ...the fetch resolves again, gets loopback, and is refused.
	_, err := fetch(t, tl, "http://rebind.test/")
	if !errors.Is(err, egress.ErrForbiddenAddress) {
		t.Errorf("fetch after rebinding = %v, want ErrForbiddenAddress", err)
	}
}

func TestFetchRedirects(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/to-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/to-decimal", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://2130706433/", http.StatusFound)
	})
	mux.HandleFunc("/to-private-name", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://private.test/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/to-other-domain", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://evil.example/", http.StatusFound)
	})
	mux.HandleFunc("/to-file", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "file:///etc/passwd")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/loop/{n}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop/x"+r.PathValue("n"), http.StatusFound)
	})
	mux.HandleFunc("/chain/{n}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		fmt.Sscan(r.PathValue("n"), &n)
		if n == 0 {
			io.WriteString(w, "end of chain")
			return
		}
		http.Redirect(w, r, fmt.Sprintf("http://other.allowed.test/chain/%d", n-1), http.StatusFound)
	})
	tl, _ := newFetcher(t, mux, Config{MaxRedirects: 3})
	for _, tt := range []struct {
		path, want string // want: a part of the error message
	}{
		{"/to-metadata", "IP address"},
		{"/to-decimal", "IP address"},
		{"/to-private-name", "allowed.test redirected to private.test, which resolves to a private or special address"}, // the redirect's host named (red team, session 42)
		{"/to-other-domain", "not on this task's allowlist"},
		{"/to-file", "only http and https"},
		{"/loop/1", "redirected more than 3 times"},
		{"/chain/4", "redirected more than 3 times"},
	} {
		res, err := fetch(t, tl, "http://allowed.test"+tt.path)
		if err == nil {
			t.Errorf("fetch_url(%s) = %q, want a refusal", tt.path, res.Output)
			continue
		}
		if msg := bulwark.ErrorMessage(err); !strings.Contains(msg, tt.want) {
			t.Errorf("fetch_url(%s) = %q, want it to say %q", tt.path, msg, tt.want)
		}
	}
	res, err := fetch(t, tl, "http://allowed.test/chain/3")
	if err != nil || !strings.Contains(res.Output, "end of chain") || !strings.Contains(res.Output, "URL: http://other.allowed.test/chain/0") {
		t.Errorf("fetch_url(/chain/3) = %q, %v; want the end of a 3-redirect chain", res.Output, err)
	}
}

func TestFetchNoDomains(t *testing.T) {
	for _, cfg := range []Config{{}, {Allow: egress.Allowlist{}}} {
		_, err := fetch(t, FetchURL(cfg), "https://example.com/")
		if err == nil || !strings.Contains(bulwark.ErrorMessage(err), "web access is off") {
			t.Errorf("fetch_url with no allowed domains = %v, want 'web access is off'", err)
		}
	}
}

func TestFetchLimits(t *testing.T) {
	stall := make(chan struct{})
	t.Cleanup(func() { close(stall) })
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, strings.Repeat("a", 1020)+"END-OF-FIRST-KIB"+strings.Repeat("b", 10_000))
	})
	mux.HandleFunc("/image", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("\x89PNG\r\n\x1a\n"))
	})
	mux.HandleFunc("/binary", func(w http.ResponseWriter, r *http.Request) {
		w.Header()["Content-Type"] = nil // no type: sniffed
		w.Write([]byte{0, 1, 2, 3, 0xff, 0xfe, 0, 0})
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
		io.WriteString(w, `{"a": 1}`)
	})
	mux.HandleFunc("/latin1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=iso-8859-1")
		w.Write([]byte("caf\xe9"))
	})
	mux.HandleFunc("/stall-headers", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/stall-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "start")
		w.(http.Flusher).Flush()
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such page", http.StatusNotFound)
	})
	tl, _ := newFetcher(t, mux, Config{MaxBytes: 1024, Timeout: 300 * time.Millisecond})

	res, err := fetch(t, tl, "http://allowed.test/big")
	if err != nil || !strings.Contains(res.Output, "rest was dropped") || strings.Contains(res.Output, "END-OF-FIRST-KIB") || strings.Contains(res.Output, "b") && strings.Count(res.Output, "b") > 10 {
		t.Errorf("fetch_url(/big) with a 1 KiB limit = %q, %v; want 1 KiB and a note", res.Output, err)
	}
	if !res.Untrusted {
		t.Error("a fetched page is not marked Untrusted")
	}
	for _, tt := range []struct{ path, want string }{
		{"/image", `"image/png"`},
		{"/binary", `"application/octet-stream"`},
		{"/stall-headers", "did not answer within"},
		{"/stall-body", "did not answer within"},
	} {
		res, err := fetch(t, tl, "http://allowed.test"+tt.path)
		if err == nil || !strings.Contains(bulwark.ErrorMessage(err), tt.want) {
			t.Errorf("fetch_url(%s) = %q, %v; want an error saying %s", tt.path, res.Output, err, tt.want)
		}
	}
	if res, err := fetch(t, tl, "http://allowed.test/json"); err != nil || !strings.Contains(res.Output, `{"a": 1}`) {
		t.Errorf("fetch_url(/json) = %q, %v", res.Output, err)
	}
	if res, err := fetch(t, tl, "http://allowed.test/latin1"); err != nil || !strings.HasSuffix(res.Output, "café") {
		t.Errorf("fetch_url(/latin1) = %q, %v; want café in UTF-8", res.Output, err)
	}
	if res, err := fetch(t, tl, "http://allowed.test/missing"); err != nil || !res.IsError || !strings.Contains(res.Output, "404") {
		t.Errorf("fetch_url(/missing) = %+v, %v; want an error result with the status", res, err)
	}
}

func TestFetchHTML(t *testing.T) {
	tl, _ := newFetcher(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, `<html><head><title>T</title><script>evil()</script></head>
<body><p>Hello <a href="/about#x">about us</a>.</p></body></html>`)
	}), Config{})
	res, err := fetch(t, tl, "http://allowed.test/page#frag")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"URL: http://allowed.test/page\n", "Hello about us [1].", "[1] http://allowed.test/about#x"} {
		if !strings.Contains(res.Output, want) {
			t.Errorf("fetch_url output %q lacks %q", res.Output, want)
		}
	}
	if strings.Contains(res.Output, "evil") {
		t.Errorf("fetch_url output %q keeps a script", res.Output)
	}
}

// A redirect is judged by env.CheckEffects as the first URL was judged by
// the policy: a page on an allowed URL cannot send the fetch to a refused
// one, and the refused one is never requested.
func TestFetchRedirectJudgedByPolicy(t *testing.T) {
	var privateHit atomic.Int32
	tl, _ := newFetcher(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/go":
			http.Redirect(w, r, "http://ALLOWED.test./a/../private/x", http.StatusFound)
		case "/private/x":
			privateHit.Add(1)
			fmt.Fprint(w, "secret page")
		default:
			fmt.Fprint(w, "public page")
		}
	}), Config{})
	var seen []string
	env := &tool.Env{CheckEffects: func(_ context.Context, _ tool.Tool, e tool.Effects) error {
		seen = append(seen, e.URLs...)
		if bulwark.Glob("http://allowed.test/private/*", e.URLs[0]) {
			return bulwark.Errorf(bulwark.PermissionDenied, "test", "refused by the test policy")
		}
		return nil
	}}
	args, _ := json.Marshal(map[string]string{"url": "http://allowed.test/go"})
	_, err := tl.Run(context.Background(), env, args)
	if err == nil || !strings.Contains(bulwark.ErrorMessage(err), "refused by the test policy") {
		t.Errorf("fetch through a redirect to a refused URL: err %v, want the policy's refusal", err)
	}
	if privateHit.Load() != 0 {
		t.Errorf("the refused URL was requested")
	}
	if len(seen) != 1 || seen[0] != "http://allowed.test/private/x" {
		t.Errorf("CheckEffects saw %q, want the redirect's canonical URL", seen)
	}
	// Without a refusal the redirect is followed.
	env.CheckEffects = func(context.Context, tool.Tool, tool.Effects) error { return nil }
	res, err := tl.Run(context.Background(), env, args)
	if err != nil || !strings.Contains(res.Output, "secret page") {
		t.Errorf("allowed redirect: %v %q", err, res.Output)
	}
}
