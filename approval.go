package bulwark

import "encoding/json"

// Approval is a tool call that a policy marked ask, waiting for a person.
type Approval struct {
	ID     string          `json:"id"`
	TaskID string          `json:"task_id"`
	Tool   string          `json:"tool"`
	Target string          `json:"target"` // what the call does, as its tool shows it (Effects.Display): the exact command, the cleaned path, the URL
	Args   json.RawMessage `json:"args"`
	Rule   string          `json:"rule"`             // the policy rule that asked
	Reason string          `json:"reason,omitempty"` // why it asks, beyond the rule (e.g. untrusted input)
}
