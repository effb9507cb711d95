// Package egress decides where sandboxed code and fetched URLs may connect:
// a domain allowlist, a check that refuses private and special addresses
// after name resolution, a dialer that applies that check at dial time (so a
// name that resolves differently on the second lookup cannot slip through),
// and an HTTP CONNECT proxy built on both.
package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"time"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// DialFunc dials a network address, like net.Dialer.DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Event reports one connection the proxy allowed or refused.
type Event struct {
	Time    time.Time `json:"time"`
	Host    string    `json:"host"`             // the host name or address asked for
	Port    string    `json:"port"`             // the port asked for
	Allowed bool      `json:"allowed"`          // whether the connection was made
	Reason  string    `json:"reason,omitempty"` // why it was refused, or failed
	// Secret names the secret whose value the proxy put into a request
	// (Allowed) or whose placeholder made it refuse one (not Allowed).
	Secret string `json:"secret,omitempty"`
}

// ErrForbiddenAddress is returned (wrapped) for an address that egress never
// connects to: private, loopback, link-local, CGNAT, unspecified, multicast,
// documentation, or cloud metadata.
var ErrForbiddenAddress = errors.New("address is not public")

// forbidden are the networks CheckIP refuses, beyond what netip's
// predicates already say; parsed on first use, not by the package's init,
// which every command runs.
var forbidden = lazy.Value[[]netip.Prefix]{New: func() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
		netip.MustParsePrefix("100.64.0.0/10"),      // CGNAT
		netip.MustParsePrefix("169.254.0.0/16"),     // link-local, incl. metadata 169.254.169.254
		netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments
		netip.MustParsePrefix("192.0.2.0/24"),       // TEST-NET-1
		netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
		netip.MustParsePrefix("198.51.100.0/24"),    // TEST-NET-2
		netip.MustParsePrefix("203.0.113.0/24"),     // TEST-NET-3
		netip.MustParsePrefix("240.0.0.0/4"),        // reserved, incl. broadcast
		netip.MustParsePrefix("64:ff9b::/96"),       // NAT64 maps IPv4, which may be private
		netip.MustParsePrefix("64:ff9b:1::/48"),     // local-use NAT64
		netip.MustParsePrefix("100::/64"),           // discard
		netip.MustParsePrefix("2001::/23"),          // IETF protocol assignments (Teredo, ...)
		netip.MustParsePrefix("2001:db8::/32"),      // documentation
		netip.MustParsePrefix("2002::/16"),          // 6to4 embeds IPv4
		netip.MustParsePrefix("fc00::/7"),           // unique local
		netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS metadata over IPv6
		netip.MustParsePrefix("::ffff:0:0/96"),      // IPv4-mapped: checked after unmapping
		netip.MustParsePrefix("::/128"),             // unspecified
		netip.MustParsePrefix("::1/128"),            // loopback
		netip.MustParsePrefix("fe80::/10"),          // link-local
		netip.MustParsePrefix("ff00::/8"),           // multicast
		netip.MustParsePrefix("::/96"),              // IPv4-compatible (deprecated)
		netip.MustParsePrefix("fec0::/10"),          // site-local (deprecated)
		netip.MustParsePrefix("3fff::/20"),          // documentation (2024)
		netip.MustParsePrefix("5f00::/16"),          // segment routing SIDs
		netip.MustParsePrefix("2001:10::/28"),       // ORCHID
		netip.MustParsePrefix("2620:4f:8000::/48"),  // AS112 anycast
		netip.MustParsePrefix("192.88.99.0/24"),     // 6to4 relay anycast
		netip.MustParsePrefix("224.0.0.0/4"),        // multicast
		netip.MustParsePrefix("255.255.255.255/32"), // broadcast
	}
}}

// CheckIP returns nil when ip is a public unicast address that egress may
// connect to, and an error wrapping ErrForbiddenAddress otherwise.
func CheckIP(ip netip.Addr) error {
	if !ip.IsValid() {
		return fmt.Errorf("invalid address: %w", ErrForbiddenAddress)
	}
	ip = ip.Unmap().WithZone("")
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return fmt.Errorf("%s: %w", ip, ErrForbiddenAddress)
	}
	for _, p := range forbidden.Get() {
		if p.Contains(ip) {
			return fmt.Errorf("%s (in %s): %w", ip, p, ErrForbiddenAddress)
		}
	}
	return nil
}

