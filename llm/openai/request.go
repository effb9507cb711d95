package openai

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

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

// encoded is what a Model keeps in a request's llm.Cache: the messages it
// last sent (copies) with their encodings.
type encoded struct {
	msgs []llm.Message
	enc  [][]byte
	// body is the last request's body and writes what net/http did with
	// it: the next request is encoded into the same array once it is
	// idle, instead of a new one per turn (the largest allocation of a
	// turn).
	body   []byte
	writes *bodyWrites
}

// encodedTools is the "tools" array of the last request that had tools
// (copies of the specs and their encoding), which a Model keeps for every
// conversation: the agents of one process mostly send the same tools.
type encodedTools struct {
	tools []llm.ToolSpec
	enc   []byte
}

// encode returns the request body for req, the JSON of the wire request:
// the same bytes json.Marshal gives, but built from one encoding per
// message, kept in req.Cache between the turns of a conversation so that
// only the messages that are new or changed are encoded again.
func (m *Model) encode(req llm.Request) ([]byte, error) {
	body, _, err := m.encodeBody(req)
	return body, err
}

// encodeBody is encode also returning what counts the body's writes, for
// the request's context (bodyWrites.trace) and for Stream to end.
func (m *Model) encodeBody(req llm.Request) ([]byte, *bodyWrites, error) {
	st, _ := req.Cache.Take(m).(*encoded)
	if st == nil {
		st = &encoded{}
	}
	n := 0
	for n < len(st.msgs) && n < len(req.Messages) && llm.SameMessage(st.msgs[n], req.Messages[n]) {
		n++
	}
	clear(st.msgs[n:]) // let go of what was cut off
	clear(st.enc[n:])
	st.msgs, st.enc = st.msgs[:n], st.enc[:n]
	for _, msg := range req.Messages[n:] {
		st.msgs = append(st.msgs, llm.CloneMessage(msg))
		w := message(msg)
		st.enc = append(st.enc, appendMessage(make([]byte, 0, wireSize(w)), w))
	}
	var tenc []byte
	if len(req.Tools) > 0 {
		kept := m.tools.Load()
		if kept == nil || !sameTools(kept.tools, req.Tools) {
			b, err := json.Marshal(wireTools(req.Tools))
			if err != nil {
				return nil, nil, err
			}
			kept = &encodedTools{tools: cloneTools(req.Tools), enc: b}
			m.tools.Store(kept)
		}
		tenc = kept.enc
	}

	const streamPart = `,"stream":true,"stream_options":{"include_usage":true}`
	size := len(m.modelJSON) + len(tenc) + len(streamPart) + 64
	for _, b := range st.enc {
		size += len(b) + 1
	}
	var body []byte
	if st.writes.idle() && cap(st.body) >= size {
		body = st.body[:0]
	} else {
		// A conversation grows turn by turn: room for a few more turns.
		body = make([]byte, 0, size+size/4)
	}
	body = append(body, `{"model":`...)
	body = append(body, m.modelJSON...)
	body = append(body, `,"messages":[`...)
	for i, b := range st.enc {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, b...)
	}
	body = append(body, ']')
	if tenc != nil {
		body = append(body, `,"tools":`...)
		body = append(body, tenc...)
	}
	body = append(body, streamPart...)
	if req.MaxTokens != 0 {
		body = append(body, `,"max_tokens":`...)
		body = strconv.AppendInt(body, int64(req.MaxTokens), 10)
	}
	body = append(body, '}')
	writes := new(bodyWrites)
	st.body, st.writes = body, writes
	req.Cache.Store(m, st)
	return body, writes, nil
}

// appendMessage appends w as JSON: the bytes json.Marshal gives for it
// (FuzzAppendMessage holds it to that), without reflection, which was most
// of the cost of encoding a turn's new messages and deepened the task's
// stack.
func appendMessage(b []byte, w wireMessage) []byte {
	b = append(b, `{"role":`...)
	b = appendString(b, w.Role)
	b = append(b, `,"content":`...)
	b = appendString(b, w.Content)
	if len(w.ToolCalls) > 0 {
		b = append(b, `,"tool_calls":[`...)
		for i, c := range w.ToolCalls {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"id":`...)
			b = appendString(b, c.ID)
			b = append(b, `,"type":`...)
			b = appendString(b, c.Type)
			b = append(b, `,"function":{"name":`...)
			b = appendString(b, c.Function.Name)
			b = append(b, `,"arguments":`...)
			b = appendString(b, c.Function.Arguments)
			b = append(b, "}}"...)
		}
		b = append(b, ']')
	}
	if w.ToolCallID != "" {
		b = append(b, `,"tool_call_id":`...)
		b = appendString(b, w.ToolCallID)
	}
	return append(b, '}')
}

// wireSize is room for appendMessage's JSON of w when few of its bytes
// need escaping.
func wireSize(w wireMessage) int {
	n := 64 + len(w.Role) + len(w.Content) + len(w.ToolCallID)
	for _, c := range w.ToolCalls {
		n += 64 + len(c.ID) + len(c.Type) + len(c.Function.Name) + len(c.Function.Arguments)
	}
	return n + n/16
}

// appendString appends s as a JSON string escaped as json.Marshal escapes
// it: ", \ and the control characters, <, > and & (as \u003c, \u003e,
// \u0026), U+2028 and U+2029, and each byte that is not UTF-8 as \ufffd.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// wireTools maps tool specs to the wire's; a tool without parameters gets
// an empty object schema.
func wireTools(tools []llm.ToolSpec) []wireTool {
	out := make([]wireTool, 0, len(tools))
	for _, t := range tools {
		var wt wireTool
		wt.Type = "function"
		wt.Function.Name = t.Name
		wt.Function.Description = t.Description
		wt.Function.Parameters = t.Parameters
		if len(strings.TrimSpace(string(t.Parameters))) == 0 {
			wt.Function.Parameters = emptySchema
		}
		out = append(out, wt)
	}
	return out
}

func sameTools(a, b []llm.ToolSpec) bool {
	return slices.EqualFunc(a, b, func(x, y llm.ToolSpec) bool {
		return x.Name == y.Name && x.Description == y.Description && bytes.Equal(x.Parameters, y.Parameters)
	})
}

func cloneTools(tools []llm.ToolSpec) []llm.ToolSpec {
	out := slices.Clone(tools)
	for i := range out {
		out[i].Parameters = bytes.Clone(out[i].Parameters)
	}
	return out
}

// message maps one message to the Chat Completions wire: assistant tool
// calls carry their arguments as a JSON string, tool results are "tool"
// messages with the call's id, and a failed result is marked "Error: ".
func message(msg llm.Message) wireMessage {
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
	return w
}
