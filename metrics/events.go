package metrics

import (
	"strings"

	"github.com/bulwark-agents/bulwark"
)

// CountEvent adds a task event to the security counters when it is one:
// guard flags, policy refusals, approvals a person denied. Use it as (part
// of) an agent sink.
func CountEvent(e bulwark.Event) {
	switch e.Type {
	case bulwark.EventGuard:
		Security.Inc(InjectionFlagged)
	case bulwark.EventApproval:
		switch {
		case e.Decision != string(bulwark.Deny):
		case strings.HasPrefix(e.Text, "refused by the policy"):
			Security.Inc(PolicyDenied)
		default:
			Security.Inc(ApprovalDenied)
		}
	}
}
