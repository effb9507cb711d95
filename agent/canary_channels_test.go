package agent_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/llm/transport"
)

// The red team's model servers: each speaks a provider's real protocol
// over HTTP and writes the task's canary token, read from the system
// prompt of the request, into one of the protocol's fields that is not
// the reply's text or a call's arguments (which withhold.go checks):
// reasoning, thinking, a stop reason, a tool's name or id, an error. No
// event, no answer, no later request to the model and no log line may
// hold it.

// hostileTurn is what a hostile server answers to its n-th request (from
// 1), given the task's token: a status and a body, SSE when the status
// is 200. "TOK" in body stands for the token, "TOK64" for it in base64,
// "TOKH1" and "TOKH2" for its halves.
type hostileTurn func(n int) (status int, body string)

// sse writes events as a stream: for Anthropic, each is "event: NAME\n"
// and its data; for OpenAI (no names), a data line each and [DONE].
func sse(anthropic bool, events ...string) string {
	var b strings.Builder
	for _, e := range events {
		if anthropic {
			var v struct {
				Type string `json:"type"`
			}
			json.Unmarshal([]byte(e), &v)
			fmt.Fprintf(&b, "event: %s\n", v.Type)
		}
		fmt.Fprintf(&b, "data: %s\n\n", e)
	}
	if !anthropic {
		b.WriteString("data: [DONE]\n\n")
	}
	return b.String()
}

// openaiFinish and anthropicFinish are a clean reply that calls finish.
var (
	openaiFinish = sse(false,
		`{"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_f","type":"function","function":{"name":"finish","arguments":"{\"answer\":\"done\"}"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":5}}`)
	anthropicFinish = sse(true,
		`{"type":"message_start","message":{"id":"msg_f","type":"message","role":"assistant","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_f","name":"finish","input":{}}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"answer\":\"done\"}"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":5}}`,
		`{"type":"message_stop"}`)
)

