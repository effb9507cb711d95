package web

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
)

// TestFetchAnyHost: with the allowlist "*" (BULWARK_ALLOWED_DOMAINS=*)
// fetch_url reaches any public name, and still no address in any spelling,
// nor a name that resolves to a private, loopback, link-local or metadata
// address.
func TestFetchAnyHost(t *testing.T) {
	allow, err := egress.ParseAllowlist([]string{"*"})
	if err != nil {
		t.Fatal(err)
	}
	tl, lookups := newFetcher(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "allowed.test" {
			t.Errorf("the server was reached for %s", r.Host)
		}
		io.WriteString(w, "public page")
	}), Config{Allow: allow})
	res, err := fetch(t, tl, "http://allowed.test/page")
	if err != nil || !strings.Contains(res.Output, "public page") {
		t.Fatalf("a public name under *: %v %q", err, res.Output)
	}
	// Names that were refused only for not being on a list are names
	// now, resolved and checked like any other.
	listOnly := []string{"http://notallowed.test/", "http://allowed.test.evil.net/", "http://localhost/"}
	for _, u := range ssrfURLs {
		if slices.Contains(listOnly, u) {
			continue
		}
		if res, err := fetch(t, tl, u); err == nil {
			t.Errorf("fetch_url(%q) under * = %q, want a refusal", u, res.Output)
		} else if k := bulwark.ErrorKind(err); k != bulwark.PermissionDenied && k != bulwark.Invalid {
			t.Errorf("fetch_url(%q) under * = %v (kind %v), want PermissionDenied or Invalid", u, err, k)
		}
	}
	for n := range testNames {
		_, err := fetch(t, tl, "http://"+n+"/")
		if err == nil || !strings.Contains(bulwark.ErrorMessage(err), "private or special address") {
			t.Errorf("fetch_url(http://%s/) under * = %v, want the address check's refusal", n, err)
		}
	}
	if lookups.Load() == 0 {
		t.Error("the resolver was never asked: the address check did not run")
	}
}
