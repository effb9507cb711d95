package anthropic

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/transport"
)

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newServer(t *testing.T, h llmtest.Handler) *llmtest.Server {
	t.Helper()
	srv := llmtest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func newModel(srv *llmtest.Server, key string) (*Model, *sleeps) {
	s := &sleeps{}
	return New(Config{BaseURL: srv.URL, Model: "claude-test", APIKey: key, KeyEnv: "ANTHROPIC_API_KEY",
		Retry: transport.Retry{BaseDelay: time.Millisecond, Sleep: s.sleep}}), s
}

var hello = llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "hi"}}}

func TestStream(t *testing.T) {
	t.Parallel()
	for _, q := range []llmtest.Quirk{0, llmtest.SmallChunks} {
		srv := newServer(t, llmtest.Script(llmtest.Turn{
			Content:   "Let me write it — ünïcode.",
			ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: json.RawMessage(`{"path":"a.txt","content":"x"}`)}, {ID: "toolu_2", Name: "finish", Arguments: json.RawMessage(`{"answer":"ok"}`)}},
			Usage:     bulwark.Usage{InputTokens: 7, OutputTokens: 9},
			Quirks:    q,
		}))
		m, _ := newModel(srv, "k")
		var texts []string
		resp, err := m.Stream(t.Context(), hello, func(s string) { texts = append(texts, s) })
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(texts, ""); got != "Let me write it — ünïcode." || resp.Message.Content != got {
			t.Errorf("quirks %d: text %q, streamed %q", q, resp.Message.Content, got)
		}
		calls := resp.Message.ToolCalls
		if len(calls) != 2 || calls[0].Name != "write_file" || string(calls[0].Arguments) != `{"path":"a.txt","content":"x"}` || calls[1].ID != "toolu_2" {
			t.Errorf("quirks %d: calls = %+v", q, calls)
		}
		if resp.Usage != (bulwark.Usage{InputTokens: 7, OutputTokens: 9}) || resp.StopReason != "tool_use" {
			t.Errorf("quirks %d: usage %+v stop %q", q, resp.Usage, resp.StopReason)
		}
	}
}

