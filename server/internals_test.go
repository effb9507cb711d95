package server

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/llm/transport"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/sqlite"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/workspace"
)

// TestSettingsHideDefaultModel: a tenant's users see that their tasks
// use the server's default model, never its spec.
func TestSettingsHideDefaultModel(t *testing.T) {
	t.Parallel()
	const spec = "replay:/srv/operator/scripts/demo.jsonl"
	e := newEnv(t, rateLimitOff, func(c *Config) { c.DefaultModel = spec })
	a := e.tenant("a")
	viewer := a.users[bulwark.RoleViewer]
	for name, rq := range map[string]req{
		"viewer key":     {key: a.keys[bulwark.RoleViewer]},
		"viewer session": {cookie: e.login(viewer.Email)},
		"owner key":      {key: a.keys[bulwark.RoleOwner]},
	} {
		rq.method, rq.path = "GET", "/api/v1/settings"
		w := e.do(rq)
		got := decode[settingsResponse](t, w)
		if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "/srv/operator") || strings.Contains(w.Body.String(), "replay") {
			t.Errorf("%s: GET settings = %d %s, shows the operator's spec", name, w.Code, w.Body)
		}
		if got.EffectiveModel != serverDefaultModel || !got.DefaultModel {
			t.Errorf("%s: effective_model %q, default_model %v; want %q, true", name, got.EffectiveModel, got.DefaultModel, serverDefaultModel)
		}
	}
	// The tenant's own model is the tenant's to see.
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: a.keys[bulwark.RoleAdmin], body: `{"model":"openai:gpt-4o"}`}); w.Code != http.StatusOK {
		t.Fatalf("PUT settings = %d %s", w.Code, w.Body)
	}
	got := decode[settingsResponse](t, e.do(req{method: "GET", path: "/api/v1/settings", key: a.keys[bulwark.RoleViewer]}))
	if got.EffectiveModel != "openai:gpt-4o" || got.DefaultModel {
		t.Errorf("with a model of its own: effective_model %q, default_model %v", got.EffectiveModel, got.DefaultModel)
	}
}

// lockedBuffer is a log sink safe for the runner's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestModelErrorHidesAddress: when the provider cannot be reached, the
// task's events say which provider and that it was unreachable; its
// address goes to the log only.
func TestModelErrorHidesAddress(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	unreachable := func(c *Config) {
		db := c.Store.(*sqlite.DB)
		rt := runner.New(runner.Config{
			Store: db, Artifacts: db, Dir: t.TempDir(), Audit: c.Audit,
			Prepare: func(ctx context.Context, task bulwark.Task, ws *workspace.Workspace) (*runner.Setup, error) {
				m, err := provider.OpenWith("ollama:llama3", func(k string) string {
					if k == "OLLAMA_HOST" {
						return "http://" + addr
					}
					return ""
				}, provider.Options{Logger: logger, Retry: transport.Retry{MaxAttempts: 2, BaseDelay: time.Microsecond}})
				if err != nil {
					return nil, err
				}
				return &runner.Setup{Model: m, Tools: tool.NewRegistry(interact.Finish())}, nil
			},
		})
		if err := rt.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rt.Shutdown(ctx)
		})
		c.Runtime = rt
	}
	e := newEnv(t, rateLimitOff, unreachable)
	a := e.tenant("a")
	key := a.keys[bulwark.RoleViewer]
	v := e.createTask(a.keys[bulwark.RoleMember], "hello")
	v = e.waitTask(key, v.ID, ended)
	w := e.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/steps", key: key})
	task := e.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID, key: key})
	for _, body := range []string{w.Body.String(), task.Body.String()} {
		if strings.Contains(body, addr) || strings.Contains(body, "127.0.0.1") {
			t.Errorf("a tenant's view of the failed task names the provider's address: %s", body)
		}
	}
	if !strings.Contains(w.Body.String(), "cannot reach the ollama provider") {
		t.Errorf("the steps do not say which provider failed: %s", w.Body)
	}
	if !strings.Contains(logs.String(), addr) {
		t.Errorf("the log lacks the address: %s", logs)
	}
}
