package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// A tenant's taint setting: a known mode as strict as the operator's or
// stricter is stored and audited; an unknown one, or a weaker one, is
// refused with a message that says what is allowed. GET shows the
// operator's mode among the defaults.
func TestSettingsTaint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, rateLimitOff, func(c *Config) { c.Taint = bulwark.TaintDetected })
	a := e.tenant("a")
	admin := a.keys[bulwark.RoleAdmin]
	put := func(body string) (int, string) {
		w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: body})
		return w.Code, w.Body.String()
	}
	for _, tt := range []struct{ body, want string }{
		{`{"taint":"strict"}`, `taint: \"strict\" is not a taint mode: use detected, source or off`},
		{`{"taint":"SOURCE"}`, "is not a taint mode"},
		{`{"taint":7}`, ""},
		{`{"taint":"off"}`, "operator taints tasks in detected mode; a tenant may choose that mode or a stricter one (detected or source), not off"},
	} {
		if code, body := put(tt.body); code != 400 || !strings.Contains(body, tt.want) {
			t.Errorf("PUT %s = %d %s, want 400 with %q", tt.body, code, body, tt.want)
		}
	}
	if st, _ := e.db.Settings(ctx, a.id); st.Taint != "" {
		t.Fatalf("a refused taint was stored: %q", st.Taint)
	}
	if code, body := put(`{"taint":"source"}`); code != 200 || !strings.Contains(body, `"taint":"source"`) {
		t.Fatalf("PUT taint source = %d %s", code, body)
	}
	if st, _ := e.db.Settings(ctx, a.id); st.Taint != bulwark.TaintSource {
		t.Fatalf("stored taint = %q, want source", st.Taint)
	}
	// Settings saved again without the field go back to the operator's.
	if code, body := put(`{}`); code != 200 {
		t.Fatalf("PUT {} = %d %s", code, body)
	}
	if code, _ := put(`{"taint":"detected"}`); code != 200 {
		t.Errorf("the operator's own mode was refused")
	}
	records := e.audited("settings.update")
	var changes []string
	for _, r := range records {
		changes = append(changes, r.Details["taint"])
	}
	if want := []string{"operator's -> source", "source -> operator's", "operator's -> detected"}; strings.Join(changes, "|") != strings.Join(want, "|") {
		t.Errorf("audited taint changes = %q, want %q", changes, want)
	}
	w := e.do(req{method: "GET", path: "/api/v1/settings", key: admin})
	var got struct {
		Taint    string `json:"taint"`
		Defaults struct {
			Taint string `json:"taint"`
		} `json:"defaults"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Taint != "detected" || got.Defaults.Taint != "detected" {
		t.Errorf("GET settings = %s (%v), want taint detected and the operator's detected among the defaults", w.Body, err)
	}
}

// With the operator's mode source, a tenant may not lower it; a weaker
// mode stored before the operator raised it can be saved again as it is.
func TestSettingsTaintOperatorSource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newEnv(t, rateLimitOff, func(c *Config) { c.Taint = bulwark.TaintSource })
	a := e.tenant("a")
	admin := a.keys[bulwark.RoleAdmin]
	for _, mode := range []string{"detected", "off"} {
		w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: `{"taint":"` + mode + `"}`})
		if w.Code != 400 || !strings.Contains(w.Body.String(), "a stricter one (source), not "+mode) {
			t.Errorf("PUT taint %s under an operator's source = %d %s, want 400", mode, w.Code, w.Body)
		}
	}
	if _, err := e.db.PutSettings(ctx, a.id, bulwark.Settings{Taint: bulwark.TaintOff}); err != nil {
		t.Fatal(err)
	}
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: `{"taint":"off","max_concurrent_tasks":2}`}); w.Code != 200 {
		t.Errorf("saving settings with their stored taint = %d %s, want 200", w.Code, w.Body)
	}
	// With the operator's off, a tenant may choose any mode.
	e2 := newEnv(t, rateLimitOff, func(c *Config) { c.Taint = bulwark.TaintOff })
	b := e2.tenant("b")
	for _, mode := range []string{"off", "detected", "source", ""} {
		if w := e2.do(req{method: "PUT", path: "/api/v1/settings", key: b.keys[bulwark.RoleAdmin], body: `{"taint":"` + mode + `"}`}); w.Code != 200 {
			t.Errorf("PUT taint %q under an operator's off = %d %s", mode, w.Code, w.Body)
		}
	}
}
