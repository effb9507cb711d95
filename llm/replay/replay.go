// Package replay is a scripted model: it plays the assistant turns of a
// JSONL file in order, whatever the conversation says. It serves demos,
// tests and benchmarks; the tools it calls really run.
//
// Each line of the file is one turn:
//
//	{"content": "text", "tool_calls": [{"name": "write_file", "arguments": {"path": "a.txt", "content": "hi"}}]}
//
// Both fields are optional; arguments is a JSON object; a call's "id" is
// optional and generated when absent. Blank lines and lines starting with
// "#" or "//" are skipped.
package replay

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

// Model plays a script. Its position follows the conversation: a request
// whose messages hold n assistant turns already played gets line n+1 of
// the script (or the next line after the last one this Model played, when
// that is further on, as in a task tree that plays one script), so a
// conversation continued later, by a new Model over the same script,
// plays on from where it stopped, never from the start. Open one per
// task. It is safe for concurrent use, but concurrent calls take turns in
// an unspecified order.
type Model struct {
	name  string
	turns []llm.Message

	mu   sync.Mutex
	next int
}

var _ llm.Model = (*Model)(nil)

type turn struct {
	Content   string `json:"content"`
	ToolCalls []struct {
		ID        string          `json:"id"`
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"tool_calls"`
}

// Open reads the script at path. A missing file is NotFound; a malformed
// line is an Invalid error naming the file and the line number.
func Open(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		kind := bulwark.Invalid
		if os.IsNotExist(err) {
			kind = bulwark.NotFound
		}
		return nil, bulwark.E(kind, "replay.Open", fmt.Sprintf("replay: cannot read the script %q", path), err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, "replay.Open", fmt.Sprintf("replay: %s: %s", path, bulwark.ErrorMessage(err)), err)
	}
	m.name = "replay:" + path
	return m, nil
}

// Parse reads a script from its content. Errors name the line number.
func Parse(data []byte) (*Model, error) {
	m := &Model{name: "replay"}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' || bytes.HasPrefix(line, []byte("//")) {
			continue
		}
		msg, err := parseTurn(line, len(m.turns))
		if err != nil {
			return nil, bulwark.E(bulwark.Invalid, "replay.Parse", fmt.Sprintf("line %d: %v", n, err), err)
		}
		m.turns = append(m.turns, msg)
	}
	if err := sc.Err(); err != nil {
		return nil, bulwark.E(bulwark.Invalid, "replay.Parse", "the script cannot be read: "+err.Error(), err)
	}
	if len(m.turns) == 0 {
		return nil, bulwark.Errorf(bulwark.Invalid, "replay.Parse", "the script has no turns")
	}
	return m, nil
}

func parseTurn(line []byte, index int) (llm.Message, error) {
	var t turn
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return llm.Message{}, fmt.Errorf("not a turn object: %v", err)
	}
	if dec.More() {
		return llm.Message{}, fmt.Errorf("more than one JSON value on the line")
	}
	msg := llm.Message{Role: llm.Assistant, Content: t.Content}
	for i, c := range t.ToolCalls {
		if strings.TrimSpace(c.Name) == "" {
			return llm.Message{}, fmt.Errorf("tool call %d has no name", i+1)
		}
		args := bytes.TrimSpace(c.Arguments)
		if len(args) == 0 || string(args) == "null" {
			args = []byte("{}")
		}
		if args[0] != '{' {
			return llm.Message{}, fmt.Errorf("tool call %d (%s): arguments must be a JSON object", i+1, c.Name)
		}
		id := c.ID
		if id == "" {
			id = fmt.Sprintf("call_%d_%d", index+1, i+1)
		}
		msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{ID: id, Name: c.Name, Arguments: json.RawMessage(args)})
	}
	return msg, nil
}

// Name returns "replay:" and the script's path.
func (m *Model) Name() string { return m.name }

// Len returns the number of turns in the script.
func (m *Model) Len() int { return len(m.turns) }

// Stream plays the next turn, calling onText with its content in a few
// pieces. When the script has run out it returns a QuotaExceeded error.
// A canceled ctx returns Canceled and does not use up a turn.
func (m *Model) Stream(ctx context.Context, req llm.Request, onText func(string)) (*llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, bulwark.E(bulwark.Canceled, "replay.Stream", "replay: canceled", err)
	}
	m.mu.Lock()
	m.next = max(m.next, played(req))
	if m.next >= len(m.turns) {
		played := m.next
		m.mu.Unlock()
		return nil, bulwark.Errorf(bulwark.QuotaExceeded, "replay.Stream", "replay: the script has no more turns (played %d)", played)
	}
	msg := m.turns[m.next]
	m.next++
	m.mu.Unlock()

	if onText != nil {
		for _, piece := range pieces(msg.Content, 3) {
			onText(piece)
		}
	}
	msg.ToolCalls = append([]llm.ToolCall(nil), msg.ToolCalls...)
	out := 0
	for _, c := range msg.ToolCalls {
		out += len(c.Arguments)
	}
	usage := bulwark.Usage{InputTokens: promptSize(req) / 4, OutputTokens: (len(msg.Content) + out + 3) / 4}
	stop := "stop"
	if len(msg.ToolCalls) > 0 {
		stop = "tool_calls"
	}
	return &llm.Response{Message: msg, Usage: usage, StopReason: stop}, nil
}

// played counts the assistant turns of the conversation so far.
func played(req llm.Request) int {
	n := 0
	for _, m := range req.Messages {
		if m.Role == llm.Assistant {
			n++
		}
	}
	return n
}

func promptSize(req llm.Request) int {
	n := 0
	for _, m := range req.Messages {
		n += len(m.Content)
		for _, c := range m.ToolCalls {
			n += len(c.Arguments)
		}
	}
	return n
}

// pieces cuts s into at most n pieces at rune boundaries.
func pieces(s string, n int) []string {
	if s == "" {
		return nil
	}
	size := (len(s) + n - 1) / n
	var out []string
	for len(s) > 0 {
		i := min(size, len(s))
		for i < len(s) && !utf8.RuneStart(s[i]) {
			i++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}
