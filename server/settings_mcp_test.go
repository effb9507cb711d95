package server

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
)

// mcpGood is a tenant's MCP servers document as a person writes it:
// spaced, with a placeholder for the secret header and env value.
const mcpGood = `{
  "mcpServers": {
    "github": {"url": "https://api.githubcopilot.com/mcp/", "headers": {"Authorization": "Bearer {{secret:GITHUB_TOKEN}}", "X-Other": "{{secret:MCP_E2E_TOKEN}}"}},
    "files": {"command": "mcp-server-filesystem", "args": ["/workspace"], "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "{{secret:GITHUB_TOKEN}}", "MODE": "zq-env-marker"}}
  }
}`

// mcpSecretValue is the value of the tenant's GITHUB_TOKEN in these tests.
const mcpSecretValue = "gh-mcp-real-value-5Tq8Lw2x"

// mcpSettings is the mcp field of a settings answer.
func mcpSettings(t *testing.T, body []byte) json.RawMessage {
	t.Helper()
	var v struct {
		MCP json.RawMessage `json:"mcp"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("the settings answer %s is not JSON: %v", body, err)
	}
	return v.MCP
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

// mcpHook is a fake Config.CheckMCP that records its calls and refuses a
// document naming the server "refused".
type mcpHook struct {
	mu    sync.Mutex
	calls []mcpHookCall
}

type mcpHookCall struct {
	doc     string
	domains []string
}

func (h *mcpHook) check(doc []byte, domains []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, mcpHookCall{string(doc), slices.Clone(domains)})
	if strings.Contains(string(doc), `"prefixed"`) {
		return bulwark.Errorf(bulwark.Invalid, "mcpclient.Parse", `mcp: server "prefixed": refused`)
	}
	if strings.Contains(string(doc), `"refused"`) {
		return bulwark.Errorf(bulwark.Invalid, "mcpclient.Parse", `server "refused": url: the host is not in the allowed domains`)
	}
	return nil
}

func (h *mcpHook) taken() []mcpHookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.calls
	h.calls = nil
	return out
}

// TestSettingsMCP: a tenant's MCP servers are stored as sent (the same
// JSON, placeholders kept), returned by GET to its members without any
// secret's value, checked by the hook with the allowlist saved beside
// them, cleared by null or by leaving them out, and audited by name.
func TestSettingsMCP(t *testing.T) {
	t.Parallel()
	hook := &mcpHook{}
	e := newEnv(t, rateLimitOff, func(c *Config) { c.CheckMCP = hook.check })
	a := e.tenant("a")
	admin := a.keys[bulwark.RoleAdmin]
	ctx := context.Background()
	if err := e.db.SetSecret(ctx, a.id, "GITHUB_TOKEN", mcpSecretValue); err != nil {
		t.Fatal(err)
	}
	body := `{"allowed_domains":["API.githubcopilot.com"],"mcp":` + mcpGood + `}`
	w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: body})
	if w.Code != 200 {
		t.Fatalf("PUT %s = %d %s", body, w.Code, w.Body)
	}
	if got := mcpSettings(t, w.Body.Bytes()); !sameJSON(t, got, []byte(mcpGood)) {
		t.Errorf("PUT answered mcp %s, want what was sent:\n%s", got, mcpGood)
	}
	calls := hook.taken()
	if len(calls) != 1 || !sameJSON(t, []byte(calls[0].doc), []byte(mcpGood)) || !slices.Equal(calls[0].domains, []string{"api.githubcopilot.com"}) {
		t.Fatalf("CheckMCP calls %+v, want one with the document and the saved allowlist", calls)
	}
	stored, err := e.db.Settings(ctx, a.id)
	if err != nil {
		t.Fatal(err)
	}
	if string(stored.MCP) != calls[0].doc {
		t.Errorf("the store holds %s, but the hook checked %s", stored.MCP, calls[0].doc)
	}
	for _, role := range bulwark.TenantRoles {
		w := e.do(req{method: "GET", path: "/api/v1/settings", key: a.keys[role]})
		got := mcpSettings(t, w.Body.Bytes())
		if w.Code != 200 || !sameJSON(t, got, []byte(mcpGood)) {
			t.Errorf("GET as %s = %d, mcp %s; want the document as sent", role, w.Code, got)
		}
		if !strings.Contains(w.Body.String(), "{{secret:GITHUB_TOKEN}}") || strings.Contains(w.Body.String(), mcpSecretValue) {
			t.Errorf("GET as %s shows %s: want the placeholder, never the secret's value", role, w.Body)
		}
	}
	// The same servers and one more: audited by name.
	more := strings.Replace(mcpGood, `"mcpServers": {`, `"mcpServers": {"search": {"url": "https://api.githubcopilot.com/search"},`, 1)
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: `{"allowed_domains":["api.githubcopilot.com"],"mcp":` + more + `}`}); w.Code != 200 {
		t.Fatalf("PUT another server = %d %s", w.Code, w.Body)
	}
	// Left out, the servers go (PUT replaces the whole settings); null too.
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: `{"model":"openai:x"}`}); w.Code != 200 || mcpSettings(t, w.Body.Bytes()) != nil {
		t.Errorf("PUT without mcp = %d %s, want no servers", w.Code, w.Body)
	}
	e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: `{"mcp":` + mcpGood + `}`})
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: `{"mcp":null}`}); w.Code != 200 || mcpSettings(t, w.Body.Bytes()) != nil {
		t.Errorf("PUT mcp null = %d %s, want no servers", w.Code, w.Body)
	}
	if st, _ := e.db.Settings(ctx, a.id); st.MCP != nil {
		t.Errorf("after mcp null the store holds %s", st.MCP)
	}
	if calls := hook.taken(); len(calls) != 2 {
		t.Errorf("CheckMCP was called %d times for two documents and two PUTs without one", len(calls))
	}

	records := e.audited("settings.update")
	if len(records) != 5 {
		t.Fatalf("%d settings.update records, want 5", len(records))
	}
	want := []map[string]string{
		{"mcp_servers": "files,github", "mcp_added": "files,github"},
		{"mcp_servers": "files,github,search", "mcp_added": "search"},
		{"mcp_servers": "", "mcp_removed": "files,github,search"},
		{"mcp_servers": "files,github", "mcp_added": "files,github"},
		{"mcp_servers": "", "mcp_removed": "files,github"},
	}
	for i, r := range records {
		for k, v := range want[i] {
			if r.Details[k] != v {
				t.Errorf("settings.update #%d: %s = %q, want %q (details %v)", i, k, r.Details[k], v, r.Details)
			}
		}
		for _, k := range []string{"mcp_added", "mcp_removed", "mcp_changed"} {
			if _, ok := want[i][k]; !ok && r.Details[k] != "" {
				t.Errorf("settings.update #%d: %s = %q, want none", i, k, r.Details[k])
			}
		}
		for _, v := range r.Details {
			if strings.Contains(v, "zq-env-marker") || strings.Contains(v, "secret:") || strings.Contains(v, mcpSecretValue) {
				t.Errorf("settings.update #%d holds a value of a server's entry: %v", i, r.Details)
			}
		}
	}
}

// TestSettingsMCPChangedAudited: a server whose entry changes is named
// as changed, not as added or removed.
func TestSettingsMCPChangedAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	admin := e.tenant("a").keys[bulwark.RoleAdmin]
	for _, doc := range []string{
		`{"mcpServers":{"a":{"command":"one"},"b":{"command":"same <&>"}}}`,
		`{"mcpServers":{"a":{"command":"two"},"b":{"command":"same <&>"}}}`,
	} {
		if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: `{"mcp":` + doc + `}`}); w.Code != 200 {
			t.Fatalf("PUT %s = %d %s", doc, w.Code, w.Body)
		}
	}
	r := e.audited("settings.update")
	if len(r) != 2 {
		t.Fatalf("%d records", len(r))
	}
	if d := r[1].Details; d["mcp_changed"] != "a" || d["mcp_added"] != "" || d["mcp_removed"] != "" || d["mcp_servers"] != "a,b" {
		t.Errorf("the second change is audited as %v, want a changed and b unchanged", d)
	}
}

// TestSettingsMCPRefused: a document of the wrong form, too large, with
// too many servers, with a name that cannot name tools, or holding a
// secret's value instead of its placeholder is refused with 400 naming
// the field, stores nothing, repeats no value, and never reaches the
// hook; the hook's refusal is a 400 with its message.
func TestSettingsMCPRefused(t *testing.T) {
	t.Parallel()
	hook := &mcpHook{}
	e := newEnv(t, rateLimitOff, func(c *Config) { c.CheckMCP = hook.check })
	a := e.tenant("a")
	admin := a.keys[bulwark.RoleAdmin]
	ctx := context.Background()
	if err := e.db.SetSecret(ctx, a.id, "GITHUB_TOKEN", mcpSecretValue); err != nil {
		t.Fatal(err)
	}
	const before = `{"mcpServers":{"kept":{"command":"kept-server"}}}`
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: `{"mcp":` + before + `}`}); w.Code != 200 {
		t.Fatalf("PUT = %d %s", w.Code, w.Body)
	}
	hook.taken()
	var many, big strings.Builder
	for i := range maxMCPServers + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"s%d":{"command":"x"}`, i)
	}
	big.WriteString(`{"mcpServers":{"big":{"command":"x","args":[`)
	for i := range maxMCPDoc / 8 {
		if i > 0 {
			big.WriteString(",")
		}
		big.WriteString(`"aaaaa"`)
	}
	big.WriteString(`]}}}`)
	longName := strings.Repeat("n", 33)
	cases := map[string]struct{ body, msg string }{
		"a name twice in two cases":    {`{"mcp":{"mcpServers":{"gh":{"command":"x"},"GH":{"command":"y"}}}}`, "twice"},
		"the hook's own prefix":        {`{"mcp":{"mcpServers":{"prefixed":{"url":"https://elsewhere.example.com"}}}}`, "mcp: server \"prefixed\": refused"},
		"a value beside a placeholder": {`{"mcp":{"mcpServers":{"gh":{"command":"x","args":["{{secret:GITHUB_TOKEN}}` + mcpSecretValue + `"]}}}}`, errMCPSecretValue},
		"an array":                     {`{"mcp":[]}`, "mcp: want"},
		"a string":                     {`{"mcp":"{\"mcpServers\":{}}"}`, "mcp: want"},
		"a number":                     {`{"mcp":1}`, "mcp: want"},
		"no mcpServers":                {`{"mcp":{}}`, "mcp: want"},
		"servers misspelled":           {`{"mcp":{"mcp_servers":{}}}`, "mcp: want"},
		"another key":                  {`{"mcp":{"mcpServers":{},"globalShortcut":"x"}}`, "mcp: want"},
		"servers an array":             {`{"mcp":{"mcpServers":[]}}`, "mcp: want"},
		"servers null":                 {`{"mcp":{"mcpServers":null}}`, "mcp: want"},
		"a server not object":          {`{"mcp":{"mcpServers":{"gh":"npx gh"}}}`, "mcp: mcpServers.gh"},
		"a server null":                {`{"mcp":{"mcpServers":{"gh":null}}}`, "mcp: mcpServers.gh"},
		"a name with a space":          {`{"mcp":{"mcpServers":{"zq name":{"command":"x"}}}}`, "mcp: a server name"},
		"a name with __":               {`{"mcp":{"mcpServers":{"zq__x":{"command":"x"}}}}`, "mcp: a server name"},
		"a name ending with _":         {`{"mcp":{"mcpServers":{"zq_":{"command":"x"}}}}`, "mcp: a server name"},
		"an empty name":                {`{"mcp":{"mcpServers":{"":{"command":"x"}}}}`, "mcp: a server name"},
		"a long name":                  {`{"mcp":{"mcpServers":{"` + longName + `":{"command":"x"}}}}`, "mcp: a server name"},
		"a name of markup":             {`{"mcp":{"mcpServers":{"<zq>":{"command":"x"}}}}`, "mcp: a server name"},
		"a name twice":                 {`{"mcp":{"mcpServers":{"gh":{"command":"x"},"gh":{"command":"y"}}}}`, "twice"},
		"too many servers":             {`{"mcp":{"mcpServers":{` + many.String() + `}}}`, "mcp: at most 32 servers"},
		"too large":                    {`{"mcp":` + big.String() + `}`, "mcp: at most 65536 bytes"},
		"a secret value":               {`{"mcp":{"mcpServers":{"gh":{"url":"https://h.example.com","headers":{"X-Token":"` + mcpSecretValue + `"}}}}}`, errMCPSecretValue},
		"a secret in an arg":           {`{"mcp":{"mcpServers":{"gh":{"command":"x","args":["--key=` + mcpSecretValue + `"]}}}}`, errMCPSecretValue},
		"a secret escaped":             {`{"mcp":{"mcpServers":{"gh":{"command":"x","args":["` + jsonEscapeAll(mcpSecretValue) + `"]}}}}`, errMCPSecretValue},
		"a GitHub token":               {`{"mcp":{"mcpServers":{"gh":{"command":"x","env":{"GITHUB_PERSONAL_ACCESS_TOKEN":"ghp_0123456789abcdefABCDEF0123456789abcd"}}}}}`, errMCPSecretValue},
		"a bearer credential":          {`{"mcp":{"mcpServers":{"gh":{"url":"https://h.example.com","headers":{"Authorization":"Bearer zqAbcdefghij0123456789"}}}}}`, errMCPSecretValue},
		"a password in a URL":          {`{"mcp":{"mcpServers":{"gh":{"url":"https://me:zqPassw0rd-long@h.example.com/mcp"}}}}`, errMCPSecretValue},
		"the API key sent too":         {`{"api_key":"sk-zq-new-model-key-0123","mcp":{"mcpServers":{"gh":{"command":"x","args":["sk-zq-new-model-key-0123"]}}}}`, errMCPSecretValue},
		"the hook refuses":             {`{"mcp":{"mcpServers":{"refused":{"url":"https://elsewhere.example.com"}}}}`, `mcp: server "refused": url: the host is not in the allowed domains`},
	}
	for name, c := range cases {
		w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: c.body})
		msg := ""
		if w.Code == 400 {
			msg = errorOf(t, w).Message
		}
		if w.Code != 400 || !strings.Contains(msg, c.msg) || strings.Contains(msg, "mcp: mcp:") {
			t.Errorf("%s: PUT = %d %s, want 400 saying %q", name, w.Code, w.Body, c.msg)
		}
		for _, v := range []string{mcpSecretValue, "zq"} {
			if strings.Contains(msg, v) && !strings.Contains(c.msg, v) {
				t.Errorf("%s: the answer %q repeats what was sent (%q)", name, msg, v)
			}
		}
		calls := hook.taken()
		if name == "the hook refuses" || name == "the hook's own prefix" {
			if len(calls) != 1 {
				t.Errorf("%s: CheckMCP called %d times, want once", name, len(calls))
			}
		} else if len(calls) != 0 {
			t.Errorf("%s: CheckMCP was called for a document the server's own checks refuse", name)
		}
	}
	st, err := e.db.Settings(ctx, a.id)
	if err != nil || string(st.MCP) != before {
		t.Errorf("after the refused PUTs the store holds %s (%v), want the document before them", st.MCP, err)
	}
	if v, _ := e.db.SecretValues(ctx, a.id); v[bulwark.ModelAPIKeySecret] != "" {
		t.Error("a refused PUT stored its api_key")
	}
}

