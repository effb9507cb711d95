package provider

import (
	"context"
	"github.com/bulwark-agents/bulwark/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

func TestKeyVar(t *testing.T) {
	for spec, want := range map[string]string{
		"openai:gpt-4o": "OPENAI_API_KEY", "openai:x?tools=text": "OPENAI_API_KEY", " anthropic:claude": "ANTHROPIC_API_KEY",
		"ollama:llama3": "", "replay:/x.jsonl": "", "evil:x": "", "": "",
	} {
		if got := KeyVar(spec); got != want {
			t.Errorf("KeyVar(%q) = %q, want %q", spec, got, want)
		}
	}
}

// memUsage is a bulwark.UsageStore in memory.
type memUsage struct {
	mu sync.Mutex
	m  map[string]bulwark.Usage
}

func (s *memUsage) SharedKeyUsage(_ context.Context, t bulwark.TenantID, day time.Time) (bulwark.Usage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[string(t)+"/"+bulwark.UsageDay(day)], nil
}

func (s *memUsage) AddSharedKeyUsage(_ context.Context, t bulwark.TenantID, day time.Time, u bulwark.Usage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := string(t) + "/" + bulwark.UsageDay(day)
	v := s.m[k]
	v.Add(u)
	s.m[k] = v
	return nil
}

func TestDailyBudget(t *testing.T) {
	srv := llmtest.NewServer(func(*llmtest.Request) llmtest.Turn {
		return llmtest.Turn{Content: "hi", Usage: bulwark.Usage{InputTokens: 60, OutputTokens: 40, Cost: 0.01}}
	})
	defer srv.Close()
	m, err := Open("openai:m", env(map[string]string{"OPENAI_API_KEY": "sk-operator", "OPENAI_BASE_URL": srv.URL + "/v1"}))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	store := &memUsage{m: map[string]bulwark.Usage{}}
	b := DailyBudget{Store: store, Tenant: "tn_a", Tokens: 250, Cost: 100, KeyVar: "OPENAI_API_KEY", Now: func() time.Time { return now }}
	metered := b.Wrap(m)
	ctx := context.Background()
	req := llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "x"}}}
	for i := range 3 { // 0, 100, 200 tokens spent before each: under 250
		if _, err := metered.Stream(ctx, req, nil); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	if got, _ := store.SharedKeyUsage(ctx, "tn_a", now); got.Tokens() != 300 || got.Cost < 0.029 {
		t.Errorf("usage after 3 calls = %+v, want 300 tokens and $0.03", got)
	}
	calls := srv.Requests()
	exhausted := metrics.Security.TenantCounter(metrics.ResourceExhausted, "tn_a")
	before := exhausted.Value()
	_, err = metered.Stream(ctx, req, nil)
	if got := exhausted.Value() - before; got != 1 {
		t.Errorf("resource_exhausted of tn_a rose by %v on a call over the budget, want 1", got)
	}
	if bulwark.ErrorKind(err) != bulwark.QuotaExceeded || !strings.Contains(bulwark.ErrorMessage(err), "daily budget on the server's shared OPENAI_API_KEY is spent") {
		t.Errorf("call over the budget: %v, want QuotaExceeded naming the budget", err)
	}
	if len(srv.Requests()) != len(calls) {
		t.Error("a call over the budget reached the provider")
	}
	if err := b.Check(ctx); bulwark.ErrorKind(err) != bulwark.QuotaExceeded {
		t.Errorf("Check over the budget = %v, want QuotaExceeded", err)
	}
	// Another tenant, and the next UTC day, have their own budgets.
	if err := (DailyBudget{Store: store, Tenant: "tn_b", Tokens: 250, Cost: 100}).Check(ctx); err != nil {
		t.Errorf("another tenant: %v", err)
	}
	now = now.Add(12 * time.Hour)
	if _, err := metered.Stream(ctx, req, nil); err != nil {
		t.Errorf("the next day: %v", err)
	}
	// The cost budget holds as the token budget does.
	cb := DailyBudget{Store: store, Tenant: "tn_c", Tokens: 1_000_000, Cost: 0.02, Now: b.Now}
	for range 2 {
		cb.Wrap(m).Stream(ctx, req, nil)
	}
	if err := cb.Check(ctx); bulwark.ErrorKind(err) != bulwark.QuotaExceeded {
		t.Errorf("Check over the cost budget = %v, want QuotaExceeded", err)
	}
}