// Dialer dials only public addresses: it resolves the host itself, checks
// every address, and connects to a checked address, never to the name. A
// Control hook checks the address once more on the socket about to connect.
type Dialer struct {
	// Resolver resolves host names; nil uses net.DefaultResolver.
	Resolver *net.Resolver
	// Lookup, if set, resolves host names instead of Resolver. Tests use
	// it to make names resolve to chosen (private, changing) addresses;
	// every address it returns is still checked, so it cannot widen what
	// the dialer connects to.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// Timeout bounds each connection attempt; zero means 10 seconds.
	Timeout time.Duration
}

// DialContext connects to addr ("host:port") over tcp, tcp4 or tcp6, and
// refuses with an error wrapping ErrForbiddenAddress when the host has no
// public address.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("egress: network %q not supported", network)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	// Read the host as a browser or libc would ("0x7f.1" is 127.0.0.1),
	// so no spelling of an address reaches the resolver as a "name".
	name, ip, err := ParseHost(host)
	if err != nil {
		return nil, err
	}
	var ips []netip.Addr
	switch {
	case ip.IsValid():
		ips = []netip.Addr{ip}
	case d.Lookup != nil:
		ips, err = d.Lookup(ctx, name)
	default:
		r := d.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		ips, err = r.LookupNetIP(ctx, "ip", name)
	}
	if err != nil {
		return nil, err
	}
	var firstErr error
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	nd := net.Dialer{Timeout: timeout, Control: controlPublic}
	for _, ip := range ips {
		if err := CheckIP(ip); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		c, err := nd.DialContext(ctx, network, net.JoinHostPort(ip.Unmap().String(), port))
		if err == nil {
			return c, nil
		}
		if firstErr == nil || errors.Is(firstErr, ErrForbiddenAddress) {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = fmt.Errorf("%s has no address", host)
	}
	return nil, firstErr
}

// controlPublic refuses a socket about to connect to a non-public address;
// it is the last check before the connection, after any resolution.
func controlPublic(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("egress: unexpected address %q: %w", address, ErrForbiddenAddress)
	}
	return CheckIP(ap.Addr())
}

// Pattern is one entry of a domain allowlist: an exact host name,
// "*.example.com" for every subdomain of example.com (not example.com
// itself), or "*" for every host name. "*" widens only the names: an
// address is still never allowed (Allowlist.Allows), and every dial is
// still checked by Dialer, so private, loopback, link-local and metadata
// addresses stay refused however a name resolves.
type Pattern struct {
	host     string
	wildcard bool
	any      bool
}

// AnyHost is the allowlist entry that matches every host name.
const AnyHost = "*"

// ParsePattern parses an allowlist entry; it lowercases and drops a final
// dot. An address in any spelling ("127.0.0.1", "2130706433", "0x7f.1") is
// refused: the allowlist names domains. "*" alone is every name (AnyHost).
func ParsePattern(s string) (Pattern, error) {
	s = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
	if s == AnyHost {
		return Pattern{any: true}, nil
	}
	wild := strings.HasPrefix(s, "*.")
	if wild {
		s = s[2:]
	}
	if !validHost(s) {
		return Pattern{}, fmt.Errorf("egress: %q is not a host name", s)
	}
	if endsInNumber(s) {
		return Pattern{}, fmt.Errorf("egress: %q is an address, not a domain name", s)
	}
	return Pattern{host: s, wildcard: wild}, nil
}

// Match reports whether host (a name as asked for) is allowed by p.
func (p Pattern) Match(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if p.any {
		return validHost(host)
	}
	if p.wildcard {
		return strings.HasSuffix(host, "."+p.host)
	}
	return host == p.host
}

func validHost(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// IsAny reports whether p is "*", every host name.
func (p Pattern) IsAny() bool { return p.any }

// Allowlist is a set of Patterns.
type Allowlist []Pattern

// AnyHost reports whether l allows every host name ("*").
func (l Allowlist) AnyHost() bool {
	for _, p := range l {
		if p.any {
			return true
		}
	}
	return false
}

// ParseAllowlist parses entries with ParsePattern.
func ParseAllowlist(entries []string) (Allowlist, error) {
	var l Allowlist
	for _, e := range entries {
		p, err := ParsePattern(e)
		if err != nil {
			return nil, err
		}
		l = append(l, p)
	}
	return l, nil
}

// Allows reports whether some pattern matches host, read with ParseHost.
// An address in any spelling is never allowed (the allowlist names
// domains), and neither is a host ParseHost refuses.
func (l Allowlist) Allows(host string) bool {
	name, ip, err := ParseHost(host)
	if err != nil || ip.IsValid() {
		return false
	}
	for _, p := range l {
		if p.Match(name) {
			return true
		}
	}
	return false
}
