package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/transport"
)

// Accumulator assembles a streamed Messages API reply from its events. It
// does no I/O; the zero value is ready.
type Accumulator struct {
	blocks  []*block
	byIndex map[int]*block // the last block of each index
	stop    string
	usage   bulwark.Usage
	done    bool // message_stop was seen
	size    int  // bytes of the events taken (llm.MaxReplyBytes)
}

type block struct {
	index int
	kind  string // "text", "tool_use", or another type that is ignored
	text  strings.Builder
	id    string
	name  string
	input json.RawMessage // from content_block_start
	json  strings.Builder // input_json_delta pieces
}

// StreamError is an "error" event. Raw is the value of its "error" field.
type StreamError struct {
	Raw json.RawMessage
}

func (e *StreamError) Error() string {
	return "stream error: " + transport.ProviderMessage(append(append([]byte(`{"error":`), e.Raw...), '}'))
}

type event struct {
	Type    string `json:"type"`
	Message *struct {
		Usage usage `json:"usage"`
	} `json:"message"`
	Index        int `json:"index"`
	ContentBlock *struct {
		Type  string          `json:"type"`
		Text  string          `json:"text"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	} `json:"content_block"`
	Delta *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *usage          `json:"usage"`
	Error json.RawMessage `json:"error"`
}

type usage struct {
	InputTokens         int `json:"input_tokens"`
	OutputTokens        int `json:"output_tokens"`
	CacheCreationTokens int `json:"cache_creation_input_tokens"`
	CacheReadTokens     int `json:"cache_read_input_tokens"`
}

func (u usage) input() int { return u.InputTokens + u.CacheCreationTokens + u.CacheReadTokens }

// Add takes one SSE event (its name, which may be empty, and its data) and
// returns the new text it carries. An "error" event is a *StreamError.
func (a *Accumulator) Add(name string, data []byte) (text string, err error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return "", nil
	}
	// Every event counts: what a block holds (text, tool input) is no
	// more than the events that carried it.
	if a.size += len(data); a.size > llm.MaxReplyBytes {
		return "", llm.ErrReplyTooLarge
	}
	var ev event
	if err := json.Unmarshal(data, &ev); err != nil {
		return "", fmt.Errorf("malformed event %q: %w", name, err)
	}
	if ev.Type == "" {
		ev.Type = name
	}
	switch ev.Type {
	case "error":
		raw := ev.Error
		if len(raw) == 0 {
			raw = bytes.Clone(data) // data is the stream reader's, reused after
		}
		return "", &StreamError{Raw: raw}
	case "message_start":
		if ev.Message != nil {
			a.usage.InputTokens = ev.Message.Usage.input()
			a.usage.OutputTokens = ev.Message.Usage.OutputTokens
		}
	case "content_block_start":
		b := a.newBlock(ev.Index)
		if b == nil {
			return "", errTooMany
		}
		if cb := ev.ContentBlock; cb != nil {
			b.kind, b.id, b.name, b.input = cb.Type, cb.ID, cb.Name, cb.Input
			if cb.Type == "text" {
				b.text.WriteString(cb.Text)
				text = cb.Text
			}
		}
	case "content_block_delta":
		if ev.Delta == nil {
			break
		}
		b := a.block(ev.Index)
		if b == nil {
			return "", errTooMany
		}
		switch ev.Delta.Type {
		case "text_delta":
			if b.kind == "" {
				b.kind = "text"
			}
			if b.kind == "text" {
				b.text.WriteString(ev.Delta.Text)
				text = ev.Delta.Text
			}
		case "input_json_delta":
			b.json.WriteString(ev.Delta.PartialJSON)
		}
	case "message_delta":
		if ev.Delta != nil && ev.Delta.StopReason != "" {
			a.stop = ev.Delta.StopReason
		}
		if ev.Usage != nil {
			a.usage.OutputTokens = ev.Usage.OutputTokens
			if in := ev.Usage.input(); in > 0 {
				a.usage.InputTokens = in
			}
		}
	case "message_stop":
		a.done = true
	}
	return text, nil
}

// block returns the block with index i, making it if the stream skipped
// its content_block_start.
func (a *Accumulator) block(i int) *block {
	if b := a.byIndex[i]; b != nil {
		return b
	}
	return a.newBlock(i)
}

// newBlock adds a block of index i; nil past llm.MaxReplyParts.
func (a *Accumulator) newBlock(i int) *block {
	if len(a.blocks) == llm.MaxReplyParts {
		return nil
	}
	b := &block{index: i}
	if a.byIndex == nil {
		a.byIndex = map[int]*block{}
	}
	a.byIndex[i] = b
	a.blocks = append(a.blocks, b)
	return b
}

// errTooMany is a literal, not an error made by the package's init (which
// every command runs).
var errTooMany error = tooManyBlocks{}

type tooManyBlocks struct{}

func (tooManyBlocks) Error() string {
	return fmt.Sprintf("more than %d content blocks in one reply", llm.MaxReplyParts)
}

// Done reports whether message_stop was seen.
func (a *Accumulator) Done() bool { return a.done }

// Complete reports whether the reply is whole: message_stop or a
// stop_reason was seen.
func (a *Accumulator) Complete() bool { return a.done || a.stop != "" }

// Response returns the reply assembled so far: the text blocks joined, and
// a tool call per tool_use block (input "{}" when empty, id
// "toolu_N" when missing).
func (a *Accumulator) Response() *llm.Response {
	r := &llm.Response{Message: llm.Message{Role: llm.Assistant}, StopReason: a.stop, Usage: a.usage.Clamp()}
	var text strings.Builder
	for _, b := range a.blocks {
		switch b.kind {
		case "text":
			text.WriteString(b.text.String())
		case "tool_use":
			args := strings.TrimSpace(b.json.String())
			if args == "" {
				args = strings.TrimSpace(string(b.input))
			}
			if args == "" || args == "null" {
				args = "{}"
			}
			id := b.id
			if id == "" {
				id = fmt.Sprintf("toolu_%d", len(r.Message.ToolCalls)+1)
			}
			r.Message.ToolCalls = append(r.Message.ToolCalls, llm.ToolCall{ID: id, Name: b.name, Arguments: json.RawMessage(args)})
		}
	}
	r.Message.Content = text.String()
	return r
}
