package bulwark

import (
	"fmt"
	"strconv"
	"time"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// Ceilings are the operator's bounds on what a tenant's settings may ask
// for, so that no tenant's admin can take the server from the others: a
// setting above a ceiling is refused, and settings stored before a ceiling
// was lowered are clamped where they are applied. A zero field takes the
// value of DefaultCeilings (see WithDefaults).
type Ceilings struct {
	MaxConcurrent int           // tasks of one tenant running at once
	MaxRate       float64       // requests a second, per key and per tenant
	MaxBurst      int           // requests at once above the rate
	MaxSteps      int           // model turns of one task
	MaxTokens     int           // tokens of one task
	MaxCost       float64       // US dollars of one task
	MaxDuration   time.Duration // wall time of one task
	MaxOutput     int           // bytes of one tool result given to the model
}

// DefaultCeilings returns the ceilings of a server whose operator set none:
// a little above the defaults a tenant gets, far below what one tenant
// would need to crowd out the others.
func DefaultCeilings() Ceilings {
	return Ceilings{
		MaxConcurrent: 8,
		MaxRate:       100,
		MaxBurst:      200,
		MaxSteps:      500,
		MaxTokens:     10_000_000,
		MaxCost:       100,
		MaxDuration:   time.Hour,
		MaxOutput:     1 << 20,
	}
}

// WithDefaults returns c with every zero (or negative) field taken from
// DefaultCeilings.
func (c Ceilings) WithDefaults() Ceilings {
	d := DefaultCeilings()
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&c.MaxConcurrent, d.MaxConcurrent)
	pick(&c.MaxBurst, d.MaxBurst)
	pick(&c.MaxSteps, d.MaxSteps)
	pick(&c.MaxTokens, d.MaxTokens)
	pick(&c.MaxOutput, d.MaxOutput)
	if !(c.MaxRate > 0) {
		c.MaxRate = d.MaxRate
	}
	if !(c.MaxCost > 0) {
		c.MaxCost = d.MaxCost
	}
	if c.MaxDuration <= 0 {
		c.MaxDuration = d.MaxDuration
	}
	return c
}

// ceilingVars names the environment variable that sets each ceiling, by
// the settings field it bounds, for messages that tell the tenant whom to
// ask.
var ceilingVars = lazy.Value[map[string]string]{New: func() map[string]string {
	return map[string]string{
		"max_concurrent_tasks":      "BULWARK_TENANT_MAX_CONCURRENT",
		"rate_limit.per_key_rps":    "BULWARK_TENANT_MAX_RATE",
		"rate_limit.per_tenant_rps": "BULWARK_TENANT_MAX_RATE",
		"rate_limit.burst":          "BULWARK_TENANT_MAX_BURST",
		"limits.max_steps":          "BULWARK_TENANT_MAX_STEPS",
		"limits.max_tokens":         "BULWARK_TENANT_MAX_TOKENS",
		"limits.max_cost":           "BULWARK_TENANT_MAX_COST",
		"limits.max_duration":       "BULWARK_TENANT_MAX_DURATION",
		"limits.max_output":         "BULWARK_TENANT_MAX_OUTPUT",
	}
}}

// Check returns an Invalid error naming the first field of s above its
// ceiling, the ceiling and the variable that sets it; nil when s is within
// every ceiling. A value at its ceiling is within it.
func (c Ceilings) Check(s Settings) error {
	c = c.WithDefaults()
	over := func(field, limit string) error {
		return Errorf(Invalid, "bulwark.Ceilings.Check", "%s may be at most %s on this server (%s)", field, limit, ceilingVars.Get()[field])
	}
	itoa := strconv.Itoa
	ftoa := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	l, rl := s.Limits, s.RateLimit
	switch {
	case s.MaxConcurrent > c.MaxConcurrent:
		return over("max_concurrent_tasks", itoa(c.MaxConcurrent))
	case rl.PerKey > c.MaxRate:
		return over("rate_limit.per_key_rps", ftoa(c.MaxRate))
	case rl.PerTenant > c.MaxRate:
		return over("rate_limit.per_tenant_rps", ftoa(c.MaxRate))
	case rl.Burst > c.MaxBurst:
		return over("rate_limit.burst", itoa(c.MaxBurst))
	case l.MaxSteps > c.MaxSteps:
		return over("limits.max_steps", itoa(c.MaxSteps))
	case l.MaxTokens > c.MaxTokens:
		return over("limits.max_tokens", itoa(c.MaxTokens))
	case l.MaxCost > c.MaxCost:
		return over("limits.max_cost", fmt.Sprintf("%s dollars", ftoa(c.MaxCost)))
	case l.MaxDuration > c.MaxDuration:
		return over("limits.max_duration", c.MaxDuration.String())
	case l.MaxOutput > c.MaxOutput:
		return over("limits.max_output", itoa(c.MaxOutput)+" bytes")
	}
	return nil
}

// Concurrency returns how many tasks of a tenant whose settings ask for n
// (0: def) may run at once: at most the ceiling, at least 1.
func (c Ceilings) Concurrency(n, def int) int {
	c = c.WithDefaults()
	if n <= 0 {
		n = def
	}
	return max(1, min(n, c.MaxConcurrent))
}

// ClampRates returns rl with each rate at most its ceiling. Zero fields
// stay zero (the server's defaults); clamp after filling them to bound
// the defaults too.
func (c Ceilings) ClampRates(rl RateLimitSettings) RateLimitSettings {
	c = c.WithDefaults()
	rl.PerKey = min(rl.PerKey, c.MaxRate)
	rl.PerTenant = min(rl.PerTenant, c.MaxRate)
	rl.Burst = min(rl.Burst, c.MaxBurst)
	return rl
}

// ClampLimits returns the budgets a task runs with: l with its zero fields
// taken from DefaultLimits, then each at most its ceiling. A task never
// runs without a cost ceiling, although DefaultLimits sets no cost budget.
func (c Ceilings) ClampLimits(l Limits) Limits {
	c = c.WithDefaults()
	l = l.WithDefaults()
	l.MaxSteps = min(l.MaxSteps, c.MaxSteps)
	l.MaxTokens = min(l.MaxTokens, c.MaxTokens)
	l.MaxDuration = min(l.MaxDuration, c.MaxDuration)
	l.MaxOutput = min(l.MaxOutput, c.MaxOutput)
	if l.MaxCost <= 0 || l.MaxCost > c.MaxCost {
		l.MaxCost = c.MaxCost
	}
	return l
}