// jsonEscapeAll writes s as \u escapes: JSON that decodes to s without
// holding it.
func jsonEscapeAll(s string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	return b.String()
}

// TestSettingsMCPMasksSecretSetLater: a document saved with a literal
// value that later becomes a secret's is shown masked, as valid JSON,
// never with the value.
func TestSettingsMCPMasksSecretSetLater(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	const literal = "team-literal-value-42"
	doc := `{"mcpServers":{"team":{"url":"https://team.example.com/mcp","headers":{"X-Team":"` + literal + `","Authorization":"Bearer {{secret:MCP_E2E_TOKEN}}"}}}}`
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: a.keys[bulwark.RoleAdmin], body: `{"mcp":` + doc + `}`}); w.Code != 200 {
		t.Fatalf("PUT = %d %s", w.Code, w.Body)
	}
	if w := e.do(req{method: "PUT", path: "/api/v1/secrets/TEAM", key: a.keys[bulwark.RoleAdmin], body: `{"value":"` + literal + `"}`}); w.Code != 204 {
		t.Fatalf("PUT secret = %d %s", w.Code, w.Body)
	}
	w := e.do(req{method: "GET", path: "/api/v1/settings", key: a.keys[bulwark.RoleViewer]})
	got := mcpSettings(t, w.Body.Bytes())
	if w.Code != 200 || strings.Contains(w.Body.String(), literal) || !json.Valid(got) || !strings.Contains(string(got), "REDACTED") ||
		!strings.Contains(string(got), "https://team.example.com/mcp") || !strings.Contains(string(got), `"Bearer {{secret:MCP_E2E_TOKEN}}"`) {
		t.Errorf("GET = %d %s, want the document with the secret's value masked", w.Code, w.Body)
	}
}

