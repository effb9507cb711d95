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
	EventToolCall     EventType = "tool_call"     // Tool, CallID, Args
	EventToolResult   EventType = "tool_result"   // Tool, CallID, Text (what the model sees), Error
	EventApproval     EventType = "approval"      // Tool, CallID, Args, Text: the question; Decision once decided
	EventAskUser      EventType = "ask_user"      // Text: the question put to the person
	EventUserMessage  EventType = "user_message"  // Text: a message a person sent into the task
	EventNotice       EventType = "notice"        // Text: loop detection, truncation and policy notices
	EventGuard        EventType = "guard"         // Text: untrusted input flagged or a canary caught; Tool, CallID of the call
	EventError        EventType = "error"         // Text: a failure, safe to show
	EventTaskFinished EventType = "task_finished" // Reason, Text: the final answer or the failure
)

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
	Usage    *Usage          `json:"usage,omitempty"`
}

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
)

// Success reports whether the reason is a successful end.
func (r FinishReason) Success() bool { return r == FinishDone }
