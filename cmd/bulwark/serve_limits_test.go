package main

import (
	"context"
	"github.com/bulwark-agents/bulwark/mcpclient"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/sqlite"
	"github.com/bulwark-agents/bulwark/workspace"
)

// withEnv makes env read vars for the rest of the test. Tests that call
// it do not run in parallel.
func withEnv(t *testing.T, vars map[string]string) {
	old := env
	env = func(k string) string { return vars[k] }
	t.Cleanup(func() { env = old })
}

func TestReadTenantLimits(t *testing.T) {
	def := bulwark.DefaultCeilings()
	tests := []struct {
		vars map[string]string
		want func(tenantLimits) bool
		err  string
	}{
		{nil, func(l tenantLimits) bool {
			return l.ceilings == def && !l.shared.all && l.shared.tenants == nil &&
				l.shared.tokens == defaultSharedKeyTokens && l.shared.cost == defaultSharedKeyCost
		}, ""},
		{map[string]string{"BULWARK_TENANT_MAX_CONCURRENT": "2", "BULWARK_TENANT_MAX_RATE": "2.5", "BULWARK_TENANT_MAX_DURATION": "10m",
			"BULWARK_TENANT_MAX_OUTPUT": "64KiB", "BULWARK_TENANT_MAX_COST": "1", "BULWARK_TENANT_MAX_TOKENS": "1_000"},
			func(l tenantLimits) bool {
				c := l.ceilings
				return c.MaxConcurrent == 2 && c.MaxRate == 2.5 && c.MaxDuration == 10*time.Minute && c.MaxOutput == 64<<10 &&
					c.MaxCost == 1 && c.MaxTokens == 1000 && c.MaxSteps == def.MaxSteps
			}, ""},
		{map[string]string{"BULWARK_SHARED_PROVIDER_KEYS": "on", "BULWARK_SHARED_KEY_DAILY_TOKENS": "500", "BULWARK_SHARED_KEY_DAILY_COST": "0.5"},
			func(l tenantLimits) bool { return l.shared.all && l.shared.tokens == 500 && l.shared.cost == 0.5 }, ""},
		{map[string]string{"BULWARK_SHARED_PROVIDER_KEYS": "acme, tn_123"},
			func(l tenantLimits) bool {
				return !l.shared.all && l.shared.tenants["acme"] && l.shared.tenants["tn_123"] && !l.local.all && l.local.tenants == nil
			}, ""},
		{map[string]string{"BULWARK_SHARED_LOCAL_MODELS": "on"},
			func(l tenantLimits) bool { return l.local.all && !l.shared.all && l.shared.tenants == nil }, ""},
		{map[string]string{"BULWARK_TENANT_MAX_CONCURRENT": "0"}, nil, "BULWARK_TENANT_MAX_CONCURRENT"},
		{map[string]string{"BULWARK_TENANT_MAX_CONCURRENT": "lots"}, nil, "BULWARK_TENANT_MAX_CONCURRENT"},
		{map[string]string{"BULWARK_TENANT_MAX_RATE": "NaN"}, nil, "BULWARK_TENANT_MAX_RATE"},
		{map[string]string{"BULWARK_TENANT_MAX_DURATION": "-1h"}, nil, "BULWARK_TENANT_MAX_DURATION"},
		{map[string]string{"BULWARK_TENANT_MAX_OUTPUT": "big"}, nil, "BULWARK_TENANT_MAX_OUTPUT"},
		{map[string]string{"BULWARK_SHARED_KEY_DAILY_COST": "-1"}, nil, "BULWARK_SHARED_KEY_DAILY_COST"},
	}
	for _, tt := range tests {
		withEnv(t, tt.vars)
		l, err := readTenantLimits()
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("readTenantLimits with %v = %v, want an error naming %s", tt.vars, err, tt.err)
		case tt.err == "" && (err != nil || !tt.want(l)):
			t.Errorf("readTenantLimits with %v = %+v, %v", tt.vars, l, err)
		}
	}
}

// keysEnv is a store with three tenants, and a fake OpenAI server that
// only the operator's key or the tenant's own key opens.
type keysEnv struct {
	db                 *sqlite.DB
	srv                *llmtest.Server
	none, own, another bulwark.TenantID // no key of its own; its OPENAI_API_KEY; a listed one, no key
	ws                 *workspace.Workspace
}

const (
	operatorKey = "sk-operator-0123456789"
	tenantKey   = "sk-tenant-own-0123456789"
)

func newKeysEnv(t *testing.T) *keysEnv {
	dir := t.TempDir()
	kr, err := secret.CreateKeyFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "bulwark.db"), Keys: kr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	e := &keysEnv{db: db}
	for _, tn := range []struct {
		name string
		to   *bulwark.TenantID
	}{{"nokey", &e.none}, {"ownkey", &e.own}, {"listed", &e.another}} {
		tt, err := db.CreateTenant(ctx, tn.name)
		if err != nil {
			t.Fatal(err)
		}
		*tn.to = tt.ID
	}
	if err := db.SetSecret(ctx, e.own, "OPENAI_API_KEY", tenantKey); err != nil {
		t.Fatal(err)
	}
	e.srv = llmtest.NewServer(func(*llmtest.Request) llmtest.Turn {
		return llmtest.Turn{Content: "hi", Usage: bulwark.Usage{InputTokens: 30, OutputTokens: 20, Cost: 0.01}}
	})
	t.Cleanup(e.srv.Close)
	e.ws, err = workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.ws.Close() })
	return e
}

