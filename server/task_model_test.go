package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestTaskEffectiveModel: a task started without a model shows the model
// it runs with: the tenant's from its settings (kept with the task), or,
// without one, the server's default, named as the settings name it and
// never by its spec.
func TestTaskEffectiveModel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff, withRuntime(t, ""), func(c *Config) { c.DefaultModel = "openai:operator-only-7f3e" })
	a := e.tenant("a")
	key := a.keys[bulwark.RoleAdmin]
	v := e.createTask(key, "hello")
	if v.Model != "" || v.EffectiveModel != serverDefaultModel || !v.DefaultModel {
		t.Errorf("a task on the server's default: model %q, effective %q, default %v; want \"\", %q, true", v.Model, v.EffectiveModel, v.DefaultModel, serverDefaultModel)
	}
	w := e.do(req{method: "GET", path: "/api/v1/tasks", key: key})
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "operator-only-7f3e") || !strings.Contains(w.Body.String(), `"effective_model":"`+serverDefaultModel+`"`) {
		t.Errorf("GET /api/v1/tasks = %d %s; want the default named, never its spec", w.Code, w.Body)
	}
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: key, body: `{"model":"openai:tenant-model"}`}); w.Code != http.StatusOK {
		t.Fatalf("PUT settings = %d %s", w.Code, w.Body)
	}
	v = e.createTask(key, "hello again")
	if v.Model != "openai:tenant-model" || v.EffectiveModel != "openai:tenant-model" || v.DefaultModel {
		t.Errorf("a task on the tenant's model: model %q, effective %q, default %v; want the tenant's", v.Model, v.EffectiveModel, v.DefaultModel)
	}
}

// TestLocalModelRefusedAtSave: a model the tenant may not use (an ollama
// model where the operator shares no local model server) is refused when
// the settings are saved, and when a task names it, saying why; the
// settings keep what they had.
func TestLocalModelRefusedAtSave(t *testing.T) {
	t.Parallel()
	const why = "ollama models run on the server's own model server, which is not shared with this tenant"
	e := newEnv(t, rateLimitOff, withRuntime(t, ""), func(c *Config) {
		c.CheckModel = func(_ context.Context, _ bulwark.TenantID, spec string) error {
			if strings.HasPrefix(spec, "ollama:") {
				return bulwark.Errorf(bulwark.PermissionDenied, "test", why)
			}
			return nil
		}
	})
	a := e.tenant("a")
	key := a.keys[bulwark.RoleAdmin]
	w := e.do(req{method: "PUT", path: "/api/v1/settings", key: key, body: `{"model":"ollama:llama3"}`})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "model: "+why) {
		t.Errorf("PUT settings with an ollama model = %d %s, want 400 saying why", w.Code, w.Body)
	}
	if st, _ := e.db.Settings(context.Background(), a.id); st.Model != "" {
		t.Errorf("the refused model was saved: %q", st.Model)
	}
	w = e.do(req{method: "POST", path: "/api/v1/tasks", key: key, body: `{"input":"x","model":"ollama:llama3"}`})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), why) {
		t.Errorf("POST a task with an ollama model = %d %s, want 400 saying why", w.Code, w.Body)
	}
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: key, body: `{"model":"openai:gpt-4o"}`}); w.Code != http.StatusOK {
		t.Errorf("PUT settings with an allowed model = %d %s", w.Code, w.Body)
	}
}
