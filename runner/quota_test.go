package runner

import (
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

func TestQuotaCache(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	calls, quota := 0, 3
	c := newQuotaCache(func(bulwark.TenantID) int { calls++; return quota }, func() time.Time { return now })
	for range 5 {
		if got := c.get("tn_a"); got != 3 {
			t.Fatalf("get = %d, want 3", got)
		}
	}
	if calls != 1 {
		t.Errorf("%d store reads for 5 lookups within the TTL, want 1", calls)
	}
	quota = 7
	now = now.Add(quotaTTL)
	if got := c.get("tn_a"); got != 7 || calls != 2 {
		t.Errorf("after the TTL: get = %d after %d reads, want 7 after 2", got, calls)
	}
}