// TestSettingsMCPOtherTenant: one tenant's MCP servers are never in
// another's settings, and another's PUT leaves them alone.
func TestSettingsMCPOtherTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	const doc = `{"mcpServers":{"a-only-server":{"url":"https://a-only.example.com/mcp"}}}`
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: a.keys[bulwark.RoleAdmin], body: `{"mcp":` + doc + `}`}); w.Code != 200 {
		t.Fatalf("PUT = %d %s", w.Code, w.Body)
	}
	for _, role := range bulwark.TenantRoles {
		w := e.do(req{method: "GET", path: "/api/v1/settings", key: b.keys[role]})
		if w.Code != 200 || strings.Contains(w.Body.String(), "a-only") || mcpSettings(t, w.Body.Bytes()) != nil {
			t.Errorf("B's %s reads its settings as %d %s: A's servers show", role, w.Code, w.Body)
		}
	}
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: b.keys[bulwark.RoleAdmin], body: `{"mcp":null}`}); w.Code != 200 {
		t.Fatalf("B's PUT = %d %s", w.Code, w.Body)
	}
	if st, _ := e.db.Settings(context.Background(), a.id); !sameJSON(t, st.MCP, []byte(doc)) {
		t.Errorf("after B's PUT, A's servers are %s", st.MCP)
	}
}

