package openai

import (
	"encoding/json"
	"strings"

	"github.com/bulwark-agents/bulwark/llm"
)

// The wire shapes of a Chat Completions request.
type (
	wireRequest struct {
		Model         string        `json:"model"`
		Messages      []wireMessage `json:"messages"`
		Tools         []wireTool    `json:"tools,omitempty"`
		Stream        bool          `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options,omitempty"`
		MaxTokens int `json:"max_tokens,omitempty"`
	}
	wireMessage struct {
		Role       string         `json:"role"`
		Content    string         `json:"content"`
		ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
		ToolCallID string         `json:"tool_call_id,omitempty"`
	}
	wireToolCall struct {
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"` // a JSON document in a string
		} `json:"function"`
	}
	wireTool struct {
		Type     string `json:"type"`
		Function struct {
			Name        string          `json:"name"`
			Description string          `json:"description,omitempty"`
			Parameters  json.RawMessage `json:"parameters"`
		} `json:"function"`
	}
)

var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// body maps req to the wire request.
func (m *Model) body(req llm.Request) *wireRequest {
	w := &wireRequest{Model: m.cfg.Model, Stream: true, MaxTokens: req.MaxTokens}
	w.StreamOptions = &struct {
		IncludeUsage bool `json:"include_usage"`
	}{true}
	for _, t := range req.Tools {
		var wt wireTool
		wt.Type = "function"
		wt.Function.Name = t.Name
		wt.Function.Description = t.Description
		wt.Function.Parameters = t.Parameters
		if len(strings.TrimSpace(string(t.Parameters))) == 0 {
			wt.Function.Parameters = emptySchema
		}
		w.Tools = append(w.Tools, wt)
	}
	w.Messages = messages(req.Messages)
	return w
}

// messages maps a conversation to Chat Completions messages: assistant tool
// calls carry their arguments as a JSON string, tool results are "tool"
// messages with the call's id, and a failed result is marked "Error: ".
func messages(msgs []llm.Message) []wireMessage {
	out := make([]wireMessage, 0, len(msgs))
	for _, msg := range msgs {
		w := wireMessage{Role: string(msg.Role), Content: msg.Content}
		switch msg.Role {
		case llm.Assistant:
			for _, c := range msg.ToolCalls {
				var wc wireToolCall
				wc.ID, wc.Type = c.ID, "function"
				wc.Function.Name = c.Name
				wc.Function.Arguments = strings.TrimSpace(string(c.Arguments))
				if wc.Function.Arguments == "" {
					wc.Function.Arguments = "{}"
				}
				w.ToolCalls = append(w.ToolCalls, wc)
			}
		case llm.ToolRole:
			w.ToolCallID = msg.ToolCallID
			if msg.IsError && !strings.HasPrefix(strings.ToLower(msg.Content), "error") {
				w.Content = "Error: " + msg.Content
			}
		}
		out = append(out, w)
	}
	return out
}
