package egress

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// hostProfile maps a host name the way a browser does before lookup (UTS
// #46: case folding, full-width forms to ASCII, IDN to punycode), but keeps
// underscores, which real DNS names sometimes carry.
// Built on first use, not by the package's init.
var hostProfile = lazy.Value[*idna.Profile]{New: func() *idna.Profile {
	return idna.New(idna.MapForLookup(), idna.BidiRule(), idna.StrictDomainName(false))
}}

// ParseHost reads the host part of a URL the way browsers (the WHATWG URL
// standard) and libc's inet_aton do, so that a check made on its result
// applies to what would really be dialed. It returns either a lowercased
// ASCII name without a final dot, or, when host spells an address in any
// form, that address:
//
//   - bracketed or bare IPv6, with or without a zone ("[fe80::1%25eth0]");
//     the zone is kept on the address, CheckIP ignores it;
//   - IPv4 in dotted, decimal ("2130706433"), octal ("0177.0.0.1"), hex
//     ("0x7f.1") and short ("127.1", "0") forms, with a final dot or not;
//   - any of the above percent-encoded or in full-width digits
//     ("%31%32%37.0.0.1", "１２７.０.０.１").
//
// A host whose last label is a number but which is no valid IPv4 address
// ("1.2.3.256", "0x1g") is an error, as it is in a browser.
func ParseHost(host string) (name string, ip netip.Addr, err error) {
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return "", netip.Addr{}, fmt.Errorf("egress: host %q: unclosed [", host)
		}
		inner := host[1 : len(host)-1]
		if z := strings.Index(inner, "%25"); z >= 0 {
			inner = inner[:z] + "%" + inner[z+3:]
		}
		ip, err := netip.ParseAddr(inner)
		if err != nil || !ip.Is6() {
			return "", netip.Addr{}, fmt.Errorf("egress: host %q is not an IPv6 address", host)
		}
		return "", ip, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return "", ip, nil // bare IPv6 (with or without a zone) or dotted IPv4
	}
	if strings.Contains(host, "%") {
		dec, err := url.PathUnescape(host)
		if err != nil {
			return "", netip.Addr{}, fmt.Errorf("egress: host %q: bad percent-encoding", host)
		}
		host = dec
	}
	if !utf8.ValidString(host) {
		return "", netip.Addr{}, fmt.Errorf("egress: host %q is not valid UTF-8", host)
	}
	ascii, err := hostProfile.Get().ToASCII(host)
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("egress: host %q is not a valid host name: %v", host, err)
	}
	ascii = strings.ToLower(ascii)
	if ip, err := netip.ParseAddr(ascii); err == nil {
		return "", ip, nil
	}
	if endsInNumber(ascii) {
		ip, ok := parseIPv4(ascii)
		if !ok {
			return "", netip.Addr{}, fmt.Errorf("egress: host %q looks like an IPv4 address but is not a valid one", host)
		}
		return "", ip, nil
	}
	name = strings.TrimSuffix(ascii, ".")
	if !validHost(name) {
		return "", netip.Addr{}, fmt.Errorf("egress: %q is not a host name", host)
	}
	return name, netip.Addr{}, nil
}

// endsInNumber is the WHATWG "ends in a number" checker: the last label
// (after one final dot is dropped) is all decimal digits or 0x and hex.
func endsInNumber(s string) bool {
	parts := strings.Split(s, ".")
	if parts[len(parts)-1] == "" {
		if len(parts) == 1 {
			return false
		}
		parts = parts[:len(parts)-1]
	}
	last := parts[len(parts)-1]
	if last != "" && strings.Trim(last, "0123456789") == "" {
		return true
	}
	if strings.HasPrefix(last, "0x") {
		return strings.Trim(last[2:], "0123456789abcdef") == ""
	}
	return false
}

// parseIPv4 is the WHATWG IPv4 parser (which inet_aton also follows): one
// to four parts, each decimal, octal (leading 0) or hex (0x); the last part
// fills the remaining bytes.
func parseIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if parts[len(parts)-1] == "" && len(parts) > 1 {
		parts = parts[:len(parts)-1]
	}
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, ok := parseIPv4Number(p)
		if !ok {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	for _, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	v := uint32(last)
	for i, n := range nums[:len(nums)-1] {
		v |= uint32(n) << (8 * (3 - i))
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

func parseIPv4Number(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base := 10
	switch {
	case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
		p, base = p[2:], 16
		if p == "" {
			return 0, true // "0x" is zero in the standard
		}
	case len(p) > 1 && p[0] == '0':
		p, base = p[1:], 8
	}
	for _, c := range p {
		if c == '+' || c == '-' || c == '_' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(p, base, 64)
	if err != nil || n > 1<<32 {
		return 0, false
	}
	return n, true
}
