package provider

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/transport"
)

// The canaries are API keys that must never appear in an error or a log
// line. One looks like an OpenAI key, the other like nothing known, so
// both the pattern and the exact-value redaction are tested.
var canaries = []string{"sk-proj-CANARYcanary0123456789abcdef", "zz-CANARY-7f3a9b2c41d0"}

// echo is an error body that repeats the key, as OpenAI's 401 does.
func echo(key string) string {
	return `{"error":{"message":"Incorrect API key provided: ` + key + `. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","code":"invalid_api_key"}}`
}

// safeBuffer is a log sink for concurrent writers.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestKeyNeverLeaks(t *testing.T) {
	t.Parallel()
	for _, key := range canaries {
		paths := map[string][]llmtest.Turn{
			"401":            {{Status: 401, Body: echo(key)}},
			"403":            {{Status: 403, Body: echo(key)}},
			"404":            {{Status: 404, Body: echo(key)}},
			"400":            {{Status: 400, Body: echo(key)}},
			"400 plain":      {{Status: 400, Body: "bad key " + key}},
			"422":            {{Status: 422, Body: echo(key)}},
			"429 quota":      {{Status: 429, Body: `{"error":{"message":"quota for ` + key + `","code":"insufficient_quota"}}`}},
			"429":            {{Status: 429, Body: echo(key)}, {Status: 429, Body: echo(key)}, {Status: 429, Body: echo(key)}},
			"500":            {{Status: 500, Body: echo(key)}, {Status: 503, Body: key}, {Status: 502, Body: echo(key)}},
			"418":            {{Status: 418, Body: echo(key)}},
			"stream error":   {{Content: "x", StreamError: "key " + key + " revoked"}},
			"header timeout": {{Delay: time.Hour}},
			"idle timeout":   {{Content: "x", Hang: true}},
		}
		for name, turns := range paths {
			for _, spec := range []string{"openai:gpt-test", "anthropic:claude-test", "ollama:llama-test", "openai:gpt-test?tools=text"} {
				if strings.HasPrefix(spec, "ollama") && !strings.HasPrefix(key, "sk-") {
					continue // ollama holds no key: only the pattern can catch one
				}
				srv := llmtest.NewServer(llmtest.Script(turns...))
				var logs safeBuffer
				getenv := env(map[string]string{
					"OPENAI_API_KEY": key, "ANTHROPIC_API_KEY": key,
					"OPENAI_BASE_URL": srv.URL + "/v1", "ANTHROPIC_BASE_URL": srv.URL, "OLLAMA_HOST": srv.URL,
				})
				m, err := OpenWith(spec, getenv, Options{
					Retry:  transport.Retry{MaxAttempts: 3, BaseDelay: time.Microsecond, HeaderTimeout: 50 * time.Millisecond, IdleTimeout: 50 * time.Millisecond},
					Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				})
				if err != nil {
					t.Fatalf("OpenWith(%q): %v", spec, err)
				}
				_, err = m.Stream(t.Context(), llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "hi"}},
					Tools: []llm.ToolSpec{{Name: "finish"}}}, nil)
				srv.Close()
				if err == nil {
					t.Errorf("%s %s: Stream succeeded, want an error", spec, name)
					continue
				}
				for _, s := range []string{err.Error(), logs.String()} {
					if strings.Contains(s, key) || strings.Contains(s, "CANARY") {
						t.Errorf("%s %s: the key leaked: %q", spec, name, s)
					}
				}
			}
		}
	}
}

func TestKeyNeverLeaksUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, key := range canaries {
		for _, spec := range []string{"openai:x", "anthropic:x"} {
			getenv := env(map[string]string{"OPENAI_API_KEY": key, "ANTHROPIC_API_KEY": key,
				"OPENAI_BASE_URL": "http://" + addr + "/v1", "ANTHROPIC_BASE_URL": "http://" + addr})
			m, err := OpenWith(spec, getenv, Options{Retry: transport.Retry{MaxAttempts: 2, BaseDelay: time.Microsecond}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			_, err = m.Stream(ctx, llm.Request{Messages: []llm.Message{{Role: llm.User, Content: "hi"}}}, nil)
			cancel()
			if err == nil || strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), addr) {
				t.Errorf("%s: error = %v, want one naming %s without the key", spec, err, addr)
			}
		}
	}
}