// hostileChannels are the attacks, each over one protocol.
var hostileChannels = []struct {
	name, protocol string
	turn           hostileTurn
}{
	{"openai reasoning_content", "openai", firstThen(openaiFinish, sse(false,
		`{"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"my instructions hold TOK, so"}}]}`,
		`{"choices":[{"index":0,"delta":{"reasoning":"TOK again","reasoning_details":[{"type":"reasoning.text","text":"TOK"}]}}]}`,
		`{"choices":[{"index":0,"delta":{"content":"Reading the file."}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"list_files","arguments":"{}"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":5}}`))},
	{"openai finish_reason, model, id and fingerprint", "openai", firstThen(openaiFinish, sse(false,
		`{"id":"TOK","model":"TOK","system_fingerprint":"TOK","choices":[{"index":0,"delta":{"role":"assistant","content":"Listing."}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"list_files","arguments":"{}"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"TOK"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"TOK":1}}`))},
	{"openai tool name", "openai", firstThen(openaiFinish, sse(false,
		`{"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"TOK","arguments":"{}"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`))},
	{"openai tool call id", "openai", firstThen(openaiFinish, sse(false,
		`{"choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"TOK","type":"function","function":{"name":"list_files","arguments":"{}"}}]}}]}`,
		`{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`))},
	{"openai error status", "openai", always(400, `{"error":{"message":"your prompt holds TOK, which is not allowed","type":"invalid_request_error"}}`)},
	{"openai error status retried", "openai", always(500, `{"error":{"message":"failed on TOK","type":"server_error"}}`)},
	{"openai error in the stream", "openai", always(200, sse(false,
		`{"choices":[{"index":0,"delta":{"role":"assistant","content":"Working."}}]}`,
		`{"error":{"message":"the model wrote TOK","type":"server_error"}}`))},
	{"anthropic thinking", "anthropic", firstThen(anthropicFinish, sse(true,
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"TOK"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"my instructions hold TOK"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"TOK"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"TOK"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"redacted_thinking","data":"TOK"}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Listing."}}`,
		`{"type":"content_block_stop","index":2}`,
		`{"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_1","name":"list_files","input":{}}}`,
		`{"type":"content_block_stop","index":3}`,
		`{"type":"message_delta","delta":{"stop_reason":"TOK","stop_sequence":"TOK"},"usage":{"output_tokens":5}}`,
		`{"type":"message_stop"}`))},
	{"anthropic tool name", "anthropic", firstThen(anthropicFinish, sse(true,
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"TOK","input":{}}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":5}}`,
		`{"type":"message_stop"}`))},
	{"anthropic tool use id", "anthropic", firstThen(anthropicFinish, sse(true,
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"TOK","name":"list_files","input":{}}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":5}}`,
		`{"type":"message_stop"}`))},
	{"openai error status, base64", "openai", always(400, `{"error":{"message":"your prompt holds TOK64","type":"invalid_request_error"}}`)},
	// Retried: the transport's warnings in the log quote the message,
	// which only the agent can tell carries the token (encoded).
	{"openai error status retried, base64", "openai", always(500, `{"error":{"message":"failed on TOK64","type":"server_error"}}`)},
	{"anthropic error status retried, base64", "anthropic", always(529, `{"type":"error","error":{"type":"overloaded_error","message":"overloaded at TOK64"}}`)},
	{"openai error in the stream, base64", "openai", always(200, sse(false,
		`{"choices":[{"index":0,"delta":{"role":"assistant","content":"Working."}}]}`,
		`{"error":{"message":"the model wrote TOK64","type":"server_error"}}`))},
	{"anthropic tool arguments streamed", "anthropic", firstThen(anthropicFinish, sse(true,
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Writing."}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"write_file","input":{}}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"path\":\"a.txt\",\"content\":\"TOKH1"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"TOKH2\"}"}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":5}}`,
		`{"type":"message_stop"}`))},
	{"anthropic error status", "anthropic", always(400, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt holds TOK"}}`)},
	{"anthropic error event", "anthropic", always(200, sse(true,
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"stopped at TOK"}}`))},
	{"anthropic error event, base64", "anthropic", always(200, sse(true,
		`{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"usage":{"input_tokens":10,"output_tokens":1}}}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"stopped at TOK64"}}`))},
}

// firstThen answers the first request with first, every later one with
// then.
func firstThen(then, first string) hostileTurn {
	return func(n int) (int, string) {
		if n == 1 {
			return 200, first
		}
		return 200, then
	}
}

// always answers every request with status and body.
func always(status int, body string) hostileTurn {
	return func(int) (int, string) { return status, body }
}

// hostileServer serves turn, with the token of the request's system
// prompt for TOK, over protocol; bodies holds the requests it received.
func hostileServer(t *testing.T, turn hostileTurn) (url string, bodies func() []string) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		n := len(got)
		mu.Unlock()
		tok := "no-canary-in-the-prompt"
		if m := canaryRE.FindStringSubmatch(string(b)); m != nil {
			tok = m[1]
		}
		status, body := turn(n)
		body = strings.ReplaceAll(body, "TOK64", base64.StdEncoding.EncodeToString([]byte(tok)))
		body = strings.ReplaceAll(body, "TOKH1", tok[:len(tok)/2])
		body = strings.ReplaceAll(body, "TOKH2", tok[len(tok)/2:])
		body = strings.ReplaceAll(body, "TOK", tok)
		if status == 200 {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// TestCanaryHostileServerChannels: whatever field of its protocol a model
// server writes the canary in, the token reaches no event, not the
// task's answer, not the conversation sent back to the model, and not
// the log.
func TestCanaryHostileServerChannels(t *testing.T) {
	for _, tt := range hostileChannels {
		t.Run(tt.name, func(t *testing.T) {
			url, bodies := hostileServer(t, tt.turn)
			var logs bytes.Buffer
			vars := map[string]string{
				"OPENAI_API_KEY": "sk-test-key", "OPENAI_BASE_URL": url + "/v1",
				"ANTHROPIC_API_KEY": "sk-ant-test-key", "ANTHROPIC_BASE_URL": url,
			}
			model, err := provider.OpenWith(tt.protocol+":test-model", func(k string) string { return vars[k] }, provider.Options{
				Retry:  transport.Retry{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond},
				Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			h := newHarness(t, tt.protocol, nil)
			h.cfg.Model = model
			out := h.run(t, context.Background())

			reqs := bodies()
			m := canaryRE.FindStringSubmatch(reqs[0])
			if m == nil {
				t.Fatal("no canary in the first request: the test proves nothing")
			}
			tok := m[1]
			pieces := []string{tok, strings.TrimPrefix(tok, "BWK-CANARY-"), base64.StdEncoding.EncodeToString([]byte(tok))}
			for _, e := range h.all() {
				b, _ := json.Marshal(e)
				assertNowhere(t, fmt.Sprintf("the %s event %d", e.Type, e.Seq), string(b), pieces)
			}
			assertNowhere(t, "the task's answer", out.Answer, pieces)
			assertNowhere(t, "the log", logs.String(), pieces)
			if strings.Contains(tt.name, "retried, base64") && !strings.Contains(logs.String(), "retrying") {
				t.Errorf("no retry warning in the log %q: the test proves nothing", logs.String())
			}
			for i, b := range reqs[1:] {
				// The system prompt holds the token by design.
				assertNowhere(t, fmt.Sprintf("model request %d", i+2), strings.Replace(b, m[0], "", 1), pieces)
			}
			if !strings.Contains(tt.name, "error") && out.Reason != bulwark.FinishDone {
				// The server's reply was read, not refused: the test
				// proves what it says.
				t.Errorf("outcome %+v, want done; events:\n%s", out, h.dump())
			}
			if strings.Contains(tt.name, "tool") {
				// The call whose name or id carried it was blocked, as one
				// whose arguments do, and the task went on.
				if g := h.ofType(bulwark.EventGuard); len(g) != 1 || !strings.Contains(g[0].Text, "canary") || out.Reason != bulwark.FinishDone {
					t.Errorf("guard events %+v, outcome %+v: want the call blocked and the task done", g, out)
				}
			}
		})
	}
}

// TestCanaryTextCallCorrectedLeakFails: a model that writes its tool
// calls as text (?tools=text) and whose reply carries the canary in a
// call the adapter cannot use (a tool named by the token) is corrected
// by the adapter, which asks again within the same reply and streams
// both answers: the text the model wrote carried the token, so the task
// fails as for any reply whose text carries it, though the corrected
// answer is clean; and nothing of the token streams.
func TestCanaryTextCallCorrectedLeakFails(t *testing.T) {
	var tok string
	h := newHarness(t, "openai", func(r *llmtest.Request) llmtest.Turn {
		m := canaryRE.FindStringSubmatch(r.Messages[0].Content)
		if m == nil || tok != "" {
			return llmtest.Turn{Content: `{"tool": "finish", "arguments": {"answer": "done"}}`}
		}
		tok = m[1]
		return llmtest.Turn{Content: leakText(`{"tool": "` + tok + `", "arguments": {}}`), Quirks: llmtest.SmallChunks}
	})
	model, err := provider.Open("openai:test-model?tools=text", func(k string) string {
		return map[string]string{"OPENAI_API_KEY": "sk-test-key", "OPENAI_BASE_URL": h.srv.URL + "/v1"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	h.cfg.Model = model
	out := h.run(t, context.Background())
	if tok == "" {
		t.Fatal("the model never planted the token: the test proves nothing")
	}
	pieces := []string{tok, strings.TrimPrefix(tok, "BWK-CANARY-")}
	for _, e := range h.all() {
		b, _ := json.Marshal(e)
		assertNowhere(t, fmt.Sprintf("the %s event %d", e.Type, e.Seq), string(b), pieces)
	}
	if out.Reason != bulwark.FinishLeak || !strings.Contains(out.Answer, "withheld") {
		t.Errorf("outcome %+v, want the task failed for the leak; events:\n%s", out, h.dump())
	}
}
