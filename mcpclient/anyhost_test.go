package mcpclient

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/sandbox/egress"
)

// TestUntrustedURLsAnyHost: a tenant whose allowed_domains is ["*"] may
// name an MCP server on any public host, and still on no address nor a
// name (or a redirect) that leads to a loopback or private one: "*"
// widens the names, the dial-time check stays.
func TestUntrustedURLsAnyHost(t *testing.T) {
	ts := newTestServer(t)
	hs := ts.serveHTTP(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(hs.URL, "http://"))
	fake := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, _ := net.SplitHostPort(addr)
		switch host {
		case "mcp.anywhere.example":
			return (&net.Dialer{}).DialContext(ctx, network, "127.0.0.1:"+port)
		case "redirect.example.com":
			rs := httptest.NewServer(http.RedirectHandler("http://localhost:"+port+"/", http.StatusTemporaryRedirect))
			t.Cleanup(rs.Close)
			return (&net.Dialer{}).DialContext(ctx, network, rs.Listener.Addr().String())
		}
		return (&egress.Dialer{}).DialContext(ctx, network, addr)
	}
	for _, tt := range []struct{ url, want string }{
		{"http://mcp.anywhere.example/", ""},
		{hs.URL, "is an IP address"},
		{"http://localhost:" + port + "/", "not public"},
		{"http://10.0.0.1/", "is an IP address"},
		{"http://169.254.169.254/", "is an IP address"},
		{"http://2130706433:" + port + "/", "is an IP address"},
		{"http://redirect.example.com/", "not public"},
	} {
		cfg, err := Parse([]byte(`{"mcpServers":{"remote":{"url":"`+tt.url+`"}}}`), false)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Connect(context.Background(), cfg, Options{AllowDomains: []string{"*"}, Dial: fake, StartTimeout: 10 * time.Second})
		if tt.want == "" {
			if err != nil {
				t.Errorf("Connect(%s) under *: %v", tt.url, err)
			} else {
				s.Close()
			}
			continue
		}
		if err == nil {
			s.Close()
			t.Errorf("Connect(%s) under * succeeded", tt.url)
		} else if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Connect(%s) under * = %v; want %q", tt.url, err, tt.want)
		}
	}
}