// FuzzCheckMCPDoc: whatever a tenant sends as its MCP servers, the check
// does not panic, and a document it accepts is canonical: the same JSON
// value as sent, unchanged by the store's json.Marshal and by a second
// canonicalisation, so that what was checked is what is stored and shown.
func FuzzCheckMCPDoc(f *testing.F) {
	for _, s := range []string{mcpGood, `null`, `{"mcpServers":{}}`, `{"mcpServers":{"a":{"command":"\u0061<&>\u2028","args":[1e3,-0.5,true,null,[],{}]}}}`,
		`{"mcpServers":{"a":{}}}x`, `[{"mcpServers":{}}]`, `{"mcpServers":{"a__b":{}}}`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, sent []byte) {
		d, err := checkMCPDoc(sent)
		if err != nil || d.raw == nil {
			return
		}
		if !json.Valid(d.raw) {
			t.Fatalf("accepted %q as %q, which is not JSON", sent, d.raw)
		}
		again, err := canonicalJSON(d.raw)
		if err != nil || string(again) != string(d.raw) {
			t.Fatalf("canonical %q canonicalises again to %q (%v)", d.raw, again, err)
		}
		stored, err := json.Marshal(json.RawMessage(d.raw))
		if err != nil || string(stored) != string(d.raw) {
			t.Fatalf("canonical %q is stored as %q (%v)", d.raw, stored, err)
		}
		var a, b any
		if json.Unmarshal(sent, &a) == nil && json.Unmarshal(d.raw, &b) == nil && !reflect.DeepEqual(a, b) && json.Valid(sent) && utf8Valid(sent) {
			t.Fatalf("accepted %q as %q, another value", sent, d.raw)
		}
		if len(d.servers) > maxMCPServers || len(d.raw) > maxMCPDoc {
			t.Fatalf("accepted %q over the bounds", sent)
		}
		for name := range d.servers {
			if !validMCPServerName(name) {
				t.Fatalf("accepted the server name %q", name)
			}
		}
	})
}

