package server

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/web"
)

// TestPages checks the web UI's routes as the server serves them: each
// page is HTML under both the server's CSP for documents and the UI's
// stricter one, with or without a session, and, as every browser route,
// refuses an API key.
func TestPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	cookie := e.login(a.users[bulwark.RoleViewer].Email)
	for _, p := range web.Pages {
		path := strings.ReplaceAll(strings.TrimSuffix(p.Path, "{$}"), "{id}", "t_1")
		for _, c := range []string{"", cookie} {
			w := e.do(req{method: "GET", path: path, cookie: c})
			if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
				t.Errorf("GET %s (session %v) = %d %s, want an HTML page", path, c != "", w.Code, w.Header().Get("Content-Type"))
			}
			csp := w.Header().Values("Content-Security-Policy")
			if !slices.Contains(csp, cspPage) || !slices.Contains(csp, web.CSP) {
				t.Errorf("GET %s: Content-Security-Policy %q, want both the server's and the UI's", path, csp)
			}
		}
		if w := e.do(req{method: "GET", path: path, key: a.keys[bulwark.RoleOwner]}); w.Code != http.StatusUnauthorized {
			t.Errorf("GET %s with an API key = %d, want 401 (a browser route)", path, w.Code)
		}
		if w := e.do(req{method: "POST", path: path, cookie: cookie, body: "{}"}); w.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s = %d, want 405", path, w.Code)
		}
	}
}
