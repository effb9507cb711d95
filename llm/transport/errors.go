package transport

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/llm"
)

// keyPattern matches strings that look like credentials: provider API keys
// (sk-..., sk-ant-..., sk-proj-...), Bulwark keys, bearer tokens and key
// query parameters; and a task's canary token (guard.Canary), which a
// server that echoes the prompt quotes in its errors, and the log would
// keep (the agent withholds the whole message, in any encoding, from the
// task's events).
var keyPattern = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp {
	return regexp.MustCompile(`(?i)(\bsk-[A-Za-z0-9_\-*]{6,}|\bbwk_[A-Za-z0-9_\-]{6,}|\bBWK-CANARY-[A-Za-z0-9]{6,}|\bbearer\s+[A-Za-z0-9_\-.~+/=*]{6,}|\b(api[_-]?key|key|token)=[^&\s"']+)`)
}}

// RedactKeys replaces every substring of s that looks like an API key or a
// bearer token with a placeholder.
func RedactKeys(s string) string {
	return keyPattern.Get().ReplaceAllString(s, "[REDACTED]")
}

// ProviderMessage extracts the provider's own short error message from an
// error body: OpenAI and Anthropic ({"error": {"message": ...}}), Ollama
// ({"error": "..."}), vLLM ({"message": ...}) or short plain text. It is
// cut to one line of at most 200 characters and keys are redacted.
func ProviderMessage(body []byte) string {
	msg, _ := providerError(body, RedactKeys)
	return msg
}

// providerError returns the message and the type or code of an error body,
// the message masked by redact before it is cut: a value cut short is one
// a mask no longer finds.
func providerError(body []byte, redact func(string) string) (msg, code string) {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if json.Unmarshal(body, &v) == nil {
		var s string
		var obj struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Code    json.RawMessage `json:"code"`
		}
		switch {
		case json.Unmarshal(v.Error, &s) == nil:
			msg = s
		case json.Unmarshal(v.Error, &obj) == nil && v.Error != nil:
			msg, code = obj.Message, obj.Type+" "+strings.Trim(string(obj.Code), `"`)
		case v.Message != "":
			msg, code = v.Message, v.Type+" "+strings.Trim(string(v.Code), `"`)
		case json.Unmarshal(v.Detail, &s) == nil:
			msg = s
		}
	} else if t := strings.TrimSpace(string(body)); utf8.ValidString(t) && !strings.HasPrefix(t, "<") {
		msg = t
	}
	return shorten(redact(msg)), strings.ToLower(strings.TrimSpace(code))
}

// shorten makes s one line of at most 200 characters.
func shorten(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) > 200 {
		r := []rune(s)
		s = string(r[:200]) + "..."
	}
	return s
}

// modelMissing reports whether an error message says the model does not exist.
func modelMissing(msg, code string) bool {
	m := strings.ToLower(msg + " " + code)
	return strings.Contains(m, "model_not_found") || strings.Contains(m, "model not found") ||
		strings.Contains(m, "invalid model") || strings.Contains(m, "unknown model") ||
		(strings.Contains(m, "model") && (strings.Contains(m, "does not exist") || strings.Contains(m, "not found")))
}

