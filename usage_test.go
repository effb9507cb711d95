package bulwark

import (
	"math"
	"testing"
)

// Usage.Clamp keeps counts and cost in range: no negative (it would take
// back what other replies spent of a budget), no count that overflows a
// task's totals, no NaN (red team, session 42).
func TestUsageClamp(t *testing.T) {
	for _, tc := range []struct{ in, want Usage }{
		{Usage{InputTokens: 10, OutputTokens: 5, Cost: 0.5}, Usage{InputTokens: 10, OutputTokens: 5, Cost: 0.5}},
		{Usage{InputTokens: -5000000, OutputTokens: -1, Cost: -100}, Usage{}},
		{Usage{InputTokens: math.MaxInt, OutputTokens: math.MaxInt, Cost: 1e300}, Usage{InputTokens: MaxReportedTokens, OutputTokens: MaxReportedTokens, Cost: MaxReportedCost}},
		{Usage{Cost: math.NaN()}, Usage{}},
		{Usage{Cost: math.Inf(1)}, Usage{Cost: MaxReportedCost}},
	} {
		if got := tc.in.Clamp(); got != tc.want {
			t.Errorf("%+v.Clamp() = %+v, want %+v", tc.in, got, tc.want)
		}
	}
	var total Usage
	for range 1000 {
		total.Add(Usage{InputTokens: math.MaxInt, OutputTokens: math.MaxInt}.Clamp())
	}
	if total.Tokens() <= 0 {
		t.Errorf("a thousand clamped replies total %d tokens: overflow", total.Tokens())
	}
}
