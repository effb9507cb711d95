package openai

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/transport"
)

// sleeps records the delays the retry logic chose, without waiting.
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

// newServer starts a fake server that t closes.
func newServer(t *testing.T, h llmtest.Handler) *llmtest.Server {
	t.Helper()
	srv := llmtest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newModel returns a model of srv whose retries do not wait.
func newModel(srv *llmtest.Server, key string) (*Model, *sleeps) {
	s := &sleeps{}
	return New(Config{BaseURL: srv.URL + "/v1", Model: "gpt-test", APIKey: key, KeyEnv: "OPENAI_API_KEY",
		Retry: transport.Retry{BaseDelay: time.Millisecond, Sleep: s.sleep}}), s
}

var hello = llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "hi"}}}

var quirkCases = []struct {
	name   string
	quirks llmtest.Quirk
}{
	{"openai", 0},
	{"whole", llmtest.WholeToolCall},
	{"noindex", llmtest.NoIndex},
	{"noid", llmtest.NoID},
	{"noindex+noid", llmtest.NoIndex | llmtest.NoID},
	{"stop", llmtest.StopWithToolCalls},
	{"small", llmtest.SmallChunks},
	{"object", llmtest.ArgumentsObject},
	{"comments", llmtest.Comments},
	{"nodone", llmtest.NoDone},
	{"nousage", llmtest.NoUsage},
	{"ollama", llmtest.WholeToolCall | llmtest.NoIndex | llmtest.StopWithToolCalls},
	{"worst", llmtest.WholeToolCall | llmtest.NoIndex | llmtest.NoID | llmtest.StopWithToolCalls | llmtest.ArgumentsObject | llmtest.SmallChunks | llmtest.Comments | llmtest.NoDone},
}

