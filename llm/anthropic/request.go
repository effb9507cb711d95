package anthropic

import (
	"cmp"
	"encoding/json"
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark/llm"
)

// The wire shapes of a Messages API request.
type (
	wireRequest struct {
		Model     string        `json:"model"`
		MaxTokens int           `json:"max_tokens"`
		System    string        `json:"system,omitempty"`
		Messages  []wireMessage `json:"messages"`
		Tools     []wireTool    `json:"tools,omitempty"`
		Stream    bool          `json:"stream"`
	}
	wireMessage struct {
		Role    string      `json:"role"`
		Content []wireBlock `json:"content"`
	}
	wireBlock struct {
		Type      string          `json:"type"`
		Text      string          `json:"text,omitempty"`
		ID        string          `json:"id,omitempty"`
		Name      string          `json:"name,omitempty"`
		Input     json.RawMessage `json:"input,omitempty"`
		ToolUseID string          `json:"tool_use_id,omitempty"`
		Content   *string         `json:"content,omitempty"`
		IsError   bool            `json:"is_error,omitempty"`
	}
	wireTool struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		InputSchema json.RawMessage `json:"input_schema"`
	}
)

var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// body maps req to the wire request.
func (m *Model) body(req llm.Request) *wireRequest {
	w := &wireRequest{Model: m.cfg.Model, MaxTokens: req.MaxTokens, Stream: true}
	if w.MaxTokens <= 0 {
		w.MaxTokens = DefaultMaxTokens
	}
	for _, t := range req.Tools {
		schema := t.Parameters
		if len(strings.TrimSpace(string(schema))) == 0 {
			schema = emptySchema
		}
		w.Tools = append(w.Tools, wireTool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	w.System, w.Messages = messages(req.Messages)
	return w
}

// messages maps a conversation to the Messages API: system messages are
// joined into the top-level system prompt, tool results become tool_result
// blocks of a user message, and consecutive messages of one role are
// merged, as the API wants roles to alternate.
func messages(msgs []llm.Message) (system string, out []wireMessage) {
	var sys []string
	for _, msg := range msgs {
		var role string
		var blocks []wireBlock
		switch msg.Role {
		case llm.System:
			if msg.Content != "" {
				sys = append(sys, msg.Content)
			}
			continue
		case llm.Assistant:
			role = "assistant"
			if strings.TrimSpace(msg.Content) != "" {
				blocks = append(blocks, wireBlock{Type: "text", Text: msg.Content})
			}
			for _, c := range msg.ToolCalls {
				blocks = append(blocks, wireBlock{Type: "tool_use", ID: toolID(c.ID), Name: c.Name, Input: objectOrEmpty(c.Arguments)})
			}
		case llm.ToolRole:
			role = "user"
			content := msg.Content
			blocks = append(blocks, wireBlock{Type: "tool_result", ToolUseID: toolID(msg.ToolCallID), Content: &content, IsError: msg.IsError})
		default:
			role = "user"
			if strings.TrimSpace(msg.Content) != "" {
				blocks = append(blocks, wireBlock{Type: "text", Text: msg.Content})
			}
		}
		if len(blocks) == 0 {
			continue // the API refuses empty content
		}
		if n := len(out); n > 0 && out[n-1].Role == role {
			out[n-1].Content = append(out[n-1].Content, blocks...)
			continue
		}
		out = append(out, wireMessage{Role: role, Content: blocks})
	}
	for _, m := range out {
		if m.Role == "user" {
			// tool_result blocks must come first in a user message.
			slices.SortStableFunc(m.Content, func(a, b wireBlock) int {
				return cmp.Compare(b2i(a.Type != "tool_result"), b2i(b.Type != "tool_result"))
			})
		}
	}
	return strings.Join(sys, "\n\n"), out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// objectOrEmpty returns raw when it is a JSON object, else {}: the API
// wants tool_use input to be an object, and a model may have produced
// malformed arguments.
func objectOrEmpty(raw json.RawMessage) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) != nil || obj == nil {
		return json.RawMessage(`{}`)
	}
	return raw
}

// toolID makes id fit the API's pattern ^[a-zA-Z0-9_-]+$.
func toolID(id string) string {
	if id == "" {
		return "toolu_none"
	}
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			return r
		}
		return '_'
	}, id)
}
