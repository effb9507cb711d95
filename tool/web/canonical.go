package web

import (
	"net"
	"net/url"
	"path"
	"strings"

	"golang.org/x/net/idna"

	"github.com/bulwark-agents/bulwark"
)

// CanonicalURL reads raw as fetch_url does and returns it in one canonical
// form, so that a policy decides on the resource fetched and not on its
// spelling, and the fetch acts on exactly what the policy saw: surrounding
// blanks removed; scheme and host in lower case; the host's trailing dots
// removed and an internationalised name in its ASCII (punycode) form; the
// scheme's default port dropped; percent-escapes of unreserved characters
// decoded and the others in upper case; dot segments of the path resolved
// ("/a/./b/../c" is "/a/c"); an empty path made "/"; the fragment, which is
// never sent, dropped. "HTTPS://Evil.COM.:443/%61/./x#y" is
// "https://evil.com/a/x".
func CanonicalURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, op, "the URL cannot be parsed; give an absolute URL such as https://example.com/page", err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Fragment, u.RawFragment = "", ""
	if u.Opaque != "" || u.Host == "" {
		return u, nil // not a URL fetch_url fetches; checkURL says why
	}
	host, port := u.Hostname(), u.Port()
	host = strings.TrimRight(strings.ToLower(host), ".")
	if net.ParseIP(host) == nil {
		ascii, err := idna.Lookup.ToASCII(host)
		if err != nil {
			return nil, bulwark.E(bulwark.Invalid, op, "the URL's host name is not a valid domain name", err)
		}
		host = ascii
	}
	if port == defaultPort[u.Scheme] {
		port = ""
	}
	switch {
	case strings.Contains(host, ":"): // an IPv6 address
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	p := normalizeEscapes(u.EscapedPath())
	if p == "" {
		p = "/"
	}
	trailing := strings.HasSuffix(p, "/") || strings.HasSuffix(p, "/.") || strings.HasSuffix(p, "/..")
	p = path.Clean(p)
	if trailing && p != "/" {
		p += "/"
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, op, "the URL's path has a broken %-escape", err)
	}
	u.Path, u.RawPath = dec, p
	if u.EscapedPath() != p { // the escapes are the default ones
		u.RawPath = ""
	}
	if u.RawQuery != "" {
		u.RawQuery = normalizeEscapes(u.RawQuery)
	}
	return u, nil
}

var defaultPort = map[string]string{"http": "80", "https": "443"}

// normalizeEscapes decodes the percent-escapes of unreserved characters
// (RFC 3986 section 6.2.2.2) and writes the others' hex digits in upper
// case. A broken escape is left as it is.
func normalizeEscapes(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' || i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
			b.WriteByte(s[i])
			continue
		}
		c := unhex(s[i+1])<<4 | unhex(s[i+2])
		if isUnreserved(c) {
			b.WriteByte(c)
		} else {
			b.WriteString(strings.ToUpper(s[i : i+3]))
		}
		i += 2
	}
	return b.String()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}
