package server

import (
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestAllowedDomainsAnyHost: a tenant may allow any public host with
// allowed_domains ["*"] (the dial-time address checks stay), but may not
// bind a secret to "*", which would bind it to every host.
func TestAllowedDomainsAnyHost(t *testing.T) {
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	admin := a.keys[bulwark.RoleAdmin]
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: `{"allowed_domains":["*"]}`}); w.Code != 200 || !strings.Contains(w.Body.String(), `"allowed_domains":["*"]`) {
		t.Errorf(`PUT allowed_domains ["*"] = %d %s, want 200`, w.Code, w.Body)
	}
	for _, d := range []string{"**", "*x", "*.*", "x.*"} {
		if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: `{"allowed_domains":["` + d + `"]}`}); w.Code != 400 {
			t.Errorf("PUT allowed_domains [%q] = %d, want 400", d, w.Code)
		}
	}
	for _, hosts := range []string{`["*"]`, `["api.example.com","*"]`} {
		w := e.do(req{method: "PUT", path: "/api/v1/secrets/TOKEN", key: admin, body: `{"value":"tok-123456789abc","hosts":` + hosts + `}`})
		if w.Code != 400 || !strings.Contains(w.Body.String(), "every host") {
			t.Errorf("PUT a secret bound to %s = %d %s, want 400 saying why", hosts, w.Code, w.Body)
		}
	}
}