func TestStreamQuirks(t *testing.T) {
	t.Parallel()
	turn := llmtest.Turn{
		Content: "Writing two files, ünïcode too.",
		ToolCalls: []llmtest.ToolCall{
			{Name: "write_file", Arguments: json.RawMessage(`{"path":"a.txt","content":"x"}`)},
			{Name: "write_file", Arguments: json.RawMessage(`{"path":"b.txt","content":"y"}`)},
		},
		Usage: bulwark.Usage{InputTokens: 10, OutputTokens: 20},
	}
	for _, tc := range quirkCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tt := turn
			tt.Quirks = tc.quirks
			srv := newServer(t, llmtest.Script(tt))
			m, _ := newModel(srv, "k")
			var texts []string
			resp, err := m.Stream(t.Context(), hello, func(s string) { texts = append(texts, s) })
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			if got := strings.Join(texts, ""); got != turn.Content || resp.Message.Content != turn.Content {
				t.Errorf("text = %q (streamed %q), want %q", resp.Message.Content, got, turn.Content)
			}
			if len(resp.Message.ToolCalls) != 2 {
				t.Fatalf("tool calls = %+v, want 2", resp.Message.ToolCalls)
			}
			for i, c := range resp.Message.ToolCalls {
				want := turn.ToolCalls[i]
				if c.Name != want.Name || !jsonEqual(c.Arguments, want.Arguments) || c.ID == "" {
					t.Errorf("call %d = %s %s(%s), want %s(%s) with an id", i, c.ID, c.Name, c.Arguments, want.Name, want.Arguments)
				}
			}
			if resp.Message.ToolCalls[0].ID == resp.Message.ToolCalls[1].ID {
				t.Errorf("both calls have id %q", resp.Message.ToolCalls[0].ID)
			}
			wantUsage := turn.Usage
			if tc.quirks&llmtest.NoUsage != 0 {
				wantUsage = bulwark.Usage{}
			}
			if resp.Usage != wantUsage {
				t.Errorf("usage = %+v, want %+v", resp.Usage, wantUsage)
			}
		})
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func TestRequestMapping(t *testing.T) {
	t.Parallel()
	srv := newServer(t, llmtest.Script(llmtest.Turn{Content: "ok"}))
	m, _ := newModel(srv, "sk-test-key")
	req := llm.Request{
		Messages: []llm.Message{
			{Role: llm.System, Content: "be brief"},
			{Role: llm.User, Content: "make a file"},
			{Role: llm.Assistant, Content: "sure", ToolCalls: []llm.ToolCall{{ID: "c1", Name: "write_file", Arguments: json.RawMessage(`{"path":"a"}`)}}},
			{Role: llm.ToolRole, ToolCallID: "c1", ToolName: "write_file", Content: "no space", IsError: true},
		},
		Tools:     []llm.ToolSpec{{Name: "write_file", Description: "writes", Parameters: json.RawMessage(`{"type":"object"}`)}},
		MaxTokens: 100,
	}
	if _, err := m.Stream(t.Context(), req, nil); err != nil {
		t.Fatal(err)
	}
	got := srv.Requests()[0]
	if h := got.Header.Get("Authorization"); h != "Bearer sk-test-key" {
		t.Errorf("Authorization = %q, want the bearer key", h)
	}
	if ct, acc := got.Header.Get("Content-Type"), got.Header.Get("Accept"); ct != "application/json" || acc != "text/event-stream" {
		t.Errorf("Content-Type %q, Accept %q; want application/json, text/event-stream", ct, acc)
	}
	var body struct {
		Model         string `json:"model"`
		Stream        bool   `json:"stream"`
		MaxTokens     int    `json:"max_tokens"`
		StreamOptions struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
		Messages []struct {
			Role      string `json:"role"`
			Content   string `json:"content"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments any    `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
			ToolCallID string `json:"tool_call_id"`
		} `json:"messages"`
		Tools []struct {
			Type     string       `json:"type"`
			Function llm.ToolSpec `json:"function"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(got.Body, &body); err != nil {
		t.Fatal(err)
	}
	if body.Model != "gpt-test" || !body.Stream || !body.StreamOptions.IncludeUsage || body.MaxTokens != 100 {
		t.Errorf("body = %s, want model gpt-test, stream with usage, max_tokens 100", got.Body)
	}
	if len(body.Messages) != 4 {
		t.Fatalf("messages = %s, want 4", got.Body)
	}
	tc := body.Messages[2].ToolCalls
	if len(tc) != 1 || tc[0].Type != "function" || tc[0].Function.Arguments != `{"path":"a"}` {
		t.Errorf("assistant tool_calls = %+v, want arguments as the string {\"path\":\"a\"}", tc)
	}
	if tm := body.Messages[3]; tm.Role != "tool" || tm.ToolCallID != "c1" || !strings.Contains(tm.Content, "no space") {
		t.Errorf("tool message = %+v, want role tool, tool_call_id c1", tm)
	}
	if len(body.Tools) != 1 || body.Tools[0].Type != "function" || body.Tools[0].Function.Name != "write_file" {
		t.Errorf("tools = %+v, want one function write_file", body.Tools)
	}
	// llmtest reads the conversation back the same way.
	if len(got.Messages) != 4 || got.Messages[2].ToolCalls[0].Name != "write_file" || got.Messages[3].ToolCallID != "c1" {
		t.Errorf("llmtest parsed %+v", got.Messages)
	}
}

var errorCases = []struct {
	name  string
	turns []llmtest.Turn
	kind  bulwark.Kind
	msg   string // a part of the message
	tries int
}{
	{"429 then ok", []llmtest.Turn{{Status: 429, RetryAfter: "1"}, {Content: "ok"}}, 0, "", 2},
	{"500 then ok", []llmtest.Turn{{Status: 500}, {Status: 502}, {Content: "ok"}}, 0, "", 3},
	{"429 always", []llmtest.Turn{{Status: 429}, {Status: 429}, {Status: 429}, {Status: 429}}, bulwark.RateLimited, "openai: rate limited (429) after 4 attempts", 4},
	{"503 always", []llmtest.Turn{{Status: 503}, {Status: 503}, {Status: 503}, {Status: 503}}, bulwark.Unavailable, "openai: the server failed (503) after 4 attempts", 4},
	{"quota", []llmtest.Turn{{Status: 429, Body: `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}`}}, bulwark.QuotaExceeded, "quota", 1},
	{"404 model", []llmtest.Turn{{Status: 404, Body: `{"error":{"message":"The model ` + "`gpt-test`" + ` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`}}, bulwark.NotFound, `openai: model "gpt-test" not found (404)`, 1},
	{"400 ollama model", []llmtest.Turn{{Status: 400, Body: `{"error":"model \"gpt-test\" not found, try pulling it first"}`}}, bulwark.NotFound, "try pulling it first", 1},
	{"400", []llmtest.Turn{{Status: 400, Body: `{"error":{"message":"Invalid schema for function 'write_file'","type":"invalid_request_error"}}`}}, bulwark.Invalid, "openai: the request was refused (400): Invalid schema for function 'write_file'", 1},
	{"403", []llmtest.Turn{{Status: 403}}, bulwark.Unauthenticated, "check OPENAI_API_KEY", 1},
	{"mid-stream error", []llmtest.Turn{{Content: "part", StreamError: "upstream disconnected"}}, bulwark.Unavailable, "openai: the model failed mid-reply: upstream disconnected", 1},
}

func TestErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, llmtest.Script(tc.turns...))
			m, sl := newModel(srv, "k")
			resp, err := m.Stream(t.Context(), hello, nil)
			if tc.msg == "" {
				if err != nil || resp.Message.Content != "ok" {
					t.Fatalf("Stream = %+v, %v; want ok", resp, err)
				}
			} else {
				if bulwark.ErrorKind(err) != tc.kind || !strings.Contains(bulwark.ErrorMessage(err), tc.msg) {
					t.Fatalf("Stream error = %v (kind %v), want kind %v with %q", err, bulwark.ErrorKind(err), tc.kind, tc.msg)
				}
			}
			if n := srv.Count(); n != tc.tries {
				t.Errorf("requests = %d, want %d", n, tc.tries)
			}
			if tc.name == "429 then ok" && (len(sl.d) != 1 || sl.d[0] != time.Second) {
				t.Errorf("delays = %v, want [1s] from Retry-After", sl.d)
			}
		})
	}
}

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	srv := newServer(t, llmtest.Script(llmtest.Turn{Content: "ok"}))
	srv.RequireAPIKey("right-key")
	m, _ := newModel(srv, "wrong-key")
	_, err := m.Stream(t.Context(), hello, nil)
	const want = "openai: the API key was rejected (401); check OPENAI_API_KEY"
	if bulwark.ErrorKind(err) != bulwark.Unauthenticated || bulwark.ErrorMessage(err) != want {
		t.Errorf("Stream error = %q (%v), want %q", bulwark.ErrorMessage(err), bulwark.ErrorKind(err), want)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &sleeps{}
	m := New(Config{BaseURL: "http://" + addr + "/v1", Model: "x", Retry: transport.Retry{MaxAttempts: 2, Sleep: s.sleep}})
	_, err = m.Stream(t.Context(), hello, nil)
	msg := bulwark.ErrorMessage(err)
	if bulwark.ErrorKind(err) != bulwark.Unavailable || msg != "openai: cannot reach the openai provider (connection refused)" {
		t.Errorf("Stream error = %q (%v), want Unavailable naming the provider", msg, bulwark.ErrorKind(err))
	}
	if strings.Contains(msg, addr) || strings.Contains(msg, "127.0.0.1") {
		t.Errorf("Stream error %q names the provider's address", msg)
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("the cause (for the log) %q lacks the address %s", err.Error(), addr)
	}
	if len(s.d) != 1 {
		t.Errorf("retries = %d, want 1", len(s.d))
	}
}