// prepare prepares a task of tenant on model spec with the server's
// environment vars (the operator's key and the fake server's URL added).
func (e *keysEnv) prepare(t *testing.T, vars map[string]string, tenant bulwark.TenantID, spec string) (llm.Model, error) {
	t.Helper()
	all := map[string]string{"OPENAI_API_KEY": operatorKey, "OPENAI_BASE_URL": e.srv.URL + "/v1", "BULWARK_SANDBOX": "off"}
	for k, v := range vars {
		all[k] = v
	}
	withEnv(t, all)
	lim, err := readTenantLimits()
	if err != nil {
		t.Fatal(err)
	}
	setup, err := prepareTask(e.db, "", lim, false, nil, mcpclient.Config{}, nil, injectionSettings{})(context.Background(), bulwark.Task{ID: "t_1", TenantID: string(tenant), Model: spec}, e.ws)
	if err != nil {
		return nil, err
	}
	if setup.Close != nil {
		t.Cleanup(setup.Close)
	}
	return setup.Model, nil
}

func (e *keysEnv) call(t *testing.T, m llm.Model) (string, error) {
	t.Helper()
	n := len(e.srv.Requests())
	_, err := m.Stream(context.Background(), llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "x"}}}, nil)
	reqs := e.srv.Requests()
	if len(reqs) == n {
		return "", err
	}
	return reqs[len(reqs)-1].Header.Get("Authorization"), err
}

