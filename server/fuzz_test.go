package server

import (
	"encoding/json"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// fuzzBody posts fuzzed bodies to one route: whatever the body, the
// answer is never a 5xx and always a JSON document (a panic fails the
// fuzz target by itself).
func fuzzBody(f *testing.F, method, path string, role bulwark.Role, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Add("")
	f.Add("{")
	f.Add(`{"a":1}{"b":2}`)
	f.Add(`[]`)
	f.Add(`null`)
	f.Add("\x00\xff")
	e := newEnv(f, rateLimitOff)
	f.Fuzz(func(t *testing.T, body string) {
		e.t = t
		key := ""
		if role != "" {
			key = fuzzTenant(e).keys[role]
		}
		w := e.do(req{method: method, path: path, body: body, key: key, header: map[string]string{"Content-Type": "application/json"}})
		if w.Code >= 500 {
			t.Fatalf("%s %s %q = %d %s", method, path, body, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) && w.Code != 204 {
			t.Fatalf("%s %s %q: the answer %q is not JSON", method, path, body, w.Body)
		}
	})
}

// fuzzTenant returns the env's tenant for fuzzing, made once.
var fuzzTenants = map[*env]*tenant{}

func fuzzTenant(e *env) *tenant {
	if t := fuzzTenants[e]; t != nil {
		return t
	}
	t := e.tenant("fuzz")
	fuzzTenants[e] = t
	return t
}

func FuzzLoginBody(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/login", "",
		`{"email":"owner@fuzz.test","password":"correct horse battery"}`,
		`{"email":"owner@fuzz.test","password":"wrong"}`,
		`{"email":123}`, `{"email":"a@b","password":"`+string(make([]byte, 2000))+`"}`)
}

func FuzzSettingsBody(f *testing.F) {
	fuzzBody(f, "PUT", "/api/v1/settings", bulwark.RoleOwner,
		`{"model":"openai:gpt-4o","api_key":"sk-0123456789","policy":{"rules":[{"tool":"run_shell","pattern":"rm *","decision":"deny"}]}}`,
		`{"limits":{"max_steps":5,"max_duration":1000000000},"rate_limit":{"per_key_rps":1.5,"burst":3}}`,
		`{"allowed_domains":["*.example.com"],"allowed_commands":["/usr/bin/python3"],"max_concurrent_tasks":4}`,
		`{"rate_limit":{"per_key_rps":1e400}}`)
}

func FuzzKeysBody(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/keys", bulwark.RoleOwner,
		`{"name":"ci","role":"viewer","scopes":["tasks"],"expires_in":"720h"}`,
		`{"name":"x","expires_in":"9999999999h"}`,
		`{"name":"\u0000"}`)
}

func FuzzUsersBody(f *testing.F) {
	fuzzBody(f, "POST", "/api/v1/users", bulwark.RoleOwner,
		`{"email":"n@fuzz.test","role":"member","password":"correct horse battery"}`)
}
