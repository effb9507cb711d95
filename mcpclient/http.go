package mcpclient

// This file is the HTTP side of Connect: the client an HTTP server is
// reached with, under the egress rules.

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
)

// refusal is a request the HTTP client refused to send (egress rules).
type refusal struct {
	kind bulwark.Kind
	msg  string
}

func (r *refusal) Error() string { return r.msg }

// httpClient is the client for sc's URL: headers added to requests to the
// configured origin only; for an untrusted server every request's host
// must be on allow (redirects and an SSE endpoint included) and every dial
// goes through the SSRF-checking dialer.
func (s *Session) httpClient(sc Server, allow egress.Allowlist) (*http.Client, error) {
	const op = "mcpclient.Connect"
	u, err := url.Parse(sc.URL)
	if err != nil {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "MCP server %q: the URL cannot be read", sc.Name)
	}
	headers := http.Header{}
	for _, k := range slices.Sorted(maps.Keys(sc.Headers)) {
		v, err := fill(sc.Name, "headers", sc.Headers[k], s.opts.Secrets)
		if err != nil {
			return nil, err
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, bulwark.Errorf(bulwark.Invalid, op, "MCP server %q, header %s: a secret's value holds a line break, which a header cannot carry", sc.Name, k)
		}
		headers.Set(k, v)
	}
	rt := &guard{origin: origin(u), headers: headers, trusted: sc.Trusted, allow: allow, lim: newServerLimiter()}
	if !sc.Trusted {
		if err := rt.check(u); err != nil {
			var r *refusal
			errors.As(err, &r)
			return nil, bulwark.Errorf(r.kind, op, "MCP server %q did not start: %s", sc.Name, r.msg)
		}
	}
	dial := s.opts.Dial
	if dial == nil {
		if sc.Trusted {
			dial = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
		} else {
			dial = (&egress.Dialer{}).DialContext
		}
	}
	rt.base = &http.Transport{
		Proxy:                  nil, // never an environment proxy: the dialer is the check
		DialContext:            dial,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		IdleConnTimeout:        30 * time.Second,
	}
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return &refusal{bulwark.Unavailable, "too many redirects"}
			}
			return rt.check(req.URL)
		},
	}, nil
}

func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// guard is the RoundTripper of an HTTP server.
type guard struct {
	base    http.RoundTripper
	origin  string
	headers http.Header
	trusted bool
	allow   egress.Allowlist
	// lim is what the server may send, all its answers and event streams
	// together (throttle.go).
	lim *rate.Limiter
}

// check refuses a URL the server's requests must not go to.
func (g *guard) check(u *url.URL) error {
	if u.Scheme != "http" && u.Scheme != "https" {
		return &refusal{bulwark.Invalid, fmt.Sprintf("only http and https URLs are used, not %q", u.Scheme+":")}
	}
	if u.User != nil {
		return &refusal{bulwark.Invalid, "a URL with a user name or password is not used"}
	}
	if g.trusted {
		return nil
	}
	name, ip, err := egress.ParseHost(u.Hostname())
	switch {
	case err != nil:
		return &refusal{bulwark.Invalid, fmt.Sprintf("%q is not a valid host name", u.Hostname())}
	case ip.IsValid():
		return &refusal{bulwark.Invalid, fmt.Sprintf("%s is an IP address; a tenant's MCP server must be a domain name on the allowlist", u.Hostname())}
	case !g.allow.Allows(name):
		return &refusal{bulwark.Invalid, fmt.Sprintf("the domain %s is not on the allowlist of allowed domains", name)}
	}
	return nil
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := g.check(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if len(g.headers) > 0 && origin(req.URL) == g.origin {
		req = req.Clone(req.Context())
		for k, v := range g.headers {
			req.Header[k] = slices.Clone(v)
		}
	}
	resp, err := g.base.RoundTrip(req)
	if err != nil && errors.Is(err, egress.ErrForbiddenAddress) {
		return nil, &refusal{bulwark.Invalid, fmt.Sprintf("%s resolves to an address that is not public (%v)", req.URL.Hostname(), err)}
	}
	if err == nil && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		// The SDK reads a JSON answer whole; an event stream is capped
		// per event by the SDK.
		resp.Body = &cappedBody{ReadCloser: resp.Body, left: MaxResponse}
	}
	if err == nil && g.lim != nil {
		resp.Body = &throttled{ReadCloser: resp.Body, ctx: req.Context(), lim: g.lim}
	}
	return resp, err
}

// MaxResponse caps an HTTP server's answer that is not an event stream.
const MaxResponse = 16 << 20

// cappedBody fails a read past its limit.
type cappedBody struct {
	io.ReadCloser
	left int64
}

func (c *cappedBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, fmt.Errorf("the MCP server's answer is over %d bytes", MaxResponse)
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.ReadCloser.Read(p)
	c.left -= int64(n)
	return n, err
}
