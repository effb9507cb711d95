package agent

import (
	"bytes"
	"encoding/json"
	"slices"

	"github.com/bulwark-agents/bulwark/llm"
)

// Withholding a leak
//
// A call whose arguments carry the task's canary token carries the task's
// instructions with it: not only must it not run, its arguments must go
// nowhere else either. They are replaced by withheldArgs as soon as the
// model's reply comes, before the reply joins the conversation: so the
// tool_call event (and with it the event stream, notifications, webhooks,
// the store and the audit log), the conversation sent back to the model
// and compacted, a checkpointed turn resumed after a restart, approvals
// and the tools themselves only ever see the placeholder. The call keeps
// its id and tool name, so the history still reads right, and is then
// blocked (canaryBlocked).

// withheldArgs stands in for the arguments of a call that carried the
// canary. It is a JSON object, so that whoever reads a tool call's
// arguments as one still can.
var withheldArgs = json.RawMessage(`{"withheld":"the arguments of this call carried the task's confidential canary token, so they are not kept"}`)

// withholdLeaks replaces with withheldArgs the arguments of each call of
// reply that carry the canary. The slice of calls is copied before the
// first change: the model's response is not written to.
func (r *run) withholdLeaks(reply *llm.Message) {
	var calls []llm.ToolCall
	for i, c := range reply.ToolCalls {
		if !r.hasCanary(c.Arguments, c.Arguments) {
			continue
		}
		if calls == nil {
			calls = slices.Clone(reply.ToolCalls)
		}
		calls[i].Arguments = withheldArgs
	}
	if calls != nil {
		reply.ToolCalls = calls
	}
}

// withheld reports whether call's arguments were withheld: it carried the
// canary, in this run or (a call resumed from its stored tool_call event)
// in the run that stored it.
func withheld(call llm.ToolCall) bool {
	return bytes.Equal(call.Arguments, withheldArgs)
}
