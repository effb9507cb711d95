package web

import "testing"

var canonicalTests = []struct{ in, want string }{
	{"https://example.com/a", "https://example.com/a"},
	{"  https://example.com/a  ", "https://example.com/a"},
	{"HTTPS://EXAMPLE.COM/A", "https://example.com/A"},
	{"https://example.com./a", "https://example.com/a"},
	{"https://example.com..:443/a", "https://example.com/a"},
	{"http://example.com:80/a", "http://example.com/a"},
	{"https://example.com:8443/a", "https://example.com:8443/a"},
	{"https://example.com", "https://example.com/"},
	{"https://example.com/a/./b/../c", "https://example.com/a/c"},
	{"https://example.com/a/b/..", "https://example.com/a/"},
	{"https://example.com/x/../../etc", "https://example.com/etc"},
	{"https://example.com/%70rivate/%7euser", "https://example.com/private/~user"},
	{"https://example.com/a%2fb", "https://example.com/a%2Fb"},
	{"https://example.com/a%2Fb", "https://example.com/a%2Fb"},
	{"https://example.com/a?q=%61%2f#frag", "https://example.com/a?q=a%2F"},
	{"https://ëxample.com/", "https://xn--xample-ova.com/"},
	{"https://[::1]:443/", "https://[::1]/"},
	{"https://user@example.com/", "https://user@example.com/"},
}

func TestCanonicalURL(t *testing.T) {
	for _, tt := range canonicalTests {
		u, err := CanonicalURL(tt.in)
		if err != nil {
			t.Errorf("CanonicalURL(%q): %v", tt.in, err)
			continue
		}
		if got := u.String(); got != tt.want {
			t.Errorf("CanonicalURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
		// Canonical twice is canonical once.
		again, err := CanonicalURL(u.String())
		if err != nil || again.String() != u.String() {
			t.Errorf("CanonicalURL(CanonicalURL(%q)) = %v (%v), want %q", tt.in, again, err, u.String())
		}
	}
}

func FuzzCanonicalURL(f *testing.F) {
	for _, tt := range canonicalTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := CanonicalURL(raw)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return // not a URL fetch_url fetches
		}
		again, err := CanonicalURL(u.String())
		if err != nil {
			t.Fatalf("CanonicalURL(%q) = %q, which does not read back: %v", raw, u, err)
		}
		if again.String() != u.String() {
			t.Fatalf("CanonicalURL(%q) = %q, but that reads back as %q", raw, u, again)
		}
	})
}
