package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// testCeilings are low ceilings, so that the tests can reach them.
var testCeilings = bulwark.Ceilings{MaxConcurrent: 8, MaxRate: 20, MaxBurst: 40, MaxSteps: 100, MaxTokens: 50_000,
	MaxCost: 5, MaxDuration: time.Hour, MaxOutput: 65536}

var overCeilingTests = []struct {
	body, want string
}{
	{`{"max_concurrent_tasks":9}`, "max_concurrent_tasks may be at most 8 on this server (BULWARK_TENANT_MAX_CONCURRENT)"},
	{`{"max_concurrent_tasks":1000}`, "max_concurrent_tasks may be at most 8 on this server (BULWARK_TENANT_MAX_CONCURRENT)"},
	{`{"rate_limit":{"per_key_rps":10000}}`, "rate_limit.per_key_rps may be at most 20 on this server (BULWARK_TENANT_MAX_RATE)"},
	{`{"rate_limit":{"per_tenant_rps":20.5}}`, "rate_limit.per_tenant_rps may be at most 20 on this server (BULWARK_TENANT_MAX_RATE)"},
	{`{"rate_limit":{"burst":41}}`, "rate_limit.burst may be at most 40 on this server (BULWARK_TENANT_MAX_BURST)"},
	{`{"limits":{"max_duration":86400000000000}}`, "limits.max_duration may be at most 1h0m0s on this server (BULWARK_TENANT_MAX_DURATION)"},
	{`{"limits":{"max_steps":101}}`, "limits.max_steps may be at most 100 on this server (BULWARK_TENANT_MAX_STEPS)"},
	{`{"limits":{"max_tokens":50001}}`, "limits.max_tokens may be at most 50000 on this server (BULWARK_TENANT_MAX_TOKENS)"},
	{`{"limits":{"max_cost":5.01}}`, "limits.max_cost may be at most 5 dollars on this server (BULWARK_TENANT_MAX_COST)"},
	{`{"limits":{"max_output":65537}}`, "limits.max_output may be at most 65536 bytes on this server (BULWARK_TENANT_MAX_OUTPUT)"},
	// Far over the ceiling (and over the settings' own bounds): the
	// answer still names the ceiling and its variable.
	{`{"max_concurrent_tasks":5000}`, "max_concurrent_tasks may be at most 8 on this server (BULWARK_TENANT_MAX_CONCURRENT)"},
	{`{"rate_limit":{"per_key_rps":1e300}}`, "rate_limit.per_key_rps may be at most 20 on this server (BULWARK_TENANT_MAX_RATE)"},
	{`{"rate_limit":{"burst":1000000}}`, "rate_limit.burst may be at most 40 on this server (BULWARK_TENANT_MAX_BURST)"},
	{`{"limits":{"max_duration":172800000000000}}`, "limits.max_duration may be at most 1h0m0s on this server (BULWARK_TENANT_MAX_DURATION)"},
	{`{"limits":{"max_tokens":9000000000}}`, "limits.max_tokens may be at most 50000 on this server (BULWARK_TENANT_MAX_TOKENS)"},
	{`{"limits":{"max_cost":1e9}}`, "limits.max_cost may be at most 5 dollars on this server (BULWARK_TENANT_MAX_COST)"},
}

func TestSettingsCeilings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff, func(c *Config) { c.Ceilings = testCeilings })
	a := e.tenant("a")
	admin := a.keys[bulwark.RoleAdmin]
	for _, tt := range overCeilingTests {
		w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: tt.body})
		if w.Code != 400 || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("PUT %s = %d %s, want 400 naming %q", tt.body, w.Code, w.Body, tt.want)
		}
	}
	if st, _ := e.db.Settings(context.Background(), a.id); st.MaxConcurrent != 0 || st.Limits != (bulwark.Limits{}) {
		t.Errorf("refused settings were stored: %+v", st)
	}
	// Every value at its ceiling is accepted.
	atCeiling := `{"max_concurrent_tasks":8,"rate_limit":{"per_key_rps":20,"per_tenant_rps":20,"burst":40},
		"limits":{"max_steps":100,"max_tokens":50000,"max_cost":5,"max_duration":3600000000000,"max_output":65536}}`
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: atCeiling}); w.Code != 200 {
		t.Errorf("PUT settings at the ceilings = %d %s, want 200", w.Code, w.Body)
	}
	st, _ := e.db.Settings(context.Background(), a.id)
	if st.MaxConcurrent != 8 || st.Limits.MaxDuration != time.Hour || st.RateLimit.PerTenant != 20 {
		t.Errorf("settings at the ceilings stored as %+v", st)
	}
}

// TestStoredRatesClamped: rates stored before the operator lowered the
// ceiling give way to it.
func TestStoredRatesClamped(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Ceilings = bulwark.Ceilings{MaxRate: 1, MaxBurst: 2} })
	a := e.tenant("a")
	_, err := e.db.PutSettings(context.Background(), a.id, bulwark.Settings{
		RateLimit: bulwark.RateLimitSettings{PerKey: 10_000, PerTenant: 10_000, Burst: 10_000}})
	if err != nil {
		t.Fatal(err)
	}
	codes := []int{}
	for range 4 {
		w := e.do(req{method: "GET", path: "/api/v1/me", key: a.keys[bulwark.RoleViewer]})
		codes = append(codes, w.Code)
	}
	if codes[0] != 200 || codes[1] != 200 || codes[2] != 429 {
		t.Errorf("4 requests at once with a stored burst of 10000 over a ceiling of 2: %v, want 200 200 429 ...", codes)
	}
}

// TestTaskLimitsCeilings: a task's own limits over the operator's
// ceilings are refused as the settings are, naming the ceiling.
func TestTaskLimitsCeilings(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff, withRuntime(t, t.TempDir()), func(c *Config) { c.Ceilings = testCeilings })
	a := e.tenant("a")
	w := e.do(req{method: "POST", path: "/api/v1/tasks", key: a.keys[bulwark.RoleMember], body: `{"input":"x"}`})
	if w.Code != 201 {
		t.Fatalf("POST /api/v1/tasks = %d %s", w.Code, w.Body)
	}
	var task struct{ ID string }
	if err := json.Unmarshal(w.Body.Bytes(), &task); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ limits, want string }{
		{`{"max_duration":"2h"}`, "BULWARK_TENANT_MAX_DURATION"},
		{`{"max_steps":101}`, "BULWARK_TENANT_MAX_STEPS"},
		{`{"max_cost":6}`, "BULWARK_TENANT_MAX_COST"},
		{`{"max_tokens":50001}`, "BULWARK_TENANT_MAX_TOKENS"},
		{`{"max_output":65537}`, "BULWARK_TENANT_MAX_OUTPUT"},
	} {
		w := e.do(req{method: "POST", path: "/api/v1/tasks", key: a.keys[bulwark.RoleMember], body: `{"input":"x","limits":` + tt.limits + `}`})
		if w.Code != 400 || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("POST /api/v1/tasks with limits %s = %d %s, want 400 naming %s", tt.limits, w.Code, w.Body, tt.want)
		}
		// A new turn's limits too: not clamped without a word.
		w = e.do(req{method: "POST", path: "/api/v1/tasks/" + task.ID + "/messages", key: a.keys[bulwark.RoleMember], body: `{"text":"go on","limits":` + tt.limits + `}`})
		if w.Code != 400 || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("POST a message with limits %s = %d %s, want 400 naming %s", tt.limits, w.Code, w.Body, tt.want)
		}
	}
}
