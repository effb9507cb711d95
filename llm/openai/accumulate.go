package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/transport"
)

// Accumulator assembles a streamed Chat Completions reply from its chunks.
// It is tolerant of the ways OpenAI-compatible servers (Ollama, vLLM, LM
// Studio, OpenRouter) differ: a whole tool call in one chunk, a missing
// index or id, finish_reason "stop" with tool calls, arguments sent as an
// object, usage in any chunk. It does no I/O; the zero value is ready.
type Accumulator struct {
	text    strings.Builder
	calls   []*callState
	byIndex map[int]*callState // the last call of each index the server sent
	finish  string
	usage   *bulwark.Usage
	done    bool         // [DONE] was seen
	started bool         // some chunk was seen
	chunk   chunk        // the chunk Add decodes into, reused
	scratch chunkScratch // its choices and deltas, reused
	size    int          // bytes of text, names and arguments taken (llm.MaxReplyBytes)
}

type callState struct {
	index   int // -1 when the server sent none
	id      string
	name    string
	args    strings.Builder
	objArgs bool   // args came whole, as a JSON object
	argBuf  []byte // a piece of args unescaped, reused
}

// StreamError is an error object a server sent inside the stream. Raw is
// the value of its "error" field.
type StreamError struct {
	Raw json.RawMessage
}

func (e *StreamError) Error() string {
	return "stream error: " + transport.ProviderMessage(append(append([]byte(`{"error":`), e.Raw...), '}'))
}

