package openai

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/transport"
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
// last sent (copies) with their encodings, each but the first with the
// comma before it. An encoding is never changed once made: the bodies of
// earlier requests (transport.Pieces) are read from them, perhaps after
// the next request was encoded (a write that outlives its Stream, a
// retry).
type encoded struct {
	msgs []llm.Message
	enc  [][]byte
}

// encodedTools is the "tools" array of the last request that had tools
// (copies of the specs), which a Model keeps for every conversation: the
// agents of one process mostly send the same tools. part is what follows
// the messages in a body: the array's end, "tools" and its encoding.
type encodedTools struct {
	tools []llm.ToolSpec
	part  []byte
}

// The parts of a body around its messages.
var (
	endMessages = []byte(`]`)
	streamTail  = []byte(`,"stream":true,"stream_options":{"include_usage":true}}`)
)

// encode returns the request body for req, the JSON of the wire request:
// the same bytes json.Marshal gives (TestEncodeCache).
func (m *Model) encode(req llm.Request) ([]byte, error) {
	body, err := m.encodeBody(req)
	if err != nil {
		return nil, err
	}
	return body.Bytes(), nil
}

// encodeBody returns the request body for req, read from one encoding
// per message, kept in req.Cache between the turns of a conversation so
// that only the messages that are new or changed are encoded again, and
// the tools' encoding, kept by m: the body is never copied whole.
func (m *Model) encodeBody(req llm.Request) (*transport.Pieces, error) {
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
		b := make([]byte, 0, wireSize(w))
		if len(st.enc) > 0 {
			b = append(b, ',')
		}
		st.enc = append(st.enc, appendMessage(b, w))
	}
	mid := endMessages
	if len(req.Tools) > 0 {
		kept := m.tools.Load()
		if kept == nil || !sameTools(kept.tools, req.Tools) {
			b, err := json.Marshal(wireTools(req.Tools))
			if err != nil {
				return nil, err
			}
			kept = &encodedTools{tools: cloneTools(req.Tools), part: append([]byte(`],"tools":`), b...)}
			m.tools.Store(kept)
		}
		mid = kept.part
	}
	tail := streamTail
	if req.MaxTokens != 0 {
		tail = append([]byte(`,"stream":true,"stream_options":{"include_usage":true},"max_tokens":`), strconv.Itoa(req.MaxTokens)...)
		tail = append(tail, '}')
	}
	parts := make([][]byte, 0, len(st.enc)+3)
	parts = append(parts, m.head)
	parts = append(parts, st.enc...)
	parts = append(parts, mid, tail)
	req.Cache.Store(m, st)
	return transport.NewPieces(parts), nil
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
