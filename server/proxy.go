package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Behind a reverse proxy every connection comes from the proxy, so the
// client's address and whether it used HTTPS are only in the headers the
// proxy adds: X-Forwarded-For and X-Forwarded-Proto. Anybody can send
// those headers, so they are read only when the connection comes from a
// proxy the operator trusts (Config.TrustedProxies,
// BULWARK_TRUSTED_PROXIES), and X-Forwarded-For is read from the right:
// each proxy appends the address it saw, so the rightmost address that is
// not a trusted proxy is the client; whatever is left of it the client
// could have written itself.

// ParseTrustedProxies parses a comma-separated list of CIDR prefixes or
// single addresses ("10.0.0.0/8, 192.0.2.7") as BULWARK_TRUSTED_PROXIES
// holds them. An empty list trusts no proxy.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: want an address or a CIDR prefix such as 10.0.0.0/8", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// client is where a request came from, as resolved once by the base
// middleware.
type client struct {
	addr  netip.Addr // the client's address; invalid when the peer's could not be read
	https bool       // the client's connection to us, or to the trusted proxy, was HTTPS
}

type clientKey struct{}

// resolveClient finds the request's client: the connection's peer, or,
// when the peer is a trusted proxy, the rightmost untrusted address of
// X-Forwarded-For and the scheme of X-Forwarded-Proto.
func (s *Server) resolveClient(r *http.Request) client {
	c := client{https: r.TLS != nil}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return c
	}
	c.addr = peer.Unmap().WithZone("")
	if !s.trusted(c.addr) {
		return c
	}
	hops := forwardedFor(r.Header.Values("X-Forwarded-For"))
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := parseHop(hops[i])
		if err != nil {
			break // a hop no proxy of ours wrote: trust nothing left of it
		}
		c.addr = a.Unmap().WithZone("")
		if !s.trusted(c.addr) {
			break
		}
	}
	if protos := r.Header.Values("X-Forwarded-Proto"); len(protos) > 0 {
		// The nearest proxy's value is the last one.
		all := strings.Split(protos[len(protos)-1], ",")
		switch strings.ToLower(strings.TrimSpace(all[len(all)-1])) {
		case "https":
			c.https = true
		case "http":
			c.https = false
		}
	}
	return c
}

// parseHop reads one X-Forwarded-For entry: an address, as most proxies
// write it, or an address with a port ("203.0.113.5:4711",
// "[2001:db8::7]:4711") or in brackets, as some do.
func parseHop(h string) (netip.Addr, error) {
	h = strings.TrimSpace(h)
	if a, err := netip.ParseAddr(h); err == nil {
		return a, nil
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr(), nil
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		return netip.ParseAddr(h[1 : len(h)-1])
	}
	return netip.Addr{}, fmt.Errorf("not an address: %q", h)
}

func forwardedFor(values []string) []string {
	var hops []string
	for _, v := range values {
		hops = append(hops, strings.Split(v, ",")...)
	}
	return hops
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func withClient(ctx context.Context, c client) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// clientOf returns the request's client as the base middleware resolved
// it (the peer, for a request that did not go through it).
func clientOf(r *http.Request) client {
	if c, ok := r.Context().Value(clientKey{}).(client); ok {
		return c
	}
	c := client{https: r.TLS != nil}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		c.addr = a.Unmap().WithZone("")
	}
	return c
}

// requestScheme is "https" when the client's connection was HTTPS (to us
// or to a trusted proxy), else "http".
func requestScheme(r *http.Request) string {
	if clientOf(r).https {
		return "https"
	}
	return "http"
}
