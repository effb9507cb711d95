package textcall

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

var tools = []string{"write_file", "read_file", "finish"}

var parseCases = []struct {
	in    string
	name  string // "" when no call is expected
	args  string
	prose string
}{
	{`{"tool": "finish", "arguments": {"answer": "42"}}`, "finish", `{"answer":"42"}`, ""},
	{"I'll write it.\n```json\n{\"tool\": \"write_file\", \"arguments\": {\"path\": \"a.txt\", \"content\": \"hi\"}}\n```\nDone.", "write_file", `{"path":"a.txt","content":"hi"}`, "I'll write it.\n\nDone."},
	{`Sure: {"name": "read_file", "args": {"path": "a"}} ok`, "read_file", `{"path":"a"}`, "Sure:  ok"},
	{`{"function": "read_file", "parameters": {"path": "a"}}`, "read_file", `{"path":"a"}`, ""},
	{`{"function": {"name": "read_file", "arguments": "{\"path\": \"a\"}"}}`, "read_file", `{"path":"a"}`, ""},
	{`{"tool": "read_file", "arguments": "{\"path\": \"a\"}"}`, "read_file", `{"path":"a"}`, ""},
	{`{"tool": "read_file", "arguments": {"path": "a",},}`, "read_file", `{"path":"a"}`, ""},
	{`{'tool': 'write_file', 'arguments': {'path': 'it\'s.txt', 'content': 'say "hi"'}}`, "write_file", `{"path":"it's.txt","content":"say \"hi\""}`, ""},
	{"{\"tool\": \"write_file\", \"arguments\": {\"path\": \"a\", \"content\": \"line1\nline2\"}}", "write_file", `{"path":"a","content":"line1\nline2"}`, ""},
	{`{"tool": "finish", "arguments": {"answer": "x", "ok": True, "n": None}}`, "finish", `{"answer":"x","ok":true,"n":null}`, ""},
	{`{"tool": "FINISH"}`, "finish", `{}`, ""},
	{`{"tool": "finish", "arguments": {"answer": "a } in a string"}}`, "finish", `{"answer":"a } in a string"}`, ""},
	{`{"result": {"tool": "finish", "arguments": {}}}`, "finish", `{}`, `{"result": }`},
	{`The answer is 4.`, "", "", ""},
	{`{"tool": "rm_rf", "arguments": {}}`, "", "", ""},
	{`{"tool": "finish", "arguments": [1, 2]}`, "", "", ""},
	{`{"tool": "finish", "arguments": {"answer": "unclosed`, "", "", ""},
	{`{"foo": 1}`, "", "", ""},
}

func TestParse(t *testing.T) {
	for _, tc := range parseCases {
		call, prose, err := Parse(tc.in, tools)
		if tc.name == "" {
			if err == nil {
				t.Errorf("Parse(%q) = %s(%s), want no call", tc.in, call.Name, call.Arguments)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%q) error %v, want %s(%s)", tc.in, err, tc.name, tc.args)
			continue
		}
		if call.Name != tc.name || string(call.Arguments) != tc.args || prose != tc.prose {
			t.Errorf("Parse(%q) = %s(%s) prose %q, want %s(%s) prose %q", tc.in, call.Name, call.Arguments, prose, tc.name, tc.args, tc.prose)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"no json here", ErrNoJSON.Error()},
		{`{"tool": "rm_rf"}`, `there is no tool "rm_rf"; the tools are write_file, read_file, finish`},
		{`{"tool": "finish", "arguments": 3}`, "the arguments of finish must be a JSON object"},
		{`{"tool": "finish"`, "not closed"},
	}
	for _, tc := range cases {
		_, _, err := Parse(tc.in, tools)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %v, want %q", tc.in, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tc := range parseCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		call, prose, err := Parse(in, tools)
		if err != nil {
			if prose != in {
				t.Fatalf("Parse(%q) failed but changed the text to %q", in, prose)
			}
			return
		}
		var obj map[string]any
		if json.Unmarshal(call.Arguments, &obj) != nil || obj == nil {
			t.Fatalf("Parse(%q) arguments %q are not a JSON object", in, call.Arguments)
		}
		if len(prose) > len(in) {
			t.Fatalf("Parse(%q) prose %q is longer than the input", in, prose)
		}
	})
}

// fakeModel answers with scripted texts and records the requests.
type fakeModel struct {
	replies []string
	calls   []llm.ToolCall // returned natively with the first reply, if set
	reqs    []llm.Request
}

func (f *fakeModel) Name() string { return "fake" }

func (f *fakeModel) Stream(ctx context.Context, req llm.Request, onText func(string)) (*llm.Response, error) {
	f.reqs = append(f.reqs, req)
	if len(f.reqs) > len(f.replies) {
		return nil, bulwark.Errorf(bulwark.QuotaExceeded, "fake", "no more replies")
	}
	text := f.replies[len(f.reqs)-1]
	if onText != nil {
		onText(text)
	}
	return &llm.Response{Message: llm.Message{Role: llm.Assistant, Content: text, ToolCalls: f.calls},
		Usage: bulwark.Usage{InputTokens: 10, OutputTokens: 1}}, nil
}

var specs = []llm.ToolSpec{
	{Name: "write_file", Description: "Write a file.", Parameters: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"}}}`)},
	{Name: "finish", Description: "End the task."},
}

var history = []llm.Message{
	{Role: llm.System, Content: "You are an agent."},
	{Role: llm.User, Content: "write a.txt"},
	{Role: llm.Assistant, Content: "ok", ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "write_file", Arguments: json.RawMessage(`{"path":"a.txt"}`)}}},
	{Role: llm.ToolRole, ToolCallID: "call_1", ToolName: "write_file", Content: "wrote 0 bytes"},
}

