package bulwark_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

var ceilingTests = []struct {
	name string
	s    bulwark.Settings
	want string // "" for accepted, else a part of the error
}{
	{"zero", bulwark.Settings{}, ""},
	{"concurrency at the ceiling", bulwark.Settings{MaxConcurrent: 3}, ""},
	{"concurrency over", bulwark.Settings{MaxConcurrent: 4}, "max_concurrent_tasks may be at most 3 on this server (BULWARK_TENANT_MAX_CONCURRENT)"},
	{"rate at the ceiling", bulwark.Settings{RateLimit: bulwark.RateLimitSettings{PerKey: 5, PerTenant: 5, Burst: 7}}, ""},
	{"key rate over", bulwark.Settings{RateLimit: bulwark.RateLimitSettings{PerKey: 5.5}}, "rate_limit.per_key_rps may be at most 5 on this server (BULWARK_TENANT_MAX_RATE)"},
	{"tenant rate over", bulwark.Settings{RateLimit: bulwark.RateLimitSettings{PerTenant: 10_000}}, "(BULWARK_TENANT_MAX_RATE)"},
	{"burst over", bulwark.Settings{RateLimit: bulwark.RateLimitSettings{Burst: 8}}, "(BULWARK_TENANT_MAX_BURST)"},
	{"duration at the ceiling", bulwark.Settings{Limits: bulwark.Limits{MaxDuration: 10 * time.Minute}}, ""},
	{"duration over", bulwark.Settings{Limits: bulwark.Limits{MaxDuration: 24 * time.Hour}}, "limits.max_duration may be at most 10m0s on this server (BULWARK_TENANT_MAX_DURATION)"},
	{"steps over", bulwark.Settings{Limits: bulwark.Limits{MaxSteps: 11}}, "(BULWARK_TENANT_MAX_STEPS)"},
	{"tokens over", bulwark.Settings{Limits: bulwark.Limits{MaxTokens: 1001}}, "(BULWARK_TENANT_MAX_TOKENS)"},
	{"cost over", bulwark.Settings{Limits: bulwark.Limits{MaxCost: 2.5}}, "limits.max_cost may be at most 2 dollars"},
	{"output over", bulwark.Settings{Limits: bulwark.Limits{MaxOutput: 1025}}, "(BULWARK_TENANT_MAX_OUTPUT)"},
}

func TestCeilingsCheck(t *testing.T) {
	c := bulwark.Ceilings{MaxConcurrent: 3, MaxRate: 5, MaxBurst: 7, MaxSteps: 10, MaxTokens: 1000, MaxCost: 2, MaxDuration: 10 * time.Minute, MaxOutput: 1024}
	for _, tt := range ceilingTests {
		err := c.Check(tt.s)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: Check(%+v) = %v, want nil", tt.name, tt.s, err)
		case tt.want != "" && (err == nil || !strings.Contains(bulwark.ErrorMessage(err), tt.want) || bulwark.ErrorKind(err) != bulwark.Invalid):
			t.Errorf("%s: Check(%+v) = %v, want an Invalid error with %q", tt.name, tt.s, err, tt.want)
		}
	}
}

func TestCeilingsClamp(t *testing.T) {
	c := bulwark.Ceilings{MaxConcurrent: 3, MaxRate: 5, MaxBurst: 7, MaxSteps: 10, MaxTokens: 1000, MaxCost: 2, MaxDuration: 10 * time.Minute, MaxOutput: 1024}
	// Settings stored before the ceilings were lowered are clamped.
	if got := c.Concurrency(1000, 4); got != 3 {
		t.Errorf("Concurrency(1000, 4) = %d, want 3", got)
	}
	if got := c.Concurrency(0, 4); got != 3 {
		t.Errorf("Concurrency(0, 4) = %d, want 3 (the default is clamped too)", got)
	}
	if got := c.Concurrency(2, 4); got != 2 {
		t.Errorf("Concurrency(2, 4) = %d, want 2", got)
	}
	rl := c.ClampRates(bulwark.RateLimitSettings{PerKey: 10_000, PerTenant: 1, Burst: 100_000})
	if want := (bulwark.RateLimitSettings{PerKey: 5, PerTenant: 1, Burst: 7}); rl != want {
		t.Errorf("ClampRates = %+v, want %+v", rl, want)
	}
	l := c.ClampLimits(bulwark.Limits{MaxSteps: 10_000, MaxDuration: 24 * time.Hour, MaxTokens: 5})
	want := bulwark.Limits{MaxSteps: 10, MaxTokens: 5, MaxCost: 2, MaxDuration: 10 * time.Minute, MaxOutput: 1024}
	if l != want {
		t.Errorf("ClampLimits = %+v, want %+v", l, want)
	}
	// The zero Ceilings are the defaults, never "no ceiling".
	if got := (bulwark.Ceilings{}).Concurrency(1000, 4); got != bulwark.DefaultCeilings().MaxConcurrent {
		t.Errorf("zero Ceilings: Concurrency(1000, 4) = %d, want the default ceiling", got)
	}
}
