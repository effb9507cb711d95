package server

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

func TestSettings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	admin := a.keys[bulwark.RoleAdmin]
	put := func(body string) (int, string) {
		w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: body})
		return w.Code, w.Body.String()
	}
	invalid := map[string]string{
		"replay model":      `{"model":"replay:/etc/passwd"}`,
		"unknown provider":  `{"model":"evil:x"}`,
		"no model name":     `{"model":"openai:"}`,
		"bad decision":      `{"policy":{"rules":[{"tool":"run_shell","decision":"maybe"}]}}`,
		"bad tool":          `{"policy":{"rules":[{"tool":"run shell","decision":"deny"}]}}`,
		"bad default":       `{"policy":{"default":"sure"}}`,
		"relative command":  `{"allowed_commands":["../bin/sh"]}`,
		"command with args": `{"allowed_commands":["python3 -c"]}`,
		"domain with a url": `{"allowed_domains":["https://example.com"]}`,
		"an ip address":     `{"allowed_domains":["10.0.0.1"]}`,
		"negative steps":    `{"limits":{"max_steps":-1}}`,
		"too long":          `{"limits":{"max_duration":999999999999999}}`,
		"negative rate":     `{"rate_limit":{"per_key_rps":-1}}`,
		"huge concurrency":  `{"max_concurrent_tasks":100000}`,
		"unknown field":     `{"modle":"openai:x"}`,
		"short api key":     `{"api_key":"abc"}`,
		"wrong type":        `{"limits":{"max_steps":"ten"}}`,
	}
	for name, body := range invalid {
		if code, resp := put(body); code != 400 || !strings.Contains(resp, `"invalid"`) {
			t.Errorf("%s: PUT %s = %d %s, want 400", name, body, code, resp)
		}
	}
	const apiKey = "sk-test-model-key-0123456789"
	code, resp := put(`{"model":"anthropic:claude-x","api_key":"` + apiKey + `","allowed_domains":["Example.com","*.docs.example.org"],
		"allowed_commands":["python3","/usr/bin/git"],"policy":{"default":"ask","rules":[{"tool":"run_shell","pattern":"rm *","decision":"deny"}]},
		"limits":{"max_steps":20},"max_concurrent_tasks":2,"rate_limit":{"per_key_rps":5}}`)
	if code != 200 || strings.Contains(resp, apiKey) {
		t.Fatalf("PUT valid settings = %d %s", code, resp)
	}
	w := e.do(req{method: "GET", path: "/api/v1/settings", key: a.keys[bulwark.RoleViewer]})
	var got settingsResponse
	json.Unmarshal(w.Body.Bytes(), &got)
	if w.Code != 200 || !got.APIKeySet || got.Model != "anthropic:claude-x" || got.AllowedDomains[0] != "example.com" ||
		got.Limits.MaxSteps != 20 || got.Policy.Default != bulwark.Ask || strings.Contains(w.Body.String(), apiKey) {
		t.Errorf("GET settings = %d %s", w.Code, w.Body)
	}
	vals, _ := e.db.SecretValues(context.Background(), a.id)
	if vals[bulwark.ModelAPIKeySecret] != apiKey {
		t.Error("the model API key is not stored as the MODEL_API_KEY secret")
	}
	// Left out, the key is kept; "" removes it; the default model shows.
	put(`{}`)
	if v, _ := e.db.SecretValues(context.Background(), a.id); v[bulwark.ModelAPIKeySecret] == "" {
		t.Error("a PUT without api_key removed the key")
	}
	_, resp = put(`{"api_key":""}`)
	if !strings.Contains(resp, `"api_key_set":false`) || !strings.Contains(resp, `"effective_model":"the server's default model"`) {
		t.Errorf("after removing the key: %s", resp)
	}
	if n := len(e.audited("settings.update")); n != 3 {
		t.Errorf("%d settings.update records, want 3", n)
	}
	for _, r := range e.audited("settings.update") {
		for _, v := range r.Details {
			if strings.Contains(v, apiKey) {
				t.Error("the audit log holds the model API key")
			}
		}
	}
}

func TestSecretsRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	admin := a.keys[bulwark.RoleAdmin]
	const value = "the-secret-value-42"
	if w := e.do(req{method: "PUT", path: "/api/v1/secrets/GITHUB_TOKEN", key: admin, body: `{"value":"` + value + `"}`}); w.Code != 204 {
		t.Fatalf("PUT secret = %d %s", w.Code, w.Body)
	}
	w := e.do(req{method: "GET", path: "/api/v1/secrets", key: admin})
	if w.Code != 200 || !strings.Contains(w.Body.String(), "GITHUB_TOKEN") || strings.Contains(w.Body.String(), value) {
		t.Errorf("GET secrets = %d %s, want the name only", w.Code, w.Body)
	}
	red, err := e.srv.red.For(context.Background(), a.id)
	if err != nil {
		t.Fatal(err)
	}
	if got := red.String("log: " + value); strings.Contains(got, value) {
		t.Errorf("the tenant's redactor does not mask a secret set through the API: %q", got)
	}
	other, err := e.srv.red.For(context.Background(), e.tenant("other").id)
	if err != nil {
		t.Fatal(err)
	}
	if got := other.String("log: " + value); got != "log: "+value {
		t.Errorf("another tenant's redactor masks the secret: %q", got)
	}
	for _, c := range []struct{ path, body string }{
		{"/api/v1/secrets/9bad", `{"value":"long-enough-value"}`},
		{"/api/v1/secrets/OK", `{"value":"x"}`},
		{"/api/v1/secrets/OK", `{"valu":"long-enough-value"}`},
		{"/api/v1/secrets/OK", `{"value":"long-enough-value","hosts":["127.0.0.1"]}`},
		{"/api/v1/secrets/OK", `{"value":"long-enough-value","hosts":["*"]}`},
		{"/api/v1/secrets/OK", `{"value":"long-enough-value","hosts":"api.github.com"}`},
	} {
		if w := e.do(req{method: "PUT", path: c.path, key: admin, body: c.body}); w.Code != 400 {
			t.Errorf("PUT %s %s = %d, want 400", c.path, c.body, w.Code)
		}
	}
	// Hosts bind the secret; the listing shows them, canonical.
	if w := e.do(req{method: "PUT", path: "/api/v1/secrets/GITHUB_TOKEN", key: admin, body: `{"value":"` + value + `","hosts":["API.github.com","*.example.com"]}`}); w.Code != 204 {
		t.Fatalf("PUT secret with hosts = %d %s", w.Code, w.Body)
	}
	w = e.do(req{method: "GET", path: "/api/v1/secrets", key: admin})
	if !strings.Contains(w.Body.String(), `"hosts":["*.example.com","api.github.com"]`) {
		t.Errorf("GET secrets = %s, want the bound hosts", w.Body)
	}
	if w := e.do(req{method: "DELETE", path: "/api/v1/secrets/GITHUB_TOKEN", key: admin}); w.Code != 204 {
		t.Errorf("DELETE = %d", w.Code)
	}
	if len(e.audited("secret.set")) != 2 || len(e.audited("secret.delete")) != 1 {
		t.Error("secret changes are not audited")
	}
}

func TestAuditRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	for range 3 {
		e.login(a.users[bulwark.RoleMember].Email)
		e.login(b.users[bulwark.RoleMember].Email)
	}
	e.do(req{method: "POST", path: "/api/v1/login", body: loginBody(a.users[bulwark.RoleMember].Email, "wrong password!")})
	e.srv.unauth.Flush(context.Background(), true) // the minute's count of failed logins
	admin := a.keys[bulwark.RoleAdmin]
	get := func(q string) auditResponse {
		t.Helper()
		w := e.do(req{method: "GET", path: "/api/v1/audit" + q, key: admin})
		if w.Code != 200 {
			t.Fatalf("GET /audit%s = %d %s", q, w.Code, w.Body)
		}
		var r auditResponse
		json.Unmarshal(w.Body.Bytes(), &r)
		return r
	}
	all := get("")
	if len(all.Records) != 4 {
		t.Errorf("A's records: %d, want 4 (3 logins, 1 failure)", len(all.Records))
	}
	for _, r := range all.Records {
		if strings.Contains(r.Target, b.users[bulwark.RoleMember].ID) {
			t.Errorf("A sees B's record %+v", r)
		}
	}
	page := get("?limit=2")
	if len(page.Records) != 2 || page.Next == 0 {
		t.Fatalf("page 1: %d records, next %d", len(page.Records), page.Next)
	}
	rest := get("?limit=2&after=" + itoa64(page.Next))
	if len(rest.Records) != 2 || rest.Records[0].Seq <= page.Next {
		t.Errorf("page 2: %+v", rest)
	}
	if got := get("?action=auth.login_failed"); len(got.Records) != 1 {
		t.Errorf("action filter: %d records, want 1", len(got.Records))
	}
	if got := get("?action=auth.*"); len(got.Records) != 4 {
		t.Errorf("action prefix filter: %d records, want 4", len(got.Records))
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?since=yesterday", "?after=-1"} {
		if w := e.do(req{method: "GET", path: "/api/v1/audit" + q, key: admin}); w.Code != 400 {
			t.Errorf("GET /audit%s = %d, want 400", q, w.Code)
		}
	}
	w := e.do(req{method: "GET", path: "/api/v1/audit/verify", key: admin})
	var v verifyResponse
	json.Unmarshal(w.Body.Bytes(), &v)
	if w.Code != 200 || !v.Intact || v.Records == 0 {
		t.Errorf("verify = %d %s", w.Code, w.Body)
	}
	if v.Records != 4 || v.Checked != 4 || !v.MACsChecked {
		t.Errorf("verify = %d records, %d checked, MACs checked %v; want A's own 4, all read the first time, their MACs checked", v.Records, v.Checked, v.MACsChecked)
	}
	verify := func(q string) verifyResponse {
		t.Helper()
		w := e.do(req{method: "GET", path: "/api/v1/audit/verify" + q, key: admin})
		var v verifyResponse
		json.Unmarshal(w.Body.Bytes(), &v)
		if w.Code != http.StatusOK {
			t.Fatalf("GET /audit/verify%s = %d %s", q, w.Code, w.Body)
		}
		return v
	}
	e.login(a.users[bulwark.RoleMember].Email)
	if v := verify(""); !v.Intact || v.Records != 5 || v.Checked != 2 {
		t.Errorf("second verify = %+v, want intact, 5 records, 2 read (the last verified and the new one)", v)
	}
	// A change to a record verified before is found by a full verify...
	store := e.audits.Store(string(a.id))
	store.Lines[0] = []byte(strings.Replace(string(store.Lines[0]), "auth.login", "auth.lügin", 1))
	if v := verify("?full=true"); v.Intact || v.Problem == "" {
		t.Errorf("full verify of a changed chain = %+v, want not intact", v)
	}
	// ...and one to a record added since by the incremental one.
	e.login(a.users[bulwark.RoleMember].Email)
	store.Lines[5] = []byte(strings.Replace(string(store.Lines[5]), "auth.login", "auth.lügin", 1))
	if v := verify(""); v.Intact || v.Problem == "" {
		t.Errorf("verify of a changed new record = %+v, want not intact", v)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/audit/verify?full=maybe", key: admin}); w.Code != 400 {
		t.Errorf("verify?full=maybe = %d, want 400", w.Code)
	}
}

func TestOperatorRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	op, _, err := IssueKey(context.Background(), e.db, "", KeySpec{Name: "op"})
	if err != nil {
		t.Fatal(err)
	}
	w := e.do(req{method: "POST", path: "/api/v1/tenants", key: op, body: `{"name":"acme"}`})
	var created createTenantResponse
	json.Unmarshal(w.Body.Bytes(), &created)
	if w.Code != 201 || !strings.HasPrefix(created.Token, "bwk_") || created.Key.Role != bulwark.RoleOwner {
		t.Fatalf("POST /tenants = %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/me", key: created.Token}); w.Code != 200 {
		t.Errorf("the new tenant's key = %d", w.Code)
	}
	if w := e.do(req{method: "POST", path: "/api/v1/tenants", key: op, body: `{"name":"acme"}`}); w.Code != 409 {
		t.Errorf("a second tenant acme = %d, want 409", w.Code)
	}
	if w := e.do(req{method: "POST", path: "/api/v1/tenants", key: op, body: `{"name":""}`}); w.Code != 400 {
		t.Errorf("an empty name = %d, want 400", w.Code)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/tenants", key: op}); w.Code != 200 || !strings.Contains(w.Body.String(), "acme") {
		t.Errorf("GET /tenants = %d %s", w.Code, w.Body)
	}
}

func itoa64(n uint64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
