package server

import (
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

var secretInjectAPITests = []struct {
	body   string
	status int
	list   string // in the listing after, for 204
	msg    string // in the answer, for 400
}{
	{`{"value":"tok-123456789abc","hosts":["api.example.com"]}`, 204, `"inject":["headers"]`, ""},
	{`{"value":"tok-123456789abc","hosts":["api.example.com"],"inject":null}`, 204, `"inject":["headers"]`, ""},
	{`{"value":"tok-123456789abc","hosts":["api.example.com"],"inject":["headers","body"]}`, 204, `"inject":["headers","body"]`, ""},
	{`{"value":"tok-123456789abc","hosts":["api.example.com"],"inject":["URL"]}`, 204, `"inject":["headers","url"]`, ""},
	{`{"value":"tok-123456789abc","hosts":["api.example.com"],"inject":["headers","url","body"]}`, 204, `"inject":["headers","url","body"]`, ""},
	{`{"value":"tok-123456789abc","hosts":["api.example.com"],"inject":["cookies"]}`, 400, "", "headers, url or body"},
	{`{"value":"tok-123456789abc","hosts":["api.example.com"],"inject":"headers,body"}`, 400, "", "inject"},
	{`{"value":"tok-123456789abc","inject":["body"]}`, 400, "", "bound to no host"},
}

// PUT /api/v1/secrets/{name} sets where in a request the value may go,
// headers only unless asked, and the listing shows it.
func TestSecretInjectAPI(t *testing.T) {
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	admin := a.keys[bulwark.RoleAdmin]
	for _, tt := range secretInjectAPITests {
		w := e.do(req{method: "PUT", path: "/api/v1/secrets/TOKEN", key: admin, body: tt.body})
		if w.Code != tt.status || tt.msg != "" && !strings.Contains(w.Body.String(), tt.msg) {
			t.Errorf("PUT %s = %d %s, want %d mentioning %q", tt.body, w.Code, w.Body, tt.status, tt.msg)
			continue
		}
		if tt.status != 204 {
			continue
		}
		if w := e.do(req{method: "GET", path: "/api/v1/secrets", key: admin}); !strings.Contains(w.Body.String(), tt.list) {
			t.Errorf("after PUT %s, GET = %s, want %s in it", tt.body, w.Body, tt.list)
		}
	}
}
