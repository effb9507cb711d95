package egress

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
)

// parseHostTests are spellings of hosts as they appear in URLs; ip is the
// address a browser or libc would dial, name the name it would look up.
var parseHostTests = []struct {
	host, name, ip string
	bad            bool
}{
	{host: "example.com", name: "example.com"},
	{host: "Example.COM.", name: "example.com"},
	{host: "ｅｘａｍｐｌｅ.com", name: "example.com"},
	{host: "bücher.example", name: "xn--bcher-kva.example"},
	{host: "under_score.example", name: "under_score.example"},
	{host: "127.0.0.1", ip: "127.0.0.1"},
	{host: "127.0.0.1.", ip: "127.0.0.1"},
	{host: "2130706433", ip: "127.0.0.1"},
	{host: "017700000001", ip: "127.0.0.1"},
	{host: "0x7f000001", ip: "127.0.0.1"},
	{host: "0X7F.1", ip: "127.0.0.1"},
	{host: "0x7f.1", ip: "127.0.0.1"},
	{host: "0177.0.0.1", ip: "127.0.0.1"},
	{host: "0177.0.0.01", ip: "127.0.0.1"},
	{host: "127.1", ip: "127.0.0.1"},
	{host: "127.0.1", ip: "127.0.0.1"},
	{host: "0", ip: "0.0.0.0"},
	{host: "0x", ip: "0.0.0.0"},
	{host: "169.254.43518", ip: "169.254.169.254"},
	{host: "0xa9.0xfe.0xa9.0xfe", ip: "169.254.169.254"},
	{host: "2852039166", ip: "169.254.169.254"},
	{host: "10.0x10000", ip: "10.1.0.0"},
	{host: "%31%32%37.0.0.1", ip: "127.0.0.1"},
	{host: "１２７.０.０.１", ip: "127.0.0.1"},
	{host: "127。0。0。1", ip: "127.0.0.1"},
	{host: "[::1]", ip: "::1"},
	{host: "[::ffff:127.0.0.1]", ip: "::ffff:127.0.0.1"},
	{host: "[::ffff:7f00:1]", ip: "::ffff:127.0.0.1"},
	{host: "[fe80::1%25eth0]", ip: "fe80::1%eth0"},
	{host: "fe80::1%eth0", ip: "fe80::1%eth0"},
	{host: "[64:ff9b::7f00:1]", ip: "64:ff9b::7f00:1"},
	{host: "1.2.3.256", bad: true},
	{host: "1.2.3.4.5", bad: true},
	{host: "0x1g", name: "0x1g"},
	{host: "1.0x", ip: "1.0.0.0"},
	{host: "4294967296", bad: true},
	{host: "08", bad: true},
	{host: "[127.0.0.1]", bad: true},
	{host: "[::1", bad: true},
	{host: "exa mple.com", bad: true},
	{host: "", bad: true},
}

func TestParseHost(t *testing.T) {
	for _, tt := range parseHostTests {
		name, ip, err := ParseHost(tt.host)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseHost(%q) = %q, %v; want an error", tt.host, name, ip)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseHost(%q): %v", tt.host, err)
			continue
		}
		if name != tt.name {
			t.Errorf("ParseHost(%q) name = %q, want %q", tt.host, name, tt.name)
		}
		var want netip.Addr
		if tt.ip != "" {
			want = netip.MustParseAddr(tt.ip)
		}
		if ip != want {
			t.Errorf("ParseHost(%q) ip = %v, want %v", tt.host, ip, want)
		}
	}
}

// TestAllowsNoAddressSpelling: no spelling of an address passes the
// allowlist, even one that names it literally.
func TestAllowsNoAddressSpelling(t *testing.T) {
	l := Allowlist{{host: "2130706433"}, {host: "127.1"}, {host: "example.com"}}
	for _, tt := range parseHostTests {
		if tt.name == "" && l.Allows(tt.host) {
			t.Errorf("Allows(%q) = true for an address", tt.host)
		}
	}
	if !l.Allows("EXAMPLE.com.") || !l.Allows("ｅｘａｍｐｌｅ.com") {
		t.Error("Allows refused spellings of an allowed name")
	}
	for _, p := range []string{"2130706433", "0x7f.1", "127.1", "10.0.0.1"} {
		if _, err := ParsePattern(p); err == nil {
			t.Errorf("ParsePattern(%q) accepted an address", p)
		}
	}
}

