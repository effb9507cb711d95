package provider

import (
	"context"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/metrics"
)

// KeyVar returns the variable a spec's provider reads its API key from
// ("OPENAI_API_KEY" for openai:MODEL), or "" for providers that need no
// key (ollama, replay) and for specs Open would refuse.
func KeyVar(spec string) string {
	kind, _, _ := strings.Cut(strings.TrimSpace(spec), ":")
	switch kind {
	case "openai":
		return "OPENAI_API_KEY"
	case "anthropic":
		return "ANTHROPIC_API_KEY"
	}
	return ""
}

// DailyBudget is what one tenant may spend on a provider key it does not
// own (the operator's), each UTC day. Spending is counted in Store; a
// zero Tokens or Cost means no budget of that kind, which callers should
// not allow.
type DailyBudget struct {
	Store  bulwark.UsageStore
	Tenant bulwark.TenantID
	Tokens int              // input and output tokens a day
	Cost   float64          // US dollars a day, where the provider reports cost
	KeyVar string           // the key's variable, for messages: "OPENAI_API_KEY"
	Now    func() time.Time // nil: time.Now
}

func (b DailyBudget) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Check returns a QuotaExceeded error, with a message for the tenant,
// when today's budget is spent.
func (b DailyBudget) Check(ctx context.Context) error {
	const op = "provider.DailyBudget"
	spent, err := b.Store.SharedKeyUsage(ctx, b.Tenant, b.now())
	if err != nil {
		return err
	}
	if b.Tokens > 0 && spent.Tokens() >= b.Tokens || b.Cost > 0 && spent.Cost >= b.Cost {
		metrics.Security.IncTenant(metrics.ResourceExhausted, string(b.Tenant))
		return bulwark.Errorf(bulwark.QuotaExceeded, op,
			"this tenant's daily budget on the server's shared %s is spent (%d tokens, $%.2f a day); it renews at 00:00 UTC, or set the tenant's own %s in Secrets",
			b.KeyVar, b.Tokens, b.Cost, b.KeyVar)
	}
	return nil
}

// Wrap returns m metered by b: each call is refused once the day's budget
// is spent, and the usage of each reply is added to the day's. Calls of
// several tasks in flight together may overrun the budget by their own
// usage; the next call is refused.
func (b DailyBudget) Wrap(m llm.Model) llm.Model { return &budgeted{Model: m, b: b} }

type budgeted struct {
	llm.Model
	b DailyBudget
}

func (m *budgeted) Stream(ctx context.Context, req llm.Request, onText func(string)) (*llm.Response, error) {
	if err := m.b.Check(ctx); err != nil {
		return nil, err
	}
	resp, err := m.Model.Stream(ctx, req, onText)
	if resp != nil {
		u := resp.Usage
		u.InputTokens, u.OutputTokens = max(u.InputTokens, 0), max(u.OutputTokens, 0)
		if !(u.Cost >= 0) {
			u.Cost = 0
		}
		if aerr := m.b.Store.AddSharedKeyUsage(context.WithoutCancel(ctx), m.b.Tenant, m.b.now(), u); aerr != nil {
			// Spending that cannot be counted cannot be allowed to go on.
			return nil, bulwark.E(bulwark.Unavailable, "provider.DailyBudget", "the use of the server's shared provider key cannot be counted; try again later", aerr)
		}
	}
	return resp, err
}