func utf8Valid(b []byte) bool {
	return utf8.Valid(b) && !strings.Contains(string(b), `\ud`) && !strings.Contains(string(b), `\uD`)
}

func TestCanonicalJSON(t *testing.T) {
	for in, want := range map[string]string{
		` { "b" : [ 1 , "\u0061" , { } , [ ] , null , true ] , "a" : "<&>" } `: `{"b":[1,"a",{},[],null,true],"a":"\u003c\u0026\u003e"}`,
		`"x"`:     `"x"`,
		`1.50`:    `1.50`,
		`{"a":1}`: `{"a":1}`,
	} {
		if got, err := canonicalJSON([]byte(in)); err != nil || string(got) != want {
			t.Errorf("canonicalJSON(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{``, `{`, `{"a":1}{}`, `{"a":1} x`, `[1,]`} {
		if got, err := canonicalJSON([]byte(in)); err == nil {
			t.Errorf("canonicalJSON(%s) = %s, want an error", in, got)
		}
	}
}

// TestOpenAPIDescribesMCPSettings: the API document gives the mcp field
// of the settings, in the request and the answer, its real shape and
// bounds rather than "any JSON value".
func TestOpenAPIDescribesMCPSettings(t *testing.T) {
	t.Parallel()
	doc := fetchOpenAPI(t, newEnv(t))
	for _, rt := range []Route{{Method: "GET", Pattern: "/api/v1/settings"}, {Method: "PUT", Pattern: "/api/v1/settings"}} {
		op := opOf(doc, rt)
		schemas := []any{dig(op, "responses", "200", "content", "application/json", "schema")}
		if rt.Method == "PUT" {
			schemas = append(schemas, dig(op, "requestBody", "content", "application/json", "schema"))
		}
		for _, sch := range schemas {
			if ref, ok := dig(sch, "$ref").(string); ok {
				sch = dig(doc, strings.Split(strings.TrimPrefix(ref, "#/"), "/")...)
			}
			mcp := dig(sch, "properties", "mcp")
			if max, _ := dig(mcp, "properties", "mcpServers", "maxProperties").(float64); max != maxMCPServers {
				t.Errorf("%s %s: the schema of mcp is %v, want the mcpServers document with at most %d servers", rt.Method, rt.Pattern, mcp, maxMCPServers)
			}
		}
	}
}

// TestSettingsMCPSecretsNeedTheSecretsScope: a key scoped to the settings
// but not the secrets cannot add or change a server that sends secrets
// (it could send them to a host of its choosing); it can keep or remove
// one, and add servers that send none.
func TestSettingsMCPSecretsNeedTheSecretsScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	scoped, _, err := IssueKey(context.Background(), e.db, a.id, KeySpec{Name: "settings only", Role: bulwark.RoleAdmin, Scopes: []string{"settings"}, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	const (
		gh    = `"gh":{"url":"https://api.example.com/mcp","headers":{"Authorization":"Bearer {{secret:GITHUB_TOKEN}}"}}`
		ghTo  = `"gh":{"url":"https://evil.example.net/mcp","headers":{"Authorization":"Bearer {{secret:GITHUB_TOKEN}}"}}`
		plain = `"plain":{"command":"x"}`
	)
	put := func(key, servers string) int {
		t.Helper()
		return e.do(req{method: "PUT", path: "/api/v1/settings", key: key, body: `{"mcp":{"mcpServers":{` + servers + `}}}`}).Code
	}
	steps := []struct {
		key, servers string
		want         int
	}{
		{scoped, gh, 403},
		{a.keys[bulwark.RoleAdmin], gh, 200},
		{scoped, gh + "," + plain, 200}, // kept as it was, one without secrets added
		{scoped, ghTo + "," + plain, 403},
		{scoped, plain, 200}, // removed
		{scoped, strings.Replace(gh, "GITHUB_TOKEN", "OTHER", 1), 403},
	}
	for i, s := range steps {
		if got := put(s.key, s.servers); got != s.want {
			t.Errorf("step %d: PUT %s = %d, want %d", i, s.servers, got, s.want)
		}
	}
}

// TestSettingsMCPSecretBindings: a server may send a secret bound to hosts
// only when its URL's host is one of them.
func TestSettingsMCPSecretBindings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	admin := a.keys[bulwark.RoleAdmin]
	ctx := context.Background()
	if err := e.db.SetSecret(ctx, a.id, "BOUND", "bound-value-0123456789", "api.example.com", "*.example.org"); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetSecret(ctx, a.id, "FREE", "free-value-0123456789"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		url, secret string
		want        int
	}{
		{"https://api.example.com/mcp", "BOUND", 200},
		{"https://mcp.example.org/mcp", "BOUND", 200},
		{"https://API.Example.com./mcp", "BOUND", 200},
		{"https://evil.example.net/mcp", "BOUND", 400},
		{"https://api.example.com.evil.example.net/mcp", "BOUND", 400},
		{"https://example.org/mcp", "BOUND", 400},
		{"https://evil.example.net/mcp", "FREE", 200},
	} {
		body := `{"mcp":{"mcpServers":{"s":{"url":"` + c.url + `","headers":{"Authorization":"Bearer {{secret:` + c.secret + `}}"}}}}}`
		w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: body})
		if w.Code != c.want || c.want == 400 && !strings.Contains(errorOf(t, w).Message, "mcp: mcpServers.s: the secret BOUND is bound to other hosts") {
			t.Errorf("a server at %s sending %s: PUT = %d %s, want %d", c.url, c.secret, w.Code, w.Body, c.want)
		}
	}
}
