package sandbox

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/sandbox/egress"
)

// With the allowlist "*" (BULWARK_ALLOWED_DOMAINS=*), code in the sandbox
// reaches any public name through the proxy, and still no address
// (loopback, private, metadata) nor a name that resolves to one.
func TestProxyAnyHostFromSandbox(t *testing.T) {
	requireSandbox(t)
	upstream := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "upstream-ok") })}
	ul, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go upstream.Serve(ul)
	defer upstream.Close()
	real := &egress.Dialer{Lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
		switch host {
		case "rebound.test":
			return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
		case "intranet.test":
			return []netip.Addr{netip.MustParseAddr("10.0.0.7")}, nil
		}
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}}
	spec := Spec{
		AllowDomains: []string{"*"},
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == "public.test:80" { // stands for a public host
				var d net.Dialer
				return d.DialContext(ctx, network, ul.Addr().String())
			}
			return real.DialContext(ctx, network, addr)
		},
	}
	res := py(t, spec, `
import urllib.request, urllib.error
def get(url):
    try:
        return urllib.request.urlopen(url, timeout=10).read().decode()
    except urllib.error.HTTPError as e:
        return "HTTP %d" % e.code
    except Exception as e:
        return "ERR %s" % e
print("public:", get("http://public.test/"))
print("loopback:", get("http://127.0.0.1/"))
print("private:", get("http://10.1.2.3/"))
print("metadata:", get("http://169.254.169.254/latest/meta-data/"))
print("rebound:", get("http://rebound.test/"))
print("intranet:", get("http://intranet.test/"))
`)
	out := string(res.Stdout)
	for _, want := range []string{"public: upstream-ok", "loopback: HTTP 403", "private: HTTP 403", "metadata: HTTP 403", "rebound: HTTP 502", "intranet: HTTP 502"} {
		if !strings.Contains(out, want) {
			t.Errorf("allowlist * from the sandbox: want %q in:\n%s\n%s", want, out, res.Stderr)
		}
	}
}
