// Package textcall gives tool calling to models that have none: the tools
// are described in the system prompt, the model answers with a JSON object
// in its text, and the reply is parsed back into a tool call.
package textcall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

// MaxCorrections is how many times a reply with malformed tool call JSON is
// sent back to the model with a correction before it is taken as text.
const MaxCorrections = 2

// Wrap returns a model that calls tools through m's text. Its Name is m's
// followed by "?tools=text". Text streams to onText as m produces it, JSON
// included; the Response's Content is the text around the call.
//
// A reply is parsed with Parse. A reply with no JSON object is a plain
// answer. A reply whose JSON is not a valid call is answered with a
// correction, at most MaxCorrections times, and then returned as a plain
// answer. The usage of every attempt is summed. If m answers with native
// tool calls after all, they are returned as they are.
func Wrap(m llm.Model) llm.Model { return &model{inner: m} }

type model struct{ inner llm.Model }

func (w *model) Name() string { return w.inner.Name() + "?tools=text" }

func (w *model) Stream(ctx context.Context, req llm.Request, onText func(string)) (*llm.Response, error) {
	names := make([]string, len(req.Tools))
	for i, t := range req.Tools {
		names[i] = t.Name
	}
	inner := llm.Request{Messages: Prompt(req), MaxTokens: req.MaxTokens}
	var usage bulwark.Usage
	for attempt := 0; ; attempt++ {
		resp, err := w.inner.Stream(ctx, inner, onText)
		if err != nil {
			return nil, err
		}
		usage.Add(resp.Usage)
		resp.Usage = usage
		if len(req.Tools) == 0 || len(resp.Message.ToolCalls) > 0 {
			return resp, nil
		}
		text := resp.Message.Content
		call, prose, err := Parse(text, names)
		if err == nil {
			id := fmt.Sprintf("call_%d", countCalls(req.Messages)+1)
			resp.Message = llm.Message{Role: llm.Assistant, Content: prose,
				ToolCalls: []llm.ToolCall{{ID: id, Name: call.Name, Arguments: call.Arguments}}}
			return resp, nil
		}
		if errors.Is(err, ErrNoJSON) || attempt >= MaxCorrections {
			return resp, nil
		}
		inner.Messages = append(inner.Messages,
			llm.Message{Role: llm.Assistant, Content: text},
			llm.Message{Role: llm.User, Content: Correction(err, names)})
	}
}

func countCalls(msgs []llm.Message) int {
	n := 0
	for _, m := range msgs {
		n += len(m.ToolCalls)
	}
	return n
}

// Correction is the message sent back to a model whose reply had no valid
// tool call.
func Correction(err error, tools []string) string {
	return fmt.Sprintf("Your reply had no valid tool call JSON: %v. "+
		`Reply with exactly one JSON object of the form {"tool": "NAME", "arguments": {...}}, `+
		"where NAME is one of: %s. Or, if you need no tool, reply in plain text without any JSON.",
		err, strings.Join(tools, ", "))
}

// Prompt returns the messages sent to the wrapped model for req: the tools
// described in the system prompt, and tool calls and results of the history
// written out as plain text.
func Prompt(req llm.Request) []llm.Message {
	out := make([]llm.Message, 0, len(req.Messages)+1)
	lastTool := false // out's last message holds tool results
	for _, m := range req.Messages {
		wasTool := lastTool
		lastTool = m.Role == llm.ToolRole
		switch m.Role {
		case llm.Assistant:
			var b strings.Builder
			b.WriteString(m.Content)
			for _, c := range m.ToolCalls {
				if b.Len() > 0 {
					b.WriteString("\n")
				}
				b.WriteString(callJSON(c))
			}
			out = append(out, llm.Message{Role: llm.Assistant, Content: b.String()})
		case llm.ToolRole:
			name := m.ToolName
			if name == "" {
				name = "the tool"
			}
			verb := "returned"
			if m.IsError {
				verb = "failed"
			}
			text := fmt.Sprintf("[%s %s]\n%s", name, verb, m.Content)
			if wasTool {
				out[len(out)-1].Content += "\n\n" + text
				continue
			}
			out = append(out, llm.Message{Role: llm.User, Content: text})
		default:
			out = append(out, llm.Message{Role: m.Role, Content: m.Content})
		}
	}
	if len(req.Tools) == 0 {
		return out
	}
	desc := describe(req.Tools)
	if len(out) > 0 && out[0].Role == llm.System {
		out[0].Content += "\n\n" + desc
	} else {
		out = append([]llm.Message{{Role: llm.System, Content: desc}}, out...)
	}
	return out
}

func callJSON(c llm.ToolCall) string {
	args := c.Arguments
	if !json.Valid(args) {
		args, _ = json.Marshal(string(c.Arguments))
	}
	name, _ := json.Marshal(c.Name)
	return fmt.Sprintf(`{"tool": %s, "arguments": %s}`, name, args)
}

func describe(tools []llm.ToolSpec) string {
	var b strings.Builder
	b.WriteString("You can use the tools listed below. To use one, reply with exactly one JSON object, and nothing else, in this form:\n")
	b.WriteString(`{"tool": "TOOL_NAME", "arguments": {...}}` + "\n")
	b.WriteString("The arguments must be a JSON object that follows the tool's schema. Use one tool per reply; " +
		"its result comes in the next message. To answer without a tool, reply in plain text with no JSON object.\n\nTools:\n")
	for _, t := range tools {
		fmt.Fprintf(&b, "\n## %s\n", t.Name)
		if t.Description != "" {
			fmt.Fprintf(&b, "%s\n", t.Description)
		}
		schema := strings.TrimSpace(string(t.Parameters))
		if schema == "" {
			schema = `{"type":"object","properties":{}}`
		}
		fmt.Fprintf(&b, "Arguments schema: %s\n", schema)
	}
	return b.String()
}
