// Package llm defines the Model interface that every model provider adapter
// implements and the messages exchanged with a model. The adapters live in
// subpackages (openai, anthropic, replay, textcall), their shared HTTP
// plumbing in llm/transport, and the fake provider server in llm/llmtest.
package llm

import (
	"context"
	"encoding/json"

	"github.com/bulwark-agents/bulwark"
)

// Role is who wrote a message.
type Role string

const (
	System    Role = "system"
	User      Role = "user"
	Assistant Role = "assistant"
	ToolRole  Role = "tool" // the result of a tool call
)

// Message is one message of a conversation.
type Message struct {
	Role    Role   `json:"role"`
	Content string `json:"content,omitempty"`
	// ToolCalls are the calls an assistant message makes.
	ToolCalls []ToolCall `json:"tool_calls,omitempty"`
	// ToolCallID and ToolName identify the call a tool message answers.
	ToolCallID string `json:"tool_call_id,omitempty"`
	ToolName   string `json:"tool_name,omitempty"`
	// IsError marks a tool result that reports a failure.
	IsError bool `json:"is_error,omitempty"`
	// Pinned marks a message that the agent loop's compaction keeps as it
	// is (the task, a person's messages). Providers ignore it.
	Pinned bool `json:"-"`
}

// ToolCall is one call of a tool by the model. Arguments is the raw JSON
// object the model produced; it may be malformed, and tools validate it.
type ToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ToolSpec describes a tool to the model. Parameters is a JSON Schema object.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"`
}

// Request is one model call: the whole conversation so far and the tools.
type Request struct {
	Messages  []Message
	Tools     []ToolSpec
	MaxTokens int // cap on the reply's tokens; 0 means the adapter's default
	// Cache, when not nil, lets the adapter reuse the encoding of the
	// messages this conversation's last request already had; see Cache.
	Cache *Cache
}

// MaxReplyParts is the most tool calls (and, for providers that send them
// so, content blocks) one model reply may hold. A server that sends more
// is refused: a reply is one turn of an agent, and a hostile server's
// hundred thousand calls would each be looked up and run.
const MaxReplyParts = 1024

// MaxReplyBytes is the most text and tool-call arguments one model reply
// may hold, together. A server that sends more is refused: a hostile one
// streaming without end grew the process by 150 MB a second until it was
// killed, past the task's time budget (red team, session 42). A reply
// this large is far beyond any model's output limit.
const MaxReplyBytes = 16 << 20

// ErrReplyTooLarge is the error of a reply past MaxReplyBytes (a literal:
// no package init, TestInitBudget).
var ErrReplyTooLarge error = replyTooLarge{}

type replyTooLarge struct{}

func (replyTooLarge) Error() string { return "the reply is larger than 16 MiB" }

// Response is the model's complete reply to one Request.
type Response struct {
	Message    Message // Role is Assistant
	Usage      bulwark.Usage
	StopReason string // as the provider said it, for the log
}

// Model is a language model behind some provider's protocol.
//
// Stream sends req and returns the whole reply. While the reply streams in,
// it calls onText (when not nil) with each new piece of text, in order, from
// the calling goroutine. Cancelling ctx stops the stream at once and returns
// an error of kind bulwark.Canceled. Errors are *bulwark.Error whose Msg
// names the provider and never contains an API key.
type Model interface {
	Name() string // the spec it was opened with, e.g. "openai:gpt-4o"
	Stream(ctx context.Context, req Request, onText func(string)) (*Response, error)
}
