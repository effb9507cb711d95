package openai

import (
	"encoding/json"
	"io"
	"testing"

	"github.com/bulwark-agents/bulwark/llm"
)

// A request's body is read from the conversation's kept encodings; a
// transport may still be writing it (a server that answered early) or
// write it again (a retry) after the next request was encoded. The next
// request, even one that rewrites the conversation (its messages cut off
// and replaced) must not change the bytes the earlier body reads.
func TestBodyKeptAfterNextTurn(t *testing.T) {
	m := New(Config{Model: "m", BaseURL: "http://x/v1"})
	tools := []llm.ToolSpec{{Name: "write_file", Parameters: json.RawMessage(`{"type":"object"}`)}}
	var cache llm.Cache
	msgs := []llm.Message{{Role: llm.System, Content: "be careful"}, {Role: llm.User, Content: "go"},
		{Role: llm.Assistant, ToolCalls: []llm.ToolCall{{ID: "c1", Name: "write_file", Arguments: json.RawMessage(`{"path":"a"}`)}}},
		{Role: llm.ToolRole, ToolCallID: "c1", Content: "wrote a"}}
	first := llm.Request{Messages: msgs, Tools: tools, Cache: &cache}
	want := reference(t, m, first)
	body, err := m.encodeBody(first)
	if err != nil {
		t.Fatal(err)
	}
	r := body.Reopen()
	head := make([]byte, 40)
	io.ReadFull(r, head)

	next := llm.Request{Messages: append([]llm.Message{msgs[0], {Role: llm.User, Content: "a summary"}},
		llm.Message{Role: llm.Assistant, Content: "done"}, llm.Message{Role: llm.User, Content: "thanks"}), Tools: tools, Cache: &cache}
	if _, err := m.encodeBody(next); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(r)
	if got := string(head) + string(rest); got != want {
		t.Errorf("the first body, read on after the next was encoded:\n%s\nwant\n%s", got, want)
	}
	if got, _ := io.ReadAll(body.Reopen()); string(got) != want {
		t.Errorf("the first body, read again:\n%s\nwant\n%s", got, want)
	}
}
