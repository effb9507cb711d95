package transport

import (
	"errors"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

// The answers of providers that say a request is longer than the model's
// context window, as they word it.
var contextCases = []struct {
	provider string
	status   int
	body     string
}{
	{"openai", 400, `{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`},
	{"openai", 400, `{"error":{"message":"Your input exceeds the context window of this model.","type":"invalid_request_error","code":null}}`},
	{"anthropic", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`},
	{"anthropic", 400, `{"type":"error","error":{"type":"invalid_request_error","message":"input length and max_tokens exceed context limit: 199000 + 8192 > 200000"}}`},
	{"vllm", 400, `{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens (4000 in the messages, 1000 in the completion).","type":"BadRequestError","param":null,"code":400}`},
	{"llama.cpp", 400, `{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error"}}`},
	{"ollama", 400, `{"error":"the input length exceeds the context length"}`},
	{"proxy", 413, `{"error":{"message":"prompt is too long"}}`},
}

func TestContextTooLong(t *testing.T) {
	for _, tc := range contextCases {
		h := &HTTP{Provider: tc.provider, Model: "m"}
		err := h.statusError(tc.status, []byte(tc.body), 1)
		if !errors.Is(err, llm.ErrContextTooLong) || err.Kind != bulwark.Invalid || !strings.Contains(err.Msg, "longer than the model's context window") {
			t.Errorf("statusError(%d, %s) = %v %q (context too long: %v), want Invalid and llm.ErrContextTooLong",
				tc.status, tc.body, err.Kind, err.Msg, errors.Is(err, llm.ErrContextTooLong))
		}
	}
	// In a stream, as Anthropic may send it.
	h := &HTTP{Provider: "anthropic", Model: "m"}
	if err := h.StreamFailure([]byte(`{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}`)); !errors.Is(err, llm.ErrContextTooLong) {
		t.Errorf("StreamFailure(prompt is too long) = %v, want llm.ErrContextTooLong", err)
	}
}

// Other refusals are not taken for a conversation too long: the agent
// would compact and retry for nothing.
func TestNotContextTooLong(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
	}{
		{400, `{"error":{"message":"Invalid value for 'temperature'","type":"invalid_request_error"}}`},
		{400, `{"error":{"message":"invalid model ID"}}`},
		{401, `{"error":{"message":"context length exceeded"}}`}, // a refused key stays a refused key
		{429, `{"error":{"message":"Rate limit reached for requests"}}`},
		{500, `{"error":{"message":"maximum context length is 4096"}}`},
		{400, `{"error":{"message":"max_tokens: 100000 > 64000, which is the maximum allowed number of output tokens"}}`},
	} {
		h := &HTTP{Provider: "openai", Model: "m", KeyEnv: "OPENAI_API_KEY"}
		if err := h.statusError(tc.status, []byte(tc.body), 1); errors.Is(err, llm.ErrContextTooLong) {
			t.Errorf("statusError(%d, %s) is llm.ErrContextTooLong, want another error", tc.status, tc.body)
		}
	}
}
