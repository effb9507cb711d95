package metrics_test

import (
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
)

func TestCountEvent(t *testing.T) {
	tests := []struct {
		e    bulwark.Event
		kind metrics.SecurityEvent
	}{
		{bulwark.Event{Type: bulwark.EventGuard, Text: "flagged"}, metrics.InjectionFlagged},
		{bulwark.Event{Type: bulwark.EventApproval, Decision: "deny", DecidedBy: bulwark.DecidedByPolicy, Text: "refused by the policy rule x"}, metrics.PolicyDenied},
		{bulwark.Event{Type: bulwark.EventApproval, Decision: "deny", DecidedBy: bulwark.DecidedByPerson, Text: "Allow run_shell: ls?"}, metrics.ApprovalDenied},
		// The text is not what tells them apart: a question that reads like
		// a refusal is still a person's answer, and the other way round.
		{bulwark.Event{Type: bulwark.EventApproval, Decision: "deny", DecidedBy: bulwark.DecidedByPerson, Text: "refused by the policy of the team?"}, metrics.ApprovalDenied},
		{bulwark.Event{Type: bulwark.EventApproval, Decision: "deny", DecidedBy: bulwark.DecidedByPolicy, Text: "anything"}, metrics.PolicyDenied},
		// A task stopped by one of its budgets.
		{bulwark.Event{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishMaxSteps}, metrics.ResourceExhausted},
		{bulwark.Event{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishMaxTokens}, metrics.ResourceExhausted},
		{bulwark.Event{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishMaxCost}, metrics.ResourceExhausted},
		{bulwark.Event{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishTimeout}, metrics.ResourceExhausted},
	}
	for _, tt := range tests {
		before := metrics.Security.Counter(tt.kind).Value()
		metrics.CountEvent(tt.e)
		if got := metrics.Security.Counter(tt.kind).Value() - before; got != 1 {
			t.Errorf("CountEvent(%+v) added %v to %s, want 1", tt.e, got, tt.kind)
		}
	}
	before := metrics.Security.Counter(metrics.ResourceExhausted).Value()
	for _, r := range []bulwark.FinishReason{bulwark.FinishDone, bulwark.FinishCanceled, bulwark.FinishError, bulwark.FinishLoop} {
		metrics.CountEvent(bulwark.Event{Type: bulwark.EventTaskFinished, Reason: r})
	}
	if metrics.Security.Counter(metrics.ResourceExhausted).Value() != before {
		t.Error("a task that ended for another reason than a budget was counted as resource_exhausted")
	}
	before = metrics.Security.Counter(metrics.ApprovalDenied).Value()
	metrics.CountEvent(bulwark.Event{Type: bulwark.EventApproval, Decision: "allow"})
	if metrics.Security.Counter(metrics.ApprovalDenied).Value() != before {
		t.Error("an allowed approval was counted as denied")
	}
}
