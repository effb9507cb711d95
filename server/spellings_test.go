package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestPathSpellingsKeepTheirRules: other spellings of a route's path
// (doubled or dot segments, a trailing slash or dot, another case, an
// escaped slash or dot, a ;parameter, a NUL) and HEAD for GET reach
// either the same route, with its checks, or none: never a 2xx without
// credentials. A viewer's key with method-override headers is not served
// as another method: its answer is the one without them.
func TestPathSpellingsKeepTheirRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	spellings := func(p string) []string {
		p, q, _ := strings.Cut(p, "?")
		if q != "" {
			q = "?" + q
		}
		out := []string{"/" + p, strings.Replace(p, "/v1/", "/v1//", 1), strings.Replace(p, "/v1/", "/v1/./", 1),
			strings.Replace(p, "/v1/", "/x/../v1/", 1), strings.Replace(p, "/v1/", "/v1%2F", 1), strings.Replace(p, "/v1/", "/v1/%2e/", 1),
			p + "/", p + "/.", strings.ToUpper(p), p + ";x", p + "%00", p + "%20"}
		for i := range out {
			out[i] += q
		}
		return out
	}
	override := map[string]string{"X-HTTP-Method-Override": "DELETE", "X-Method-Override": "DELETE", "X-HTTP-Method": "DELETE"}
	for _, rt := range f.e.srv.Routes() {
		c := matrix[rt.String()]
		if rt.Role == "" || c.path == nil {
			continue
		}
		methods := []string{rt.Method}
		if rt.Method == http.MethodGet {
			methods = append(methods, http.MethodHead)
		}
		for _, m := range methods {
			for _, p := range spellings(c.path(f)) {
				if w := f.e.do(req{method: m, path: p, body: c.body, header: c.header}); w.Code < 300 {
					t.Errorf("%s %s without credentials = %d, want a refusal", m, p, w.Code)
				}
			}
		}
		if rt.Side != Browser && !bulwark.RoleViewer.AtLeast(rt.Role) {
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				viewer := req{method: m, path: c.path(f), body: c.body, key: f.a.keys[bulwark.RoleViewer]}
				plain := f.e.do(viewer).Code
				viewer.header = override
				if w := f.e.do(viewer); w.Code != plain {
					t.Errorf("%s %s as a viewer = %d, with method overrides = %d: want the same", m, c.path(f), plain, w.Code)
				}
			}
		}
	}
}
