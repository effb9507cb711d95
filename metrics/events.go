package metrics

import (
	"github.com/bulwark-agents/bulwark"
)

// CountEvent adds a task event to the security counters when it is one:
// guard flags, policy refusals, approvals a person denied, a task stopped
// because one of its budgets (steps, tokens, cost, time) ran out. Refusals are told
// apart by who decided (Event.DecidedBy), never by their text. Use it as
// (part of) an agent sink.
func CountEvent(e bulwark.Event) {
	switch e.Type {
	case bulwark.EventGuard:
		Security.Inc(InjectionFlagged)
	case bulwark.EventTaskFinished:
		switch e.Reason {
		case bulwark.FinishMaxSteps, bulwark.FinishMaxTokens, bulwark.FinishMaxCost, bulwark.FinishTimeout:
			Security.Inc(ResourceExhausted)
		}
	case bulwark.EventApproval:
		switch {
		case e.Decision != string(bulwark.Deny):
		case e.DecidedBy == bulwark.DecidedByPolicy:
			Security.Inc(PolicyDenied)
		default:
			Security.Inc(ApprovalDenied)
		}
	}
}
