// Package provider opens a model from a spec string such as
// "openai:gpt-4o", "anthropic:claude-sonnet-4-5", "ollama:llama3.1" or
// "replay:script.jsonl", reading keys and base URLs from the environment.
package provider

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/anthropic"
	"github.com/bulwark-agents/bulwark/llm/openai"
	"github.com/bulwark-agents/bulwark/llm/replay"
	"github.com/bulwark-agents/bulwark/llm/textcall"
	"github.com/bulwark-agents/bulwark/llm/transport"
)

// Forms lists the spec forms Open accepts, for help texts and errors.
const Forms = "openai:MODEL, anthropic:MODEL, ollama:MODEL or replay:FILE, optionally followed by ?tools=text and/or ?context=TOKENS"

// Bounds of a context window given in a spec (?context=N).
const (
	MinContextWindow = 1024
	MaxContextWindow = 100_000_000
)

// Defaults of the base URLs.
const (
	DefaultOpenAIBaseURL    = "https://api.openai.com/v1"
	DefaultAnthropicBaseURL = "https://api.anthropic.com"
	DefaultOllamaHost       = "http://127.0.0.1:11434"
)

// Options tune what Open builds; the zero value is the production setting.
type Options struct {
	Client *http.Client // nil: transport.DefaultClient()
	Retry  transport.Retry
	Logger *slog.Logger // nil: slog.Default()
}

// Open returns the model spec names. getenv reads the environment
// (os.Getenv, or a map in tests):
//
//	openai:MODEL     OPENAI_API_KEY (required), OPENAI_BASE_URL (default https://api.openai.com/v1)
//	anthropic:MODEL  ANTHROPIC_API_KEY (required), ANTHROPIC_BASE_URL (default https://api.anthropic.com)
//	ollama:MODEL     OLLAMA_HOST (default http://127.0.0.1:11434; /v1 is added), no key
//	replay:FILE      a scripted model, see package replay
//
// A "?tools=text" suffix wraps the model with textcall, for models without
// native tool calling. A "?context=N" option (options join with &) gives
// the model's context window in tokens; without it an OpenAI or Anthropic
// model takes its window from llm.KnownContextWindow or else
// llm.DefaultContextWindow, an Ollama model llm.DefaultContextWindow (its
// server's num_ctx is not known here), and a replay script none (see
// llm.ContextWindow). Errors are *bulwark.Error: Invalid for a bad spec or
// base URL, Unauthenticated for a missing key. Open does no network I/O.
func Open(spec string, getenv func(string) string) (llm.Model, error) {
	return OpenWith(spec, getenv, Options{})
}

// OpenWith is Open with options.
func OpenWith(spec string, getenv func(string) string, opt Options) (llm.Model, error) {
	const op = "provider.Open"
	base, query, _ := strings.Cut(strings.TrimSpace(spec), "?")
	textTools, window, err := options(spec, query)
	if err != nil {
		return nil, err
	}
	kind, name, ok := strings.Cut(base, ":")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return nil, bulwark.Errorf(bulwark.Invalid, op, "model spec %q: want %s", spec, Forms)
	}
	var m llm.Model
	switch kind {
	case "openai":
		key := strings.TrimSpace(getenv("OPENAI_API_KEY"))
		if key == "" {
			return nil, bulwark.Errorf(bulwark.Unauthenticated, op, "openai: OPENAI_API_KEY is not set")
		}
		u, err := baseURL("openai", "OPENAI_BASE_URL", getenv("OPENAI_BASE_URL"), DefaultOpenAIBaseURL)
		if err != nil {
			return nil, err
		}
		m = openai.New(openai.Config{Name: base, Provider: "openai", BaseURL: u, Model: name,
			APIKey: key, KeyEnv: "OPENAI_API_KEY", Client: opt.Client, Retry: opt.Retry, Logger: opt.Logger})
	case "ollama":
		u, err := baseURL("ollama", "OLLAMA_HOST", ollamaHost(getenv("OLLAMA_HOST")), DefaultOllamaHost)
		if err != nil {
			return nil, err
		}
		m = openai.New(openai.Config{Name: base, Provider: "ollama", BaseURL: u + "/v1", Model: name,
			Client: opt.Client, Retry: opt.Retry, Logger: opt.Logger})
	case "anthropic":
		key := strings.TrimSpace(getenv("ANTHROPIC_API_KEY"))
		if key == "" {
			return nil, bulwark.Errorf(bulwark.Unauthenticated, op, "anthropic: ANTHROPIC_API_KEY is not set")
		}
		u, err := baseURL("anthropic", "ANTHROPIC_BASE_URL", getenv("ANTHROPIC_BASE_URL"), DefaultAnthropicBaseURL)
		if err != nil {
			return nil, err
		}
		m = anthropic.New(anthropic.Config{Name: base, BaseURL: u, Model: name,
			APIKey: key, KeyEnv: "ANTHROPIC_API_KEY", Client: opt.Client, Retry: opt.Retry, Logger: opt.Logger})
	case "replay":
		r, err := replay.Open(name)
		if err != nil {
			return nil, err
		}
		m = r
	default:
		return nil, bulwark.Errorf(bulwark.Invalid, op, "model spec %q: unknown provider %q; want %s", spec, kind, Forms)
	}
	if textTools {
		m = textcall.Wrap(m)
	}
	w := llm.Window{Tokens: window}
	if window == 0 && kind != "replay" {
		w = llm.Window{Tokens: llm.DefaultContextWindow, Assumed: true}
		if n, ok := llm.KnownContextWindow(name); ok && kind != "ollama" {
			w = llm.Window{Tokens: n}
		}
	}
	if w.Tokens > 0 {
		m = llm.WithContextWindow(m, w)
	}
	return m, nil
}