// chunk is the part of a streamed chunk the Accumulator reads. decodeChunk
// fills it without reflection for the shapes servers send; json.Unmarshal
// fills it for anything else, and is the reference the fast path is tested
// against (FuzzDecodeChunk).
type chunk struct {
	Choices []chunkChoice   `json:"choices"`
	Usage   *chunkUsage     `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type chunkChoice struct {
	Index        int     `json:"index"`
	Delta        *delta  `json:"delta"`
	Message      *delta  `json:"message"` // non-streamed replies and some servers
	FinishReason *string `json:"finish_reason"`
}

type chunkUsage struct {
	PromptTokens     int     `json:"prompt_tokens"`
	CompletionTokens int     `json:"completion_tokens"`
	Cost             float64 `json:"cost"` // OpenRouter
}

type delta struct {
	Content   json.RawMessage `json:"content"`
	Refusal   json.RawMessage `json:"refusal"` // OpenAI's text when it refuses
	ToolCalls []toolCallDelta `json:"tool_calls"`
}

type toolCallDelta struct {
	Index    *int          `json:"index"`
	ID       string        `json:"id"`
	Function functionDelta `json:"function"`
}

type functionDelta struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// Add takes the data of one SSE event and returns the new text it carries.
// It returns a *StreamError for an error object, and another error for data
// that is not a chunk. After "[DONE]", Done reports true.
func (a *Accumulator) Add(data []byte) (text string, err error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "", nil
	}
	if string(data) == "[DONE]" {
		a.done = true
		return "", nil
	}
	c := &a.chunk
	*c = chunk{}
	if !decodeChunkReusing(data, c, &a.scratch) {
		*c = chunk{}
		if err := json.Unmarshal(data, c); err != nil {
			return "", fmt.Errorf("malformed chunk: %w", err)
		}
	}
	if len(c.Error) > 0 && string(c.Error) != "null" {
		return "", &StreamError{Raw: c.Error}
	}
	a.started = true
	if c.Usage != nil {
		a.usage = &bulwark.Usage{InputTokens: c.Usage.PromptTokens, OutputTokens: c.Usage.CompletionTokens, Cost: c.Usage.Cost}
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue // only the first choice is asked for
		}
		d := ch.Delta
		if d == nil {
			d = ch.Message
		}
		if d != nil {
			text = contentText(d.Content) + contentText(d.Refusal)
			a.size += len(text)
			for _, tc := range d.ToolCalls {
				a.size += len(tc.Function.Name) + len(tc.Function.Arguments)
			}
			if a.size > llm.MaxReplyBytes {
				return "", llm.ErrReplyTooLarge
			}
			a.text.WriteString(text)
			for _, tc := range d.ToolCalls {
				if !a.addCall(tc.Index, tc.ID, tc.Function.Name, tc.Function.Arguments) {
					return "", fmt.Errorf("more than %d tool calls in one reply", llm.MaxReplyParts)
				}
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			a.finish = *ch.FinishReason
		}
	}
	return text, nil
}

// contentText reads a content value: a string, or an array of text parts.
func contentText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	if s, ok := plainString(raw); ok {
		return s
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return ""
}

// plainString reads a JSON string without escapes, as most streamed pieces
// are, without the decoder: raw comes from a chunk that decoded, so it is
// valid JSON, and a string with neither a backslash nor invalid UTF-8
// (which the decoder would replace) is its bytes between the quotes.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') >= 0 || !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// addCall adds a piece of a tool call; false when it would start a call
// past llm.MaxReplyParts.
func (a *Accumulator) addCall(index *int, id, name string, args json.RawMessage) bool {
	var c *callState
	if index != nil {
		c = a.byIndex[*index]
		// Some servers send every whole call with index 0: a different id
		// on a call that already has a name is a new call.
		if c != nil && id != "" && c.id != "" && id != c.id && c.name != "" {
			c = nil
		}
	} else if n := len(a.calls); n > 0 {
		last := a.calls[n-1]
		newID := id != "" && id != last.id
		newName := id == "" && name != "" && last.name != ""
		if !newID && !newName {
			c = last
		}
	}
	if c == nil {
		if len(a.calls) == llm.MaxReplyParts {
			return false
		}
		c = &callState{index: -1}
		if index != nil {
			c.index = *index
			if a.byIndex == nil {
				a.byIndex = map[int]*callState{}
			}
			a.byIndex[c.index] = c
		}
		a.calls = append(a.calls, c)
	}
	if c.id == "" {
		c.id = id
	}
	if name != "" && name != c.name {
		c.name += name
	}
	args = bytes.TrimSpace(args)
	switch {
	case len(args) == 0 || string(args) == "null":
	case args[0] == '"':
		if c.objArgs {
			// Only a piece that decodes replaces a whole object sent before.
			if _, ok := unescapeSimple(nil, args); !ok {
				var s string
				if json.Unmarshal(args, &s) != nil {
					return true
				}
			}
			c.args.Reset()
			c.objArgs = false
		}
		if b, ok := unescapeSimple(c.argBuf[:0], args); ok {
			c.argBuf = b
			c.args.Write(b)
		} else {
			var s string
			if json.Unmarshal(args, &s) == nil {
				c.args.WriteString(s)
			}
		}
	default: // a whole object sent as is
		c.args.Reset()
		c.args.Write(args)
		c.objArgs = true
	}
	return true
}

// Done reports whether the stream's "[DONE]" was seen.
func (a *Accumulator) Done() bool { return a.done }

// Complete reports whether the reply is whole: "[DONE]" or a finish_reason
// was seen. A stream that ends before is cut off.
func (a *Accumulator) Complete() bool { return a.done || a.finish != "" }

// Response returns the reply assembled so far. Tool calls without an id get
// "call_N" (N from 1), as does a repeated id; empty arguments become "{}". Tool calls are returned
// whatever the finish_reason says.
func (a *Accumulator) Response() *llm.Response {
	r := &llm.Response{Message: llm.Message{Role: llm.Assistant, Content: a.text.String()}, StopReason: a.finish}
	if a.usage != nil {
		r.Usage = a.usage.Clamp()
	}
	used := map[string]bool{}
	for _, c := range a.calls {
		used[c.id] = true
	}
	n := 0
	out := map[string]bool{}
	for _, c := range a.calls {
		args := strings.TrimSpace(c.args.String())
		if c.name == "" && args == "" {
			continue
		}
		n++
		id := c.id
		if id == "" || out[id] { // none, or a server repeated one
			for k := n; ; k++ {
				id = "call_" + strconv.Itoa(k)
				if !used[id] {
					break
				}
			}
			used[id] = true
		}
		out[id] = true
		if args == "" {
			args = "{}"
		}
		r.Message.ToolCalls = append(r.Message.ToolCalls, llm.ToolCall{ID: id, Name: c.name, Arguments: json.RawMessage(args)})
	}
	return r
}

// unescapeSimple appends to dst the value of the JSON string raw (quotes
// included) when it has no escape but \" \\ \/ \b \f \n \r \t, no control
// character and only valid UTF-8: what a streamed piece of arguments
// usually is (their quotes escaped). ok is false for anything else, which
// json.Unmarshal decodes (\u escapes, invalid UTF-8 it replaces, bad
// strings it refuses). FuzzUnescapeSimple holds it to json.Unmarshal.
func unescapeSimple(dst, raw []byte) (out []byte, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return dst, false
	}
	in := raw[1 : len(raw)-1]
	ascii := true
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c == '\\':
			if i+1 == len(in) {
				return dst, false
			}
			i++
			switch in[i] {
			case '"', '\\', '/':
				dst = append(dst, in[i])
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			default:
				return dst, false
			}
		case c == '"' || c < 0x20:
			return dst, false
		default:
			if c >= utf8.RuneSelf {
				ascii = false
			}
			dst = append(dst, c)
		}
	}
	if !ascii && !utf8.Valid(in) {
		return dst, false
	}
	return dst, true
}