// contextTooLong reports whether an error message or code says the request
// is longer than the model's context window, in the wordings of OpenAI
// (context_length_exceeded), Anthropic ("prompt is too long", "exceed
// context limit"), vLLM ("maximum context length"), llama.cpp
// (exceed_context_size_error) and Ollama ("exceeds the context length").
func contextTooLong(msg, code string) bool {
	m := strings.ToLower(msg + " " + code)
	for _, w := range []string{
		"context_length_exceeded", "context length", "context_window_exceeded", "context window",
		"exceed_context_size", "context size", "prompt is too long", "exceed context", "exceeds context",
		"exceeds the context", "too many tokens in the prompt", "input is too long",
	} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

// statusError classifies a non-2xx answer after attempt tries.
func (h *HTTP) statusError(status int, body []byte, attempt int) *bulwark.Error {
	msg, code := providerError(body, h.Redact)
	cause := fmt.Errorf("status %d: %s", status, shorten(h.Redact(string(body))))
	suffix := ""
	if msg != "" {
		suffix = ": " + msg
	}
	p := h.Provider
	e := func(kind bulwark.Kind, format string, args ...any) *bulwark.Error {
		return bulwark.E(kind, h.op(), fmt.Sprintf(format, args...), cause)
	}
	switch {
	case status == 401 || status == 403:
		if h.KeyEnv == "" {
			return e(bulwark.Unauthenticated, "%s: the server refused the request (%d)%s", p, status, suffix)
		}
		if status == 403 {
			return e(bulwark.Unauthenticated, "%s: the API key was refused (403); check %s%s", p, h.KeyEnv, suffix)
		}
		return e(bulwark.Unauthenticated, "%s: the API key was rejected (401); check %s", p, h.KeyEnv)
	case (status == 400 || status == 413 || status == 422) && contextTooLong(msg, code):
		return bulwark.E(bulwark.Invalid, h.op(),
			fmt.Sprintf("%s: the conversation is longer than the model's context window (%d)%s", p, status, suffix),
			fmt.Errorf("%w: %w", llm.ErrContextTooLong, cause))
	case status == 404 || (status < 500 && status != 429 && modelMissing(msg, code)):
		return e(bulwark.NotFound, "%s: model %q not found (%d); check the model name and the base URL%s", p, h.Model, status, suffix)
	case status == 429 && (strings.Contains(code, "insufficient_quota") || strings.Contains(strings.ToLower(msg), "quota")):
		return e(bulwark.QuotaExceeded, "%s: the account's quota is used up (429)%s", p, suffix)
	case status == 429:
		return e(bulwark.RateLimited, "%s: rate limited (429) after %s; try again later", p, attempts(attempt))
	case status == 400 || status == 413 || status == 422:
		if msg == "" {
			msg = "no reason given"
		}
		return e(bulwark.Invalid, "%s: the request was refused (%d): %s", p, status, msg)
	case status >= 500:
		return e(bulwark.Unavailable, "%s: the server failed (%d) after %s%s", p, status, attempts(attempt), suffix)
	}
	return e(bulwark.Unavailable, "%s: unexpected answer (%d)%s", p, status, suffix)
}

// StreamFailure classifies an error the provider reported inside a
// successful stream (an "error" event or object): RateLimited or
// QuotaExceeded when its type or code says so, Unavailable otherwise. raw
// is the error value as sent.
func (h *HTTP) StreamFailure(raw []byte) error {
	body := append([]byte(`{"error":`), raw...)
	body = append(body, '}')
	msg, code := providerError(body, h.Redact)
	if msg == "" {
		msg = "no reason given"
	}
	kind := bulwark.Unavailable
	switch lc := code + " " + strings.ToLower(msg); {
	case strings.Contains(lc, "quota"):
		kind = bulwark.QuotaExceeded
	case strings.Contains(lc, "rate_limit") || strings.Contains(lc, "rate limit") || strings.Contains(lc, "429"):
		kind = bulwark.RateLimited
	case contextTooLong(msg, code):
		return bulwark.E(bulwark.Invalid, h.op(), fmt.Sprintf("%s: the conversation is longer than the model's context window: %s", h.Provider, msg),
			fmt.Errorf("%w: %s", llm.ErrContextTooLong, shorten(h.Redact(string(raw)))))
	case strings.Contains(lc, "invalid_request") || strings.Contains(lc, "400"):
		kind = bulwark.Invalid
	}
	return bulwark.E(kind, h.op(), fmt.Sprintf("%s: the model failed mid-reply: %s", h.Provider, msg),
		errors.New(shorten(h.Redact(string(raw)))))
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}
