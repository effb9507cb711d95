package web_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// The browser test of the MCP servers field of the settings page (issue
// 14, item 1): set, saved with the rest, shown again after a reload with
// its placeholders and never a secret's value, and the server's error
// shown next to the field for a bad document.

const (
	mcpSecretName  = "MCP_E2E_TOKEN"
	mcpSecretValue = "mcp-e2e-secret-value-7Kq2"
	// mcpDoc holds a placeholder and markup that must stay text.
	mcpDoc = `{"mcpServers": {"docs": {"url": "https://docs.example.com/mcp", "headers": {"Authorization": "Bearer {{secret:` + mcpSecretName + `}}"}},
  "local": {"command": "mcp-server-filesystem", "args": ["/workspace", "<img src=x onerror=\"window.__pwned=1\">"]}}}`
)

// mcpOf returns the tenant's MCP servers as the API gives them.
func mcpOf(t *testing.T, s *e2eServer) json.RawMessage {
	t.Helper()
	var st struct {
		MCP json.RawMessage `json:"mcp"`
	}
	s.api(t, "GET", "/api/v1/settings", "", 200, &st)
	return st.MCP
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(a, b []byte) bool {
	var va, vb any
	return json.Unmarshal(a, &va) == nil && json.Unmarshal(b, &vb) == nil && reflect.DeepEqual(va, vb)
}

// testSettingsMCP sets MCP servers on the settings page, sees them after
// a reload as they were written, and sees the server's refusal of a bad
// document (and the page's own of text that is not JSON) next to the
// field, with nothing saved.
func testSettingsMCP(t *testing.T, b *browser, s *e2eServer) {
	s.api(t, "PUT", "/api/v1/secrets/"+mcpSecretName, `{"value":"`+mcpSecretValue+`"}`, 204, nil)
	b.open(s.URL + "/settings")
	b.wait("the MCP servers field", `document.querySelector('form.settings textarea.mcp')`)
	if got := evalJS[string](b, `getComputedStyle(document.querySelector('textarea.mcp')).fontFamily`); !strings.Contains(got, "mono") {
		t.Errorf("the MCP servers field's font is %q, want a monospace one", got)
	}
	help := evalJS[string](b, `(() => { const e = document.querySelector('textarea.mcp'); const h = document.getElementById(e.id + '-help'); return h ? h.innerText : ''; })()`)
	for _, want := range []string{`"mcpServers"`, "{{secret:NAME}}", "allowed domains", "sandbox"} {
		if !strings.Contains(help, want) {
			t.Errorf("the MCP servers help reads %q, want it to mention %s", help, want)
		}
	}
	b.setValue("textarea.mcp", mcpDoc)
	b.click("form.settings button[type=submit]")
	b.wait("the settings to save", `document.querySelector('form.settings .note.ok')`)
	if got := mcpOf(t, s); !sameJSON(got, []byte(mcpDoc)) {
		t.Fatalf("after saving the page, the API gives mcp %s, want what was typed:\n%s", got, mcpDoc)
	}

	b.open(s.URL + "/settings")
	b.wait("the saved servers", `document.querySelector('textarea.mcp') && document.querySelector('textarea.mcp').value.includes('docs.example.com')`)
	shown := evalJS[string](b, `document.querySelector('textarea.mcp').value`)
	if !sameJSON([]byte(shown), []byte(mcpDoc)) || !strings.Contains(shown, "{{secret:"+mcpSecretName+"}}") {
		t.Errorf("after a reload the field shows %q, want the document with its placeholder", shown)
	}
	if strings.Contains(evalJS[string](b, `document.documentElement.outerHTML + document.querySelector('textarea.mcp').value`), mcpSecretValue) {
		t.Error("the settings page shows the secret's value")
	}
	checkNoInjection(t, b)
	b.shot("settings-mcp")

	// The server refuses a document; its message shows beside the field.
	const bad = `{"mcpServers": {"two words": {"command": "x"}}}`
	b.setValue("textarea.mcp", bad)
	b.click("form.settings button[type=submit]")
	b.wait("the server's error beside the field", `(() => {
		const e = document.querySelector('textarea.mcp').closest('fieldset').querySelector('.mcp-errors .error');
		return e && e.innerText.startsWith('mcp: a server name');
	})()`)
	if got := evalJS[string](b, `document.querySelector('textarea.mcp').getAttribute('aria-invalid') || ''`); got != "true" {
		t.Errorf("the refused field has aria-invalid %q, want true", got)
	}
	if b.text("form.settings .note.ok") != "" {
		t.Error("the page says Saved after a refusal")
	}
	if got := mcpOf(t, s); !sameJSON(got, []byte(mcpDoc)) {
		t.Errorf("after a refused save the API gives mcp %s, want the servers saved before", got)
	}
	b.shot("settings-mcp-error")

	// Text that is not JSON is refused by the page, beside the field.
	b.setValue("textarea.mcp", `{"mcpServers": {`)
	b.click("form.settings button[type=submit]")
	b.wait("the page's error beside the field", `(() => {
		const e = document.querySelector('fieldset .mcp-errors .error');
		return e && e.innerText.startsWith('mcp: not valid JSON');
	})()`)

	// Emptied, the servers go.
	b.setValue("textarea.mcp", "")
	b.click("form.settings button[type=submit]")
	b.wait("the settings to save", `document.querySelector('form.settings .note.ok') && !document.querySelector('.mcp-errors .error')`)
	if got := mcpOf(t, s); got != nil {
		t.Errorf("after emptying the field the API gives mcp %s, want none", got)
	}
}
