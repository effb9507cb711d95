package server

import (
	"context"
	"net/url"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestInvisibleCharactersInNames: a bidirectional override or a
// zero-width character in a name is refused wherever a name is given:
// users' emails, tenant names, secret names, key names, model names (file
// names on upload are in uploadTests).
func TestInvisibleCharactersInNames(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	owner := a.keys[bulwark.RoleOwner]
	operator, _, err := IssueKey(context.Background(), e.db, "", KeySpec{Name: "operator", CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"\u202E", "\u2067", "\u200B", "\u200D", "\u2060", "\uFEFF"} {
		cases := []req{
			{method: "POST", path: "/api/v1/users", key: owner, body: `{"email":"ann` + bad + `@a.test","password":"` + testPassword + `"}`},
			{method: "POST", path: "/api/v1/tenants", key: operator, body: `{"name":"team` + bad + `"}`},
			{method: "PUT", path: "/api/v1/secrets/API" + url.PathEscape(bad) + "KEY", key: owner, body: `{"value":"a-long-value"}`},
			{method: "POST", path: "/api/v1/keys", key: owner, body: `{"name":"ci` + bad + `"}`},
			{method: "PUT", path: "/api/v1/settings", key: owner, body: `{"model":"openai:gpt` + bad + `"}`},
		}
		for _, rq := range cases {
			if w := e.do(rq); w.Code != 400 {
				t.Errorf("%s %s with %+q = %d %s, want 400", rq.method, rq.path, bad, w.Code, w.Body)
			}
		}
	}
	// The same names without it are taken.
	for _, rq := range []req{
		{method: "POST", path: "/api/v1/users", key: owner, body: `{"email":"ann@a.test","password":"` + testPassword + `"}`},
		{method: "POST", path: "/api/v1/tenants", key: operator, body: `{"name":"team"}`},
		{method: "PUT", path: "/api/v1/secrets/APIKEY", key: owner, body: `{"value":"a-long-value"}`},
		{method: "POST", path: "/api/v1/keys", key: owner, body: `{"name":"ci"}`},
	} {
		if w := e.do(rq); w.Code >= 300 {
			t.Errorf("%s %s = %d %s, want success", rq.method, rq.path, w.Code, w.Body)
		}
	}
}
