package bulwark

import (
	"encoding/json"
	"time"
)

// EventType names what happened in a task.
type EventType string

const (
	EventTaskStarted  EventType = "task_started"  // Text: the task input
	EventModelDelta   EventType = "model_delta"   // Text: a streamed piece of the model's reply (not stored)
	EventModelText    EventType = "model_text"    // Text: the model's whole reply text for one turn
	EventToolCall     EventType = "tool_call"     // Tool, CallID, Args, Effects (what the call will do, where its arguments are valid)
	EventToolResult   EventType = "tool_result"   // Tool, CallID, Text (what the model sees), Error
	EventApproval     EventType = "approval"      // Tool, CallID, Args, Text: the question; Decision and DecidedBy once decided
	EventAskUser      EventType = "ask_user"      // Text: the question put to the person
	EventUserMessage  EventType = "user_message"  // Text: a message a person sent into the task
	EventNotice       EventType = "notice"        // Text: loop detection, truncation and policy notices
	EventGuard        EventType = "guard"         // Text: untrusted input flagged or a canary caught; Tool, CallID of the call
	EventError        EventType = "error"         // Text: a failure, safe to show
	EventTaskFinished EventType = "task_finished" // Reason, Text: the final answer or the failure
)

// EventCompacted records that the conversation the model is sent was
// compacted to fit the model's context window (Text: what was done;
// Compaction: the numbers; Usage: the summary calls', when the model
// summarised). The stored events keep everything; only what the model is
// sent changes.
const EventCompacted EventType = "compacted"

// Compaction is what one compaction did (Event.Compaction), with sizes in
// tokens as estimated.
type Compaction struct {
	TokensBefore int `json:"tokens_before"`
	TokensAfter  int `json:"tokens_after"`
	// Stubbed counts the tool results replaced by stubs that point to
	// their text saved in the workspace; Summarised the messages the model
	// summarised into one.
	Stubbed    int `json:"stubbed,omitempty"`
	Summarised int `json:"summarised,omitempty"`
	// Forced: the provider had refused the request as too long.
	Forced bool `json:"forced,omitempty"`
}

// EventToolOutput is a piece of a running command's output as it comes,
// masked (Tool, CallID, Text; IsError: it came from stderr). Not stored:
// the call's tool_result holds the whole output.
const EventToolOutput EventType = "tool_output_delta"

// Events of the task's MCP servers, sent from outside the agent loop (see
// agent.Config.Notifications), masked like every other event.
const (
	// EventMCPLog is a log message of an MCP server (Tool: the server's
	// name, Text: "[level] message"). Stored, up to a number per turn.
	EventMCPLog EventType = "mcp_log"
	// EventToolProgress is a progress notification of a running MCP tool
	// call (Tool: the tool's name, CallID where known, Text: "progress/total
	// message"). Live only, like a command's output: the call's tool_result
	// is what stays.
	EventToolProgress EventType = "tool_progress"
)

// Live reports whether events of type t are for live views only: sent to
// those watching a task as it runs, never stored (model_delta,
// tool_output_delta, tool_progress; a call's tool_result holds all of its
// output). Stores refuse them; a stream resumed from the store goes on
// without them.
func (t EventType) Live() bool {
	return t == EventModelDelta || t == EventToolOutput || t == EventToolProgress
}

// Event is one thing the agent loop did. Events of one task carry increasing
// Seq numbers and are delivered in that order.
type Event struct {
	Seq      int64           `json:"seq"`
	TaskID   string          `json:"task_id,omitempty"`
	Time     time.Time       `json:"time"`
	Type     EventType       `json:"type"`
	Step     int             `json:"step,omitempty"` // the model turn this event belongs to, from 1
	Text     string          `json:"text,omitempty"`
	Tool     string          `json:"tool,omitempty"`
	CallID   string          `json:"call_id,omitempty"`
	Args     json.RawMessage `json:"args,omitempty"`
	IsError  bool            `json:"is_error,omitempty"`
	Reason   FinishReason    `json:"reason,omitempty"`
	Decision string          `json:"decision,omitempty"`
	// DecidedBy says who made an approval event's Decision: DecidedByPolicy
	// (a rule or the default refused the call outright) or DecidedByPerson
	// (a person, or the approver standing in for one, answered).
	DecidedBy string `json:"decided_by,omitempty"`
	// Effects are what a tool call will do, as its tool declared them.
	Effects *Effects `json:"effects,omitempty"`
	Usage   *Usage   `json:"usage,omitempty"`
	// Child names the sub-agent task a delegate call started (on the
	// parent's notice that it started).
	Child string `json:"child,omitempty"`
	// Compaction is what a compacted event did.
	Compaction *Compaction `json:"compaction,omitempty"`
}

