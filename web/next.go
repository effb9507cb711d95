package web

import (
	"net/url"
	"strings"
)

// DefaultNext is where the login page sends a browser that brought no
// usable ?next=.
const DefaultNext = "/tasks"

// SafeNext returns next if it is a path of this site that the login page
// may send the browser to afterwards, else DefaultNext. The login page's
// script (static/login.js, safeNext) applies the same rules; the server
// applies them first (ServePage redirects /login?next=BAD to /login).
//
// A browser strips TAB, LF and CR anywhere in a URL and treats \ as / in
// http(s) URLs, so "/\t/evil.example" and "/\evil.example" become
// "//evil.example", another site. So next is refused when it holds any
// control character or backslash at all, when it does not start with a
// single "/", when parsing it as a URL gives a scheme, a host or user
// information, when its cleaned path starts with "//", and when it leads
// back to the login page.
func SafeNext(next string) string {
	if next == "" || len(next) > 2048 || !strings.HasPrefix(next, "/") ||
		strings.HasPrefix(next, "//") || strings.ContainsAny(next, `\`) ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
		return DefaultNext
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return DefaultNext
	}
	p := u.EscapedPath()
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || p == "/login" || strings.HasPrefix(p, "/login/") {
		return DefaultNext
	}
	return next
}