// TestDialerChecksResolvedAddresses: names resolving to non-public
// addresses, and odd address spellings, are refused before any connection.
func TestDialerChecksResolvedAddresses(t *testing.T) {
	answers := map[string][]string{
		"loopback.test":   {"127.0.0.1"},
		"private.test":    {"10.0.0.7"},
		"metadata.test":   {"169.254.169.254"},
		"cgnat.test":      {"100.100.100.200"},
		"mapped.test":     {"::ffff:10.0.0.1"},
		"nat64.test":      {"64:ff9b::a9fe:a9fe"},
		"nat64local.test": {"64:ff9b:1::a00:1"},
		"sixtofour.test":  {"2002:a00:1::1"},
		"teredo.test":     {"2001:0:4136:e378:8000:63bf:3fff:fdd2"},
		"zero.test":       {"0.0.0.0"},
		"multicast.test":  {"ff02::1"},
		"mixed.test":      {"10.0.0.1", "::1"},
	}
	var lookups atomic.Int32
	d := &Dialer{Lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
		lookups.Add(1)
		var ips []netip.Addr
		for _, a := range answers[host] {
			ips = append(ips, netip.MustParseAddr(a))
		}
		if ips == nil {
			return nil, errors.New("no such host")
		}
		return ips, nil
	}}
	addrs := []string{"2130706433:80", "0x7f.1:80", "0177.0.0.1:80", "127.1:80", "0:80", "[::ffff:127.0.0.1]:80", "[fe80::1%25lo]:80", "127.0.0.1.:80"}
	for host := range answers {
		addrs = append(addrs, net.JoinHostPort(host, "80"))
	}
	for _, a := range addrs {
		c, err := d.DialContext(context.Background(), "tcp", a)
		if err == nil {
			c.Close()
			t.Errorf("Dial(%s) connected, want refusal", a)
			continue
		}
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("Dial(%s) = %v, want ErrForbiddenAddress", a, err)
		}
	}
	if int(lookups.Load()) != len(answers) {
		t.Errorf("%d lookups for %d names: an address spelling reached the resolver", lookups.Load(), len(answers))
	}
}

// TestDialerRebinding: a name that resolves to a public address on one
// lookup and a private one on the next is refused at dial time, because the
// dialer checks the addresses of its own lookup and dials only those.
func TestDialerRebinding(t *testing.T) {
	var n atomic.Int32
	d := &Dialer{Lookup: func(context.Context, string) ([]netip.Addr, error) {
		if n.Add(1) == 1 {
			return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
		}
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}}
	// A caller's own earlier check saw a public address...
	first, _ := d.Lookup(context.Background(), "rebind.test")
	if err := CheckIP(first[0]); err != nil {
		t.Fatalf("first answer refused: %v", err)
	}
	// ...but the dial resolves again and gets loopback.
	c, err := d.DialContext(context.Background(), "tcp", "rebind.test:80")
	if err == nil {
		c.Close()
		t.Fatal("Dial(rebind.test) connected after the name rebound to loopback")
	}
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("Dial(rebind.test) = %v, want ErrForbiddenAddress", err)
	}
}

// TestControlPublic: the socket-level hook refuses every non-public
// address it is handed, whatever resolution came before.
func TestControlPublic(t *testing.T) {
	for _, tt := range checkIPTests {
		err := controlPublic("tcp", net.JoinHostPort(tt.ip, "443"), nil)
		if got := err == nil; got != tt.want {
			t.Errorf("controlPublic(%s) = %v, want allowed=%v", tt.ip, err, tt.want)
		}
	}
	if controlPublic("tcp", "not-an-address", nil) == nil {
		t.Error("controlPublic accepted an unparsable address")
	}
}

func FuzzParseHost(f *testing.F) {
	for _, tt := range parseHostTests {
		f.Add(tt.host)
	}
	f.Fuzz(func(t *testing.T, host string) {
		name, ip, err := ParseHost(host)
		if err != nil {
			return
		}
		if ip.IsValid() == (name != "") {
			t.Fatalf("ParseHost(%q) = %q, %v: want exactly one of name and address", host, name, ip)
		}
		if ip.IsValid() && (Allowlist{{host: name}}).Allows(host) {
			t.Fatalf("Allows(%q) = true for address %v", host, ip)
		}
		if name != "" {
			if n2, ip2, err := ParseHost(name); err != nil || n2 != name || ip2.IsValid() {
				t.Fatalf("ParseHost(%q) = %q; reparsing gives %q, %v, %v", host, name, n2, ip2, err)
			}
		}
	})
}
