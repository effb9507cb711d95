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
	host, err = canonicalHost(host)
	if err != nil {
		return nil, err
	}
	if port == defaultPort(u.Scheme) {
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

// defaultPort is the port a scheme's URLs leave out; a switch, as a map
// literal is built by the package's init.
func defaultPort(scheme string) string {
	switch scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

// canonicalHost is the host of a canonical URL: in lower case, without
// trailing dots, an internationalised name in its ASCII (punycode) form.
func canonicalHost(host string) (string, error) {
	host = strings.TrimRight(strings.ToLower(host), ".")
	if net.ParseIP(host) != nil {
		return host, nil
	}
	ascii, err := idna.Lookup.ToASCII(host)
	if err != nil {
		return "", bulwark.E(bulwark.Invalid, op, "the URL's host name is not a valid domain name", err)
	}
	return ascii, nil
}

// CanonicalPattern puts a fetch_url policy pattern written as
// SCHEME://HOST/PATH in the canonical form of the URLs it is matched
// against (CanonicalURL), so that a rule applies to the URLs it names
// whatever their spelling and its own: scheme and host in lower case; the
// host's trailing dots removed and its labels that hold no wildcard in
// their ASCII (punycode) form ("https://*.bücher.de/*" is
// "https://*.xn--bcher-kva.de/*"); the scheme's default port dropped;
// percent-escapes of unreserved characters decoded and the others in upper
// case; characters a URL's path cannot hold as they are (blanks, non-ASCII)
// escaped. A pattern without "://" is returned as it is. It returns more
// than one form where the pattern could name both a path, where such
// characters are escaped, and a query, where they are kept.
func CanonicalPattern(pattern string) ([]string, error) {
	scheme, rest, ok := strings.Cut(pattern, "://")
	if !ok {
		return []string{pattern}, nil
	}
	scheme = strings.ToLower(scheme)
	hostport, path, hasPath := strings.Cut(rest, "/")
	user := ""
	if i := strings.LastIndexByte(hostport, '@'); i >= 0 {
		user, hostport = hostport[:i+1], hostport[i+1:]
	}
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.Contains(hostport[i:], "]") {
		host, port = hostport[:i], hostport[i+1:]
	}
	if port != "" && port == defaultPort(scheme) {
		port = ""
	}
	host, err := canonicalHostPattern(host)
	if err != nil {
		return nil, err
	}
	if port != "" {
		host += ":" + port
	}
	if user != "" {
		user = canonicalUserinfo(user[:len(user)-1]) + "@"
	}
	head := scheme + "://" + user + host
	if !hasPath {
		return []string{head}, nil
	}
	path = cleanPathPattern(normalizeEscapes(path))
	esc := escapePathPattern(path)
	forms := []string{head + "/" + esc}
	if esc != path {
		forms = append(forms, head+"/"+path) // as a query holds them
	}
	return forms, nil
}

// canonicalUserinfo writes a pattern's user information (before its @)
// as CanonicalURL writes a URL's, net/url's escapes undone and done
// again: a rule that names it in another spelling (! or %21) matches
// the URLs it names. Wildcards are kept, and each run between them so
// written.
func canonicalUserinfo(user string) string {
	var b strings.Builder
	for {
		i := strings.IndexAny(user, "*?")
		if i < 0 {
			b.WriteString(userinfoForm(user))
			return b.String()
		}
		b.WriteString(userinfoForm(user[:i]))
		b.WriteByte(user[i])
		user = user[i+1:]
	}
}

// userinfoForm is s, user information with no wildcard, as net/url
// writes it once parsed; s as written when it does not parse.
func userinfoForm(s string) string {
	if s == "" {
		return s
	}
	u, err := url.Parse("http://" + s + "@h/")
	if err != nil || u.User == nil || u.Host != "h" {
		return s
	}
	return u.User.String()
}

// canonicalHostPattern is canonicalHost for the host of a pattern, whose
// labels may hold wildcards: those are kept as written, in lower case.
func canonicalHostPattern(host string) (string, error) {
	if !strings.ContainsAny(host, "*?") {
		if strings.HasPrefix(host, "[") || host == "" {
			return strings.ToLower(host), nil
		}
		return canonicalHost(host)
	}
	// The full stops IDNA reads as dots separate labels here too.
	host = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".").Replace(strings.ToLower(host))
	labels := strings.Split(strings.TrimRight(host, "."), ".")
	for i, l := range labels {
		if l == "" || strings.ContainsAny(l, "*?") {
			continue
		}
		c, err := canonicalHost(l)
		if err != nil {
			return "", err
		}
		labels[i] = c
	}
	return strings.Join(labels, "."), nil
}

// cleanPathPattern resolves the dot segments of the part of a pattern's
// path (without its leading slash) before the segment of its first
// wildcard, as CanonicalURL resolves a URL's.
func cleanPathPattern(p string) string {
	lit, rest := p, ""
	if i := strings.IndexAny(p, "*?"); i >= 0 {
		j := strings.LastIndexByte(p[:i], '/') + 1
		lit, rest = p[:j], p[j:]
	}
	if lit == "" {
		return p
	}
	trailing := strings.HasSuffix(lit, "/") || lit == "." || lit == ".." || strings.HasSuffix(lit, "/.") || strings.HasSuffix(lit, "/..")
	c := path.Clean("/" + lit)
	if trailing && c != "/" {
		c += "/"
	}
	return c[1:] + rest
}

// escapePathPattern escapes, as a canonical URL's path has them escaped,
// the bytes of a pattern's path that a URL's path cannot hold as they are:
// controls, blanks, non-ASCII bytes and "<>\^`{|}. Wildcards and escapes
// are kept.
func escapePathPattern(p string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"<>\\^`{|}", c) >= 0 {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// normalizeEscapes decodes the percent-escapes of unreserved characters
// (RFC 3986 section 6.2.2.2) and writes the others' hex digits in upper
// case. A broken escape is left as it is, and an escaped hex digit that,
// decoded, would complete it into an escape is left escaped: "%0%61"
// stays so, where "%0a" would read back as another character (the
// fuzzer's find), and the canonical form would not be one.
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
		if isUnreserved(c) && !(isHex(c) && completesEscape(b.String())) {
			b.WriteByte(c)
		} else {
			b.WriteString(strings.ToUpper(s[i : i+3]))
		}
		i += 2
	}
	return b.String()
}

// completesEscape: out, written so far, ends in a broken escape's "%"
// or "%" and one hex digit, which a hex digit written next would make an
// escape. An escape normalizeEscapes writes is whole, so any such tail is
// a broken one.
func completesEscape(out string) bool {
	n := len(out)
	return n >= 1 && out[n-1] == '%' || n >= 2 && out[n-2] == '%' && isHex(out[n-1])
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
