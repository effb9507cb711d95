package llmtest

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bulwark-agents/bulwark/llm"
)

// parseOpenAI fills req from a Chat Completions body.
func parseOpenAI(req *Request) error {
	var b struct {
		Model    string `json:"model"`
		Stream   bool   `json:"stream"`
		Messages []struct {
			Role      string          `json:"role"`
			Content   json.RawMessage `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
			ToolCallID string `json:"tool_call_id"`
		} `json:"messages"`
		Tools []struct {
			Function llm.ToolSpec `json:"function"`
		} `json:"tools"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(req.Body, &b); err != nil {
		return fmt.Errorf("the body is not a chat completion request: %v", err)
	}
	if b.Model == "" {
		return fmt.Errorf("model is missing")
	}
	req.Model, req.Stream, req.Usage = b.Model, b.Stream, b.StreamOptions.IncludeUsage
	for _, m := range b.Messages {
		msg := llm.Message{Role: llm.Role(m.Role), Content: text(m.Content), ToolCallID: m.ToolCallID}
		for _, c := range m.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{ID: c.ID, Name: c.Function.Name, Arguments: json.RawMessage(c.Function.Arguments)})
		}
		req.Messages = append(req.Messages, msg)
	}
	for _, t := range b.Tools {
		req.Tools = append(req.Tools, t.Function)
	}
	return nil
}

// parseAnthropic fills req from a Messages API body.
func parseAnthropic(req *Request) error {
	var b struct {
		Model     string          `json:"model"`
		Stream    bool            `json:"stream"`
		MaxTokens int             `json:"max_tokens"`
		System    json.RawMessage `json:"system"`
		Messages  []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Name        string          `json:"name"`
			Description string          `json:"description"`
			InputSchema json.RawMessage `json:"input_schema"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(req.Body, &b); err != nil {
		return fmt.Errorf("the body is not a messages request: %v", err)
	}
	if b.Model == "" || b.MaxTokens <= 0 {
		return fmt.Errorf("model and max_tokens are required")
	}
	req.Model, req.Stream, req.Usage = b.Model, b.Stream, true
	if sys := text(b.System); sys != "" {
		req.Messages = append(req.Messages, llm.Message{Role: llm.System, Content: sys})
	}
	for _, m := range b.Messages {
		var blocks []struct {
			Type      string          `json:"type"`
			Text      string          `json:"text"`
			ID        string          `json:"id"`
			Name      string          `json:"name"`
			Input     json.RawMessage `json:"input"`
			ToolUseID string          `json:"tool_use_id"`
			Content   json.RawMessage `json:"content"`
			IsError   bool            `json:"is_error"`
		}
		if json.Unmarshal(m.Content, &blocks) != nil {
			req.Messages = append(req.Messages, llm.Message{Role: llm.Role(m.Role), Content: text(m.Content)})
			continue
		}
		msg := llm.Message{Role: llm.Role(m.Role)}
		var texts []string
		for _, bl := range blocks {
			switch bl.Type {
			case "text":
				texts = append(texts, bl.Text)
			case "tool_use":
				msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{ID: bl.ID, Name: bl.Name, Arguments: bl.Input})
			case "tool_result":
				req.Messages = append(req.Messages, llm.Message{Role: llm.ToolRole, ToolCallID: bl.ToolUseID,
					Content: text(bl.Content), IsError: bl.IsError})
			}
		}
		msg.Content = strings.Join(texts, "")
		if msg.Content != "" || len(msg.ToolCalls) > 0 {
			req.Messages = append(req.Messages, msg)
		}
	}
	for _, t := range b.Tools {
		req.Tools = append(req.Tools, llm.ToolSpec{Name: t.Name, Description: t.Description, Parameters: t.InputSchema})
	}
	return nil
}

// text reads a content value: a string, or an array of blocks whose text
// is joined.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	json.Unmarshal(raw, &parts)
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text)
	}
	return b.String()
}