func TestCancelMidStream(t *testing.T) {
	t.Parallel()
	srv := newServer(t, llmtest.Script(llmtest.Turn{Content: "partial", Hang: true}))
	m, _ := newModel(srv, "k")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	_, err := m.Stream(ctx, hello, func(string) { cancel() })
	if bulwark.ErrorKind(err) != bulwark.Canceled {
		t.Errorf("Stream error = %v (%v), want Canceled", err, bulwark.ErrorKind(err))
	}
}

func TestCancelWhileWaiting(t *testing.T) {
	t.Parallel()
	srv := newServer(t, llmtest.Script(llmtest.Turn{Delay: time.Hour}))
	m, _ := newModel(srv, "k")
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		for srv.Count() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := m.Stream(ctx, hello, nil); bulwark.ErrorKind(err) != bulwark.Canceled {
		t.Errorf("Stream error = %v, want Canceled", err)
	}
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		turn  llmtest.Turn
		retry transport.Retry
		msg   string
	}{
		{"headers", llmtest.Turn{Delay: time.Hour}, transport.Retry{MaxAttempts: 1, HeaderTimeout: 20 * time.Millisecond}, "openai: no answer from the openai provider within"},
		{"idle", llmtest.Turn{Content: "x", Hang: true}, transport.Retry{MaxAttempts: 1, IdleTimeout: 20 * time.Millisecond}, "openai: the reply stream stalled"},
	}
	for _, tc := range cases {
		srv := newServer(t, llmtest.Script(tc.turn))
		m := New(Config{BaseURL: srv.URL + "/v1", Model: "x", Retry: tc.retry})
		_, err := m.Stream(t.Context(), hello, nil)
		if bulwark.ErrorKind(err) != bulwark.Unavailable || !strings.Contains(bulwark.ErrorMessage(err), tc.msg) {
			t.Errorf("%s: Stream error = %q (%v), want Unavailable with %q", tc.name, bulwark.ErrorMessage(err), bulwark.ErrorKind(err), tc.msg)
		}
	}
}

func TestOddServers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		ct   string
		body string
		kind bulwark.Kind
		text string
	}{
		{"cut off", "text/event-stream", "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\n", bulwark.Unavailable, ""},
		{"not streamed", "application/json", `{"choices":[{"index":0,"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`, 0, "whole"},
		{"garbage", "text/event-stream", "data: {oops\n\n", bulwark.Unavailable, ""},
	}
	for _, tc := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", tc.ct)
			w.Write([]byte(tc.body))
		}))
		m := New(Config{BaseURL: srv.URL + "/v1", Model: "x"})
		resp, err := m.Stream(t.Context(), hello, nil)
		srv.Close()
		if tc.text != "" {
			if err != nil || resp.Message.Content != tc.text {
				t.Errorf("%s: Stream = %+v, %v; want %q", tc.name, resp, err, tc.text)
			}
			continue
		}
		if bulwark.ErrorKind(err) != tc.kind {
			t.Errorf("%s: Stream error = %v, want kind %v", tc.name, err, tc.kind)
		}
	}
}
