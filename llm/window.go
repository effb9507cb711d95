package llm

import (
	"errors"
	"strings"
)

// Context windows
//
// A model reads at most its context window of tokens per request: the
// system prompt, the conversation, the tool specs and the reply. The agent
// loop compacts a long conversation before it outgrows the window (see
// agent/compact.go); it learns the window from the model (ContextWindow),
// which the provider set from the spec's "?context=N" or from the table of
// known models (KnownContextWindow).

// DefaultContextWindow is the window, in tokens, assumed for a model of an
// HTTP provider whose window is neither given nor known: small enough for
// the local servers' usual settings.
const DefaultContextWindow = 8192

// ErrContextTooLong is in the chain of the error a provider answers when a
// request is longer than the model's context window (OpenAI's
// context_length_exceeded, Anthropic's "prompt is too long", vLLM's and
// Ollama's wordings): errors.Is(err, ErrContextTooLong). The agent loop
// compacts the conversation and tries once more.
var ErrContextTooLong = errors.New("the conversation is longer than the model's context window")

// Window is a model's context window.
type Window struct {
	Tokens int // 0: not known (a scripted model has none)
	// Assumed: the window was neither given nor known, and Tokens is
	// DefaultContextWindow, a guess. The agent then only does what costs
	// nothing before a request outgrows it, and summarises only when the
	// provider refuses a request as too long.
	Assumed bool
}

// Windowed is a Model that knows its context window.
type Windowed interface {
	Model
	ContextWindow() Window
}

// ContextWindow returns m's context window; its Tokens are 0 when m does
// not say.
func ContextWindow(m Model) Window {
	if w, ok := m.(Windowed); ok {
		return w.ContextWindow()
	}
	return Window{}
}

// WithContextWindow returns m with context window w. The returned Model
// passes every call to m.
func WithContextWindow(m Model, w Window) Model {
	return windowed{Model: m, w: w}
}

type windowed struct {
	Model
	w Window
}

func (w windowed) ContextWindow() Window { return w.w }

// knownWindows are the windows of well-known model families, by prefix of
// the model name (longest prefix first within a family).
var knownWindows = []struct {
	prefix string
	tokens int
}{
	{"gpt-4.1", 1_047_576},
	{"gpt-4o", 128_000},
	{"gpt-4-turbo", 128_000},
	{"gpt-4-32k", 32_768},
	{"gpt-4", 8_192},
	{"gpt-3.5-turbo", 16_385},
	{"gpt-5", 400_000},
	{"o1-mini", 128_000},
	{"o1", 200_000},
	{"o3", 200_000},
	{"o4-mini", 200_000},
	{"claude-", 200_000},
	{"gemini-1.5-pro", 2_000_000},
	{"gemini-", 1_048_576},
	{"mistral-large", 128_000},
	{"deepseek-", 64_000},
	{"llama3.1", 128_000},
	{"llama3.2", 128_000},
	{"llama3.3", 128_000},
	{"llama-3.1", 128_000},
	{"llama-3.3", 128_000},
}

// KnownContextWindow returns the window of a well-known model, by its name
// as the provider spells it (a routing prefix such as "openai/" is
// ignored), and whether it is known.
func KnownContextWindow(model string) (int, bool) {
	m := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	for _, k := range knownWindows {
		if strings.HasPrefix(m, k.prefix) {
			return k.tokens, true
		}
	}
	return 0, false
}