// CheckOptions checks the options of spec, what follows its '?' (none is
// fine), as Open reads them. The error is Invalid and says what is wrong.
func CheckOptions(spec string) error {
	_, query, _ := strings.Cut(strings.TrimSpace(spec), "?")
	_, _, err := options(spec, query)
	return err
}

// options reads the options of a spec: whether tool calls go as text, and
// the context window given (0: none).
func options(spec, query string) (textTools bool, window int, err error) {
	const op = "provider.Open"
	if query == "" {
		return false, 0, nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return false, 0, bulwark.Errorf(bulwark.Invalid, op, "model spec %q: bad options after '?'", spec)
	}
	for k, v := range q {
		switch {
		case k == "tools" && len(v) == 1 && v[0] == "text":
			textTools = true
		case k == "tools" && len(v) == 1 && v[0] == "native":
		case k == "context":
			if window, err = contextWindow(v); err != nil {
				return false, 0, bulwark.Errorf(bulwark.Invalid, op, "model spec %q: %s", spec, err.Error())
			}
		default:
			return false, 0, bulwark.Errorf(bulwark.Invalid, op, "model spec %q: unknown option %q (known: tools=text, tools=native, context=TOKENS)", spec, k)
		}
	}
	return textTools, window, nil
}

// contextWindow reads the values of a context option: one whole number of
// tokens within bounds.
func contextWindow(v []string) (int, error) {
	if len(v) != 1 {
		return 0, fmt.Errorf("context is given %d times; give it once", len(v))
	}
	s := v[0]
	n, err := strconv.Atoi(s)
	if err != nil || strings.TrimLeft(s, "-0123456789") != "" || strings.HasPrefix(s, "+") {
		return 0, fmt.Errorf("context=%q is not a number of tokens; want a whole number such as context=128000", v[0])
	}
	if n < MinContextWindow || n > MaxContextWindow {
		return 0, fmt.Errorf("context=%d is out of range; want between %d and %d tokens", n, MinContextWindow, MaxContextWindow)
	}
	return n, nil
}

// ollamaHost accepts OLLAMA_HOST as Ollama does: "host:port" or a URL.
func ollamaHost(v string) string {
	v = strings.TrimSpace(v)
	if v != "" && !strings.Contains(v, "://") {
		v = "http://" + v
	}
	return v
}

// baseURL validates a base URL from variable env (or def when empty): http
// or https, a host, no credentials, query or fragment. It returns it
// without a trailing slash.
func baseURL(provider, env, v, def string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		v = def
	}
	u, err := url.Parse(v)
	bad := func(why string) error {
		return bulwark.Errorf(bulwark.Invalid, "provider.Open", "%s: %s is not a usable base URL: %s", provider, env, why)
	}
	switch {
	case err != nil:
		return "", bad("it does not parse")
	case u.Scheme != "http" && u.Scheme != "https":
		return "", bad("the scheme must be http or https")
	case u.Host == "":
		return "", bad("it has no host")
	case u.User != nil:
		return "", bad("it must not hold credentials")
	case u.RawQuery != "" || u.Fragment != "":
		return "", bad("it must not have a query or fragment")
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// Describe returns a one-line description of spec for logs, without
// secrets: the provider and model and, for HTTP providers, the host.
func Describe(spec string, getenv func(string) string) string {
	kind, _, _ := strings.Cut(spec, ":")
	var env, def string
	switch kind {
	case "openai":
		env, def = getenv("OPENAI_BASE_URL"), DefaultOpenAIBaseURL
	case "anthropic":
		env, def = getenv("ANTHROPIC_BASE_URL"), DefaultAnthropicBaseURL
	case "ollama":
		env, def = ollamaHost(getenv("OLLAMA_HOST")), DefaultOllamaHost
	default:
		return spec
	}
	if env == "" {
		env = def
	}
	if u, err := url.Parse(env); err == nil {
		return fmt.Sprintf("%s at %s", spec, u.Host)
	}
	return spec
}
