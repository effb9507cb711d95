package bulwark

import (
	"context"
	"time"
)

// UsageStore counts what each tenant spent on the operator's shared
// provider keys, by UTC day, for the daily budgets of those keys.
type UsageStore interface {
	// SharedKeyUsage returns what tenant spent on the UTC day of day: the
	// zero Usage when nothing.
	SharedKeyUsage(ctx context.Context, tenant TenantID, day time.Time) (Usage, error)
	// AddSharedKeyUsage adds u to what tenant spent on the UTC day of day.
	// Negative usage is Invalid.
	AddSharedKeyUsage(ctx context.Context, tenant TenantID, day time.Time, u Usage) error
}

// UsageDay is the UTC day of t, as "2006-01-02": the unit of the daily
// budgets of shared provider keys.
func UsageDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Tokens is the number of tokens u counts, input and output.
func (u Usage) Tokens() int { return u.InputTokens + u.OutputTokens }
