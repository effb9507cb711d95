package openai

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/llm"
)

// reference is the request body as one json.Marshal of the wire request.
func reference(t *testing.T, m *Model, req llm.Request) string {
	t.Helper()
	w := wireRequest{Model: m.cfg.Model, Stream: true, MaxTokens: req.MaxTokens, Messages: []wireMessage{}}
	w.StreamOptions = &struct {
		IncludeUsage bool `json:"include_usage"`
	}{true}
	if len(req.Tools) > 0 {
		w.Tools = wireTools(req.Tools)
	}
	for _, msg := range req.Messages {
		w.Messages = append(w.Messages, message(msg))
	}
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEncodeCache checks that the body built from kept encodings is, turn
// after turn, the one a fresh encoding gives, also when the conversation
// is rewritten behind the cache's back: a message replaced, cut off,
// changed in place.
func TestEncodeCache(t *testing.T) {
	m := New(Config{Model: "gpt-<4o>", BaseURL: "http://x/v1"})
	tools := []llm.ToolSpec{{Name: "write_file", Description: "writes", Parameters: json.RawMessage(`{"type": "object"}`)}, {Name: "finish"}}
	msgs := []llm.Message{{Role: llm.System, Content: "be <good> & \u2028 careful"}, {Role: llm.User, Content: "go"}}
	var cache llm.Cache
	check := func(step string, req llm.Request) {
		t.Helper()
		req.Cache = &cache
		got, err := m.encode(req)
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(t, m, req); string(got) != want {
			t.Fatalf("%s: body\n%s\nwant\n%s", step, got, want)
		}
	}
	check("first", llm.Request{Messages: msgs, Tools: tools})
	for i := range 3 {
		msgs = append(msgs,
			llm.Message{Role: llm.Assistant, Content: "writing", ToolCalls: []llm.ToolCall{{ID: "c" + strings.Repeat("x", i), Name: "write_file", Arguments: json.RawMessage(` {"path":"a"} `)}}},
			llm.Message{Role: llm.ToolRole, ToolCallID: "c", Content: "denied", IsError: i == 1})
		check("turn", llm.Request{Messages: msgs, Tools: tools, MaxTokens: i})
	}
	msgs[3].Content = "redacted"
	check("a message replaced", llm.Request{Messages: msgs, Tools: tools})
	msgs[2].ToolCalls[0].Arguments[2] = 'q' // "path" becomes "qath", in place
	check("arguments changed in place", llm.Request{Messages: msgs, Tools: tools})
	msgs = append(msgs[:2:2], llm.Message{Role: llm.User, Content: "summary"})
	check("compacted", llm.Request{Messages: msgs, Tools: tools})
	tools[0].Parameters[10] = 'O' // "object" becomes "Object", in place too
	check("tools changed", llm.Request{Messages: msgs, Tools: tools})
	check("no tools", llm.Request{Messages: msgs})
	check("no messages", llm.Request{})
}

// BenchmarkEncode encodes turn after turn of a growing conversation of
// ten tool steps, with and without a cache, as the agent loop does.
func BenchmarkEncode(b *testing.B) {
	m := New(Config{Model: "bench", BaseURL: "http://x/v1"})
	params := json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"]}`)
	var tools []llm.ToolSpec
	for _, n := range []string{"read_file", "write_file", "edit_file", "list_files", "search", "finish"} {
		tools = append(tools, llm.ToolSpec{Name: n, Description: "does " + n + " in the workspace, as the model asks", Parameters: params})
	}
	// whole is how requests were encoded before the cache: one
	// json.Marshal of the wire request.
	whole := func(req llm.Request) ([]byte, error) {
		w := wireRequest{Model: m.cfg.Model, Stream: true, MaxTokens: req.MaxTokens, Tools: wireTools(req.Tools)}
		for _, msg := range req.Messages {
			w.Messages = append(w.Messages, message(msg))
		}
		return json.Marshal(w)
	}
	for _, name := range []string{"whole", "fresh", "cached"} {
		cached := name == "cached"
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var cache *llm.Cache
				if cached {
					cache = &llm.Cache{}
				}
				msgs := []llm.Message{{Role: llm.System, Content: strings.Repeat("You are a careful agent. ", 40)}, {Role: llm.User, Content: "write the files"}}
				for k := range 10 {
					req := llm.Request{Messages: msgs, Tools: tools, Cache: cache}
					encode := m.encode
					if name == "whole" {
						encode = whole
					}
					if _, err := encode(req); err != nil {
						b.Fatal(err)
					}
					args := json.RawMessage(`{"path":"step-` + strconv.Itoa(k) + `.txt","content":"` + strings.Repeat("x", 64) + `"}`)
					msgs = append(msgs,
						llm.Message{Role: llm.Assistant, Content: "Writing the next file.", ToolCalls: []llm.ToolCall{{ID: "call_" + strconv.Itoa(k), Name: "write_file", Arguments: args}}},
						llm.Message{Role: llm.ToolRole, ToolCallID: "call_" + strconv.Itoa(k), Content: "wrote 64 bytes to step-" + strconv.Itoa(k) + ".txt"})
				}
			}
		})
	}
}

// FuzzAppendMessage holds the hand encoder of a message to json.Marshal:
// the same bytes for any strings, with or without tool calls.
func FuzzAppendMessage(f *testing.F) {
	f.Add("assistant", "Writing <the> next & file.\u2028", "call_1", "function", "write_file", `{"path":"a\"b","content":"x\ny"}`, "", 1)
	f.Add("tool", "Error: \x00\x1f\x7f\b\f\r\t \xff\xfe é 日本", "", "", "", "", "call_1", 0)
	f.Add("user", "\u2029\\\"", "i", "t", "n", "", "c", 2)
	f.Fuzz(func(t *testing.T, role, content, id, typ, name, args, callID string, calls int) {
		w := wireMessage{Role: role, Content: content, ToolCallID: callID}
		for i := range calls % 4 {
			var c wireToolCall
			c.ID, c.Type = id+strconv.Itoa(i), typ
			c.Function.Name, c.Function.Arguments = name, args
			w.ToolCalls = append(w.ToolCalls, c)
		}
		want, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendMessage([]byte("kept"), w); string(got) != "kept"+string(want) {
			t.Fatalf("appendMessage\n%q\nwant\n%q", got, want)
		}
	})
}

// TestAppendMessageKnowsEveryField fails when a field is added to the
// wire message or tool call: appendMessage writes each field by name, so
// a new one would be dropped from the request without it, however the
// fuzz target fills the ones it knows.
func TestAppendMessageKnowsEveryField(t *testing.T) {
	known := map[reflect.Type][]string{
		reflect.TypeFor[wireMessage]():                {"Role", "Content", "ToolCalls", "ToolCallID"},
		reflect.TypeFor[wireToolCall]():               {"ID", "Type", "Function"},
		reflect.TypeFor[wireToolCall]().Field(2).Type: {"Name", "Arguments"},
	}
	for typ, want := range known {
		var got []string
		for f := range typ.Fields() {
			got = append(got, f.Name)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%v has fields %v; appendMessage writes %v: teach it the new ones", typ, got, want)
		}
	}
}