// Mask passes what e shows through mask (a redactor's String): its
// text, arguments and effects, as the runtime masks an event before it
// is stored. The event is changed in place.
func (e *Event) Mask(mask func(string) string) {
	e.Text = mask(e.Text)
	if len(e.Args) > 0 {
		if a := mask(string(e.Args)); a != string(e.Args) {
			e.Args = json.RawMessage(a)
		}
	}
	if e.Effects != nil {
		m := e.Effects.Mask(mask)
		e.Effects = &m
	}
}

// Who decided an approval event (Event.DecidedBy).
const (
	DecidedByPolicy = "policy"
	DecidedByPerson = "person"
)

// Usage counts what a model call consumed. Cost is in US dollars when the
// provider reports it (zero otherwise).
type Usage struct {
	InputTokens  int     `json:"input_tokens"`
	OutputTokens int     `json:"output_tokens"`
	Cost         float64 `json:"cost,omitempty"`
}

// Add adds o to u.
func (u *Usage) Add(o Usage) {
	u.InputTokens += o.InputTokens
	u.OutputTokens += o.OutputTokens
	u.Cost += o.Cost
}

// MaxReportedTokens and MaxReportedCost bound what one model reply may
// report it consumed (Usage.Clamp).
const (
	MaxReportedTokens = 1 << 40
	MaxReportedCost   = 1e9
)

// Clamp returns u with each count between 0 and MaxReportedTokens and the
// cost between 0 and MaxReportedCost: what a model server reports is
// taken as sent otherwise, and a negative count would take back what
// other replies spent of a budget, a huge one overflow the task's totals
// (red team, session 42).
func (u Usage) Clamp() Usage {
	tokens := func(n int) int { return min(max(n, 0), MaxReportedTokens) }
	u.InputTokens, u.OutputTokens = tokens(u.InputTokens), tokens(u.OutputTokens)
	if !(u.Cost > 0) { // negative, or NaN
		u.Cost = 0
	}
	u.Cost = min(u.Cost, MaxReportedCost)
	return u
}

// FinishReason says why a task ended.
type FinishReason string

const (
	FinishDone      FinishReason = "done"       // the model called finish
	FinishMaxSteps  FinishReason = "max_steps"  // step budget spent
	FinishMaxTokens FinishReason = "max_tokens" // token budget spent
	FinishMaxCost   FinishReason = "max_cost"   // cost budget spent
	FinishTimeout   FinishReason = "timeout"    // wall-time budget spent
	FinishLoop      FinishReason = "loop"       // the same call repeated too often
	FinishCanceled  FinishReason = "canceled"   // canceled by a person or shutdown
	FinishError     FinishReason = "error"      // the model or the platform failed
	// FinishLeak: the model leaked the confidential canary token of its
	// instructions (in its reply, a summary, a tool's result or three of
	// its calls), a sign that something it read steers it; what carried
	// the token was withheld. A failure (TaskFailed), as FinishError was
	// for it before: a client that knows only the reasons above tells a
	// failure by the task's status, or by any reason but done.
	FinishLeak FinishReason = "leak"
)

// FinishReasons are the reasons a task can end for, in the order above.
// More may come: a reason not known is a failure, as TaskStatusFor says.
var FinishReasons = []FinishReason{FinishDone, FinishMaxSteps, FinishMaxTokens, FinishMaxCost, FinishTimeout,
	FinishLoop, FinishCanceled, FinishError, FinishLeak}

// Success reports whether the reason is a successful end.
func (r FinishReason) Success() bool { return r == FinishDone }
