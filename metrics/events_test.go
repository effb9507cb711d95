package metrics_test

import (
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCountEvent(t *testing.T) {
	tests := []struct {
		e    bulwark.Event
		kind metrics.SecurityEvent
	}{
		{bulwark.Event{Type: bulwark.EventGuard, Text: "flagged"}, metrics.InjectionFlagged},
		{bulwark.Event{Type: bulwark.EventApproval, Decision: "deny", Text: "refused by the policy rule x"}, metrics.PolicyDenied},
		{bulwark.Event{Type: bulwark.EventApproval, Decision: "deny", Text: "Allow run_shell: ls?"}, metrics.ApprovalDenied},
	}
	for _, tt := range tests {
		before := testutil.ToFloat64(metrics.Security.Counter(tt.kind))
		metrics.CountEvent(tt.e)
		if got := testutil.ToFloat64(metrics.Security.Counter(tt.kind)) - before; got != 1 {
			t.Errorf("CountEvent(%+v) added %v to %s, want 1", tt.e, got, tt.kind)
		}
	}
	before := testutil.ToFloat64(metrics.Security.Counter(metrics.ApprovalDenied))
	metrics.CountEvent(bulwark.Event{Type: bulwark.EventApproval, Decision: "allow"})
	if testutil.ToFloat64(metrics.Security.Counter(metrics.ApprovalDenied)) != before {
		t.Error("an allowed approval was counted as denied")
	}
}