func (e *keysEnv) spent(t *testing.T, tenant bulwark.TenantID) bulwark.Usage {
	u, err := e.db.SharedKeyUsage(context.Background(), tenant, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestSharedProviderKeysOffByDefault: a tenant without a key of its own
// cannot use the operator's, unless the operator says so.
func TestSharedProviderKeysOffByDefault(t *testing.T) {
	e := newKeysEnv(t)
	for _, vars := range []map[string]string{nil, {"BULWARK_SHARED_PROVIDER_KEYS": "off"}, {"BULWARK_SHARED_PROVIDER_KEYS": "listed"}} {
		_, err := e.prepare(t, vars, e.none, "openai:m")
		const want = "this tenant has no OPENAI_API_KEY; set one in Secrets, or ask the operator to allow shared keys"
		if bulwark.ErrorKind(err) != bulwark.PermissionDenied || bulwark.ErrorMessage(err) != want {
			t.Errorf("%v: a tenant without a key, openai:m: %v, want %q", vars, err, want)
		}
		_, err = e.prepare(t, vars, e.none, "anthropic:claude")
		if !strings.Contains(bulwark.ErrorMessage(err), "this tenant has no ANTHROPIC_API_KEY") {
			t.Errorf("%v: a tenant without a key, anthropic:claude: %v", vars, err)
		}
	}
	if len(e.srv.Requests()) != 0 {
		t.Error("a tenant without a key reached the provider")
	}
	// The operator's local model server is not shared by default either.
	const local = "ollama models run on the server's own model server, which is not shared with this tenant"
	for _, vars := range []map[string]string{nil, {"BULWARK_SHARED_LOCAL_MODELS": "off"}, {"BULWARK_SHARED_LOCAL_MODELS": "listed"},
		{"BULWARK_SHARED_PROVIDER_KEYS": "listed"}} {
		_, err := e.prepare(t, vars, e.none, "ollama:llama3")
		if bulwark.ErrorKind(err) != bulwark.PermissionDenied || !strings.Contains(bulwark.ErrorMessage(err), local) {
			t.Errorf("%v: a tenant on ollama:llama3: %v, want %q", vars, err, local)
		}
		if msg := bulwark.ErrorMessage(err); strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "11434") {
			t.Errorf("the refusal names the server's address: %q", msg)
		}
	}
	// Allowed by the operator: local models for all, for listed tenants,
	// or for tenants that may use the shared keys. It needs no key.
	for _, vars := range []map[string]string{{"BULWARK_SHARED_LOCAL_MODELS": "on"}, {"BULWARK_SHARED_LOCAL_MODELS": "nokey, other"},
		{"BULWARK_SHARED_PROVIDER_KEYS": "on"}, {"BULWARK_SHARED_PROVIDER_KEYS": "nokey"}} {
		if _, err := e.prepare(t, vars, e.none, "ollama:llama3"); err != nil {
			t.Errorf("%v: ollama without a key: %v", vars, err)
		}
	}
	// The tenant's own key is used, and not counted against a budget.
	m, err := e.prepare(t, nil, e.own, "openai:m")
	if err != nil {
		t.Fatal(err)
	}
	if auth, err := e.call(t, m); err != nil || auth != "Bearer "+tenantKey {
		t.Errorf("a tenant with its own key: %v, Authorization %q; want its own key", err, auth)
	}
	// Even where shared keys are on, its own key comes first.
	m, _ = e.prepare(t, map[string]string{"BULWARK_SHARED_PROVIDER_KEYS": "on"}, e.own, "openai:m")
	if auth, _ := e.call(t, m); auth != "Bearer "+tenantKey {
		t.Errorf("shared keys on, a tenant with its own key sent %q", auth)
	}
	if u := e.spent(t, e.own); u != (bulwark.Usage{}) {
		t.Errorf("a tenant's own key counted as shared use: %+v", u)
	}
}

// TestSharedProviderKeysOn: allowed, a tenant without a key uses the
// operator's, its use is counted, and once its day's budget is spent its
// tasks are refused.
func TestSharedProviderKeysOn(t *testing.T) {
	e := newKeysEnv(t)
	on := map[string]string{"BULWARK_SHARED_PROVIDER_KEYS": "on", "BULWARK_SHARED_KEY_DAILY_TOKENS": "120"}
	m, err := e.prepare(t, on, e.none, "openai:m")
	if err != nil {
		t.Fatalf("shared keys on: %v", err)
	}
	if auth, err := e.call(t, m); err != nil || auth != "Bearer "+operatorKey {
		t.Fatalf("shared keys on: %v, Authorization %q; want the operator's key", err, auth)
	}
	if u := e.spent(t, e.none); u.Tokens() != 50 {
		t.Errorf("shared use after one call = %+v, want 50 tokens", u)
	}
	// Per tenant: the operator lists tenants by name (or id).
	if _, err := e.prepare(t, map[string]string{"BULWARK_SHARED_PROVIDER_KEYS": "listed"}, e.another, "openai:m"); err != nil {
		t.Errorf("a listed tenant: %v", err)
	}
	if _, err := e.prepare(t, map[string]string{"BULWARK_SHARED_PROVIDER_KEYS": string(e.another)}, e.another, "openai:m"); err != nil {
		t.Errorf("a tenant listed by id: %v", err)
	}
	// 50, then 100 tokens: the third call finds 150 spent of 120.
	e.call(t, m)
	if _, err := e.call(t, m); err != nil {
		t.Fatalf("a call under the budget: %v", err)
	}
	n := len(e.srv.Requests())
	_, err = e.call(t, m)
	if bulwark.ErrorKind(err) != bulwark.QuotaExceeded || !strings.Contains(bulwark.ErrorMessage(err), "daily budget") {
		t.Errorf("a call of a running task over the budget: %v, want QuotaExceeded", err)
	}
	if len(e.srv.Requests()) != n {
		t.Error("a call over the budget reached the provider")
	}
	_, err = e.prepare(t, on, e.none, "openai:m")
	if bulwark.ErrorKind(err) != bulwark.QuotaExceeded || !strings.Contains(bulwark.ErrorMessage(err), "it renews at 00:00 UTC") {
		t.Errorf("a new task over the budget: %v, want QuotaExceeded", err)
	}
	// The budget is the tenant's: another tenant's is untouched.
	if _, err := e.prepare(t, on, e.another, "openai:m"); err != nil {
		t.Errorf("another tenant: %v", err)
	}
}

// TestStoredSettingsClamped: settings stored before the operator lowered a
// ceiling give way to it when a task is queued and prepared.
func TestStoredSettingsClamped(t *testing.T) {
	e := newKeysEnv(t)
	ctx := context.Background()
	_, err := e.db.PutSettings(ctx, e.none, bulwark.Settings{MaxConcurrent: 1000,
		Limits: bulwark.Limits{MaxDuration: 24 * time.Hour, MaxSteps: 10_000, MaxCost: 1_000_000}})
	if err != nil {
		t.Fatal(err)
	}
	withEnv(t, map[string]string{"BULWARK_SANDBOX": "off", "BULWARK_TENANT_MAX_CONCURRENT": "3", "BULWARK_TENANT_MAX_DURATION": "1h"})
	lim, err := readTenantLimits()
	if err != nil {
		t.Fatal(err)
	}
	if got := tenantQuota(ctx, e.db, lim.ceilings)(e.none); got != 3 {
		t.Errorf("quota of a tenant that stored 1000 = %d, want the ceiling 3", got)
	}
	if got := tenantQuota(ctx, e.db, lim.ceilings)(e.own); got != min(defaultQuota, 3) {
		t.Errorf("quota of a tenant that set none = %d, want the default within the ceiling, %d", got, min(defaultQuota, 3))
	}
	lim.local.all = true
	task := bulwark.Task{ID: "t_1", TenantID: string(e.none), Model: "ollama:x", Limits: bulwark.Limits{MaxTokens: 1 << 40}}
	setup, err := prepareTask(e.db, "", lim, false, nil, mcpclient.Config{}, nil, injectionSettings{})(ctx, task, e.ws)
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	def := bulwark.DefaultCeilings()
	if l := setup.Limits; l.MaxDuration != time.Hour || l.MaxSteps != def.MaxSteps || l.MaxCost != def.MaxCost || l.MaxTokens != def.MaxTokens {
		t.Errorf("limits of a task = %+v, want each at most its ceiling", l)
	}
}