func TestRequestMapping(t *testing.T) {
	t.Parallel()
	srv := newServer(t, llmtest.Script(llmtest.Turn{Content: "ok"}))
	m, _ := newModel(srv, "sk-ant-test")
	req := llm.Request{
		Messages: []llm.Message{
			{Role: llm.System, Content: "be brief"},
			{Role: llm.User, Content: "read two files"},
			{Role: llm.Assistant, Content: "ok", ToolCalls: []llm.ToolCall{
				{ID: "call.1", Name: "read_file", Arguments: json.RawMessage(`{"path":"a"}`)},
				{ID: "call_2", Name: "read_file", Arguments: json.RawMessage(`not json`)},
			}},
			{Role: llm.ToolRole, ToolCallID: "call.1", Content: "A"},
			{Role: llm.ToolRole, ToolCallID: "call_2", Content: "bad arguments", IsError: true},
			{Role: llm.User, Content: "also, hurry"},
		},
		Tools: []llm.ToolSpec{{Name: "read_file", Description: "reads", Parameters: json.RawMessage(`{"type":"object"}`)}},
	}
	if _, err := m.Stream(t.Context(), req, nil); err != nil {
		t.Fatal(err)
	}
	got := srv.Requests()[0]
	if got.Header.Get("x-api-key") != "sk-ant-test" || got.Header.Get("anthropic-version") != "2023-06-01" {
		t.Errorf("headers = %v, want x-api-key and anthropic-version", got.Header)
	}
	var body struct {
		Model     string `json:"model"`
		MaxTokens int    `json:"max_tokens"`
		System    string `json:"system"`
		Stream    bool   `json:"stream"`
		Messages  []struct {
			Role    string `json:"role"`
			Content []struct {
				Type      string          `json:"type"`
				ID        string          `json:"id"`
				Input     json.RawMessage `json:"input"`
				ToolUseID string          `json:"tool_use_id"`
				IsError   bool            `json:"is_error"`
				Text      string          `json:"text"`
			} `json:"content"`
		} `json:"messages"`
		Tools []struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"input_schema"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.MaxTokens != DefaultMaxTokens || body.System != "be brief" || !body.Stream || body.Model != "claude-test" {
		t.Errorf("body = %s, want max_tokens 4096, system, stream", got.Body)
	}
	if len(body.Messages) != 3 {
		t.Fatalf("messages = %s, want user, assistant, user", got.Body)
	}
	a := body.Messages[1].Content
	if len(a) != 3 || a[1].Type != "tool_use" || a[1].ID != "call_1" || string(a[2].Input) != "{}" {
		t.Errorf("assistant blocks = %+v, want text, tool_use call_1, tool_use with input {}", a)
	}
	u := body.Messages[2].Content
	if len(u) != 3 || u[0].Type != "tool_result" || u[0].ToolUseID != "call_1" || !u[1].IsError || u[2].Type != "text" {
		t.Errorf("user blocks = %+v, want two tool_results (the second is_error) then text", u)
	}
	if len(body.Tools) != 1 || string(body.Tools[0].InputSchema) != `{"type":"object"}` {
		t.Errorf("tools = %+v", body.Tools)
	}
	if n := len(got.Messages); n != 6 || got.Messages[0].Role != llm.System {
		t.Errorf("llmtest parsed %d messages: %+v", n, got.Messages)
	}
}

var errorCases = []struct {
	name  string
	turns []llmtest.Turn
	kind  bulwark.Kind
	msg   string
	tries int
}{
	{"429 then ok", []llmtest.Turn{{Status: 429, RetryAfter: "1"}, {Content: "ok"}}, 0, "", 2},
	{"529 then ok", []llmtest.Turn{{Status: 529}, {Content: "ok"}}, 0, "", 2},
	{"404", []llmtest.Turn{{Status: 404, Body: `{"type":"error","error":{"type":"not_found_error","message":"model: claude-test"}}`}}, bulwark.NotFound, `anthropic: model "claude-test" not found (404)`, 1},
	{"400", []llmtest.Turn{{Status: 400, Body: `{"type":"error","error":{"type":"invalid_request_error","message":"messages: text content blocks must be non-empty"}}`}}, bulwark.Invalid, "anthropic: the request was refused (400): messages: text content blocks must be non-empty", 1},
	{"overloaded mid-stream", []llmtest.Turn{{Content: "a", StreamError: "Overloaded"}}, bulwark.Unavailable, "anthropic: the model failed mid-reply: Overloaded", 1},
}

func TestErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range errorCases {
		srv := newServer(t, llmtest.Script(tc.turns...))
		m, sl := newModel(srv, "k")
		resp, err := m.Stream(t.Context(), hello, nil)
		if tc.msg == "" {
			if err != nil || resp.Message.Content != "ok" {
				t.Errorf("%s: Stream = %+v, %v; want ok", tc.name, resp, err)
			}
		} else if bulwark.ErrorKind(err) != tc.kind || !strings.Contains(bulwark.ErrorMessage(err), tc.msg) {
			t.Errorf("%s: Stream error = %q (%v), want %v with %q", tc.name, bulwark.ErrorMessage(err), bulwark.ErrorKind(err), tc.kind, tc.msg)
		}
		if srv.Count() != tc.tries {
			t.Errorf("%s: requests = %d, want %d", tc.name, srv.Count(), tc.tries)
		}
		if tc.name == "429 then ok" && (len(sl.d) != 1 || sl.d[0] != time.Second) {
			t.Errorf("%s: delays = %v, want [1s]", tc.name, sl.d)
		}
	}
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	srv := newServer(t, llmtest.Script(llmtest.Turn{Content: "ok"}))
	srv.RequireAPIKey("right")
	m, _ := newModel(srv, "wrong")
	_, err := m.Stream(t.Context(), hello, nil)
	const want = "anthropic: the API key was rejected (401); check ANTHROPIC_API_KEY"
	if bulwark.ErrorMessage(err) != want || bulwark.ErrorKind(err) != bulwark.Unauthenticated {
		t.Errorf("Stream error = %q, want %q", bulwark.ErrorMessage(err), want)
	}
}

func TestCancelMidStream(t *testing.T) {
	t.Parallel()
	srv := newServer(t, llmtest.Script(llmtest.Turn{Content: "partial", Hang: true}))
	m, _ := newModel(srv, "k")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := m.Stream(ctx, hello, func(string) { cancel() }); bulwark.ErrorKind(err) != bulwark.Canceled {
		t.Errorf("Stream error = %v, want Canceled", err)
	}
}