func TestWrapCall(t *testing.T) {
	f := &fakeModel{replies: []string{"Finishing.\n```json\n{\"tool\": \"finish\", \"arguments\": {\"answer\": \"done\"}}\n```"}}
	m := Wrap(f)
	if m.Name() != "fake?tools=text" {
		t.Errorf("Name() = %q", m.Name())
	}
	var streamed strings.Builder
	resp, err := m.Stream(t.Context(), llm.Request{Messages: history, Tools: specs}, func(s string) { streamed.WriteString(s) })
	if err != nil {
		t.Fatal(err)
	}
	want := llm.ToolCall{ID: "call_2", Name: "finish", Arguments: json.RawMessage(`{"answer":"done"}`)}
	if len(resp.Message.ToolCalls) != 1 || resp.Message.ToolCalls[0].ID != want.ID || string(resp.Message.ToolCalls[0].Arguments) != string(want.Arguments) {
		t.Errorf("calls = %+v, want %+v", resp.Message.ToolCalls, want)
	}
	if resp.Message.Content != "Finishing." || streamed.String() != f.replies[0] {
		t.Errorf("content %q streamed %q", resp.Message.Content, streamed.String())
	}
	sent := f.reqs[0]
	if len(sent.Tools) != 0 {
		t.Errorf("the tools were passed on: %+v", sent.Tools)
	}
	sys := sent.Messages[0]
	if sys.Role != llm.System || !strings.HasPrefix(sys.Content, "You are an agent.") ||
		!strings.Contains(sys.Content, "## write_file\nWrite a file.\nArguments schema: {\"type\":\"object\"") ||
		!strings.Contains(sys.Content, `{"tool": "TOOL_NAME", "arguments": {...}}`) {
		t.Errorf("system prompt = %q", sys.Content)
	}
	for _, msg := range sent.Messages {
		if len(msg.ToolCalls) > 0 || msg.Role == llm.ToolRole {
			t.Errorf("a tool message was passed on: %+v", msg)
		}
	}
	if got := sent.Messages[2].Content; got != "ok\n"+`{"tool": "write_file", "arguments": {"path":"a.txt"}}` {
		t.Errorf("assistant history = %q", got)
	}
	if got := sent.Messages[3]; got.Role != llm.User || got.Content != "[write_file returned]\nwrote 0 bytes" {
		t.Errorf("tool result history = %+v", got)
	}
}

func TestWrapCorrects(t *testing.T) {
	f := &fakeModel{replies: []string{`{"tool": "delete_everything"}`, `{"tool": "finish", "arguments": {"answer": "ok"}}`}}
	resp, err := Wrap(f).Stream(t.Context(), llm.Request{Messages: history, Tools: specs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Message.ToolCalls) != 1 || resp.Message.ToolCalls[0].Name != "finish" {
		t.Errorf("calls = %+v, want finish", resp.Message.ToolCalls)
	}
	if resp.Usage.InputTokens != 20 {
		t.Errorf("usage = %+v, want both attempts summed", resp.Usage)
	}
	second := f.reqs[1].Messages
	last := second[len(second)-1]
	if last.Role != llm.User || !strings.HasPrefix(last.Content, "Your reply had no valid tool call JSON: there is no tool \"delete_everything\"") {
		t.Errorf("correction = %+v", last)
	}
}

func TestWrapGivesUp(t *testing.T) {
	f := &fakeModel{replies: []string{"{bad", "{bad", "{still bad", "never asked"}}
	resp, err := Wrap(f).Stream(t.Context(), llm.Request{Messages: history, Tools: specs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.reqs) != 1+MaxCorrections || resp.Message.Content != "{still bad" || len(resp.Message.ToolCalls) != 0 {
		t.Errorf("after %d requests: %+v; want the last text as a plain reply after %d", len(f.reqs), resp.Message, 1+MaxCorrections)
	}
}

func TestWrapPlainAnswer(t *testing.T) {
	f := &fakeModel{replies: []string{"The answer is 42."}}
	resp, err := Wrap(f).Stream(t.Context(), llm.Request{Messages: history, Tools: specs}, nil)
	if err != nil || resp.Message.Content != "The answer is 42." || len(f.reqs) != 1 {
		t.Errorf("Stream = %+v, %v after %d requests; want the plain text at once", resp, err, len(f.reqs))
	}
}

func TestWrapPassesErrorsAndNativeCalls(t *testing.T) {
	f := &fakeModel{}
	if _, err := Wrap(f).Stream(t.Context(), llm.Request{Tools: specs}, nil); bulwark.ErrorKind(err) != bulwark.QuotaExceeded {
		t.Errorf("error = %v, want the inner model's", err)
	}
	native := []llm.ToolCall{{ID: "x", Name: "finish", Arguments: json.RawMessage(`{}`)}}
	f = &fakeModel{replies: []string{""}, calls: native}
	resp, err := Wrap(f).Stream(t.Context(), llm.Request{Tools: specs}, nil)
	if err != nil || len(resp.Message.ToolCalls) != 1 || resp.Message.ToolCalls[0].ID != "x" {
		t.Errorf("Stream = %+v, %v; want the native call", resp, err)
	}
}
