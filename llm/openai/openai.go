// Package openai is the adapter for the OpenAI Chat Completions protocol,
// spoken by OpenAI and by most self-hosted servers (Ollama, vLLM, LM Studio)
// and routers (OpenRouter). Replies are streamed and tools called natively.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/internal/sse"
	"github.com/bulwark-agents/bulwark/llm/transport"
)

// Config configures a Model.
type Config struct {
	Name     string // what Name returns, e.g. "openai:gpt-4o"; default Provider:Model
	Provider string // names the provider in messages, e.g. "ollama"; default "openai"
	BaseURL  string // up to and including /v1, e.g. "https://api.openai.com/v1"
	Model    string
	APIKey   string // sent as a bearer token; "" sends none
	KeyEnv   string // the variable the key came from, named when it is rejected
	Client   *http.Client
	Retry    transport.Retry
	Logger   *slog.Logger // receives retry warnings; nil means slog.Default()
}

// Model is a Chat Completions model. It is safe for concurrent use.
type Model struct {
	cfg  Config
	http *transport.HTTP
	url  string
	head []byte // how every body starts: the model, as a JSON string, and "messages"
	// header is every request's header, cloned for each: one copy of
	// three values instead of three Header.Set a turn.
	header http.Header
	tools  atomic.Pointer[encodedTools]
}

var _ llm.Model = (*Model)(nil)

// New returns a Model for cfg. It does no I/O.
func New(cfg Config) *Model {
	if cfg.Provider == "" {
		cfg.Provider = "openai"
	}
	if cfg.Name == "" {
		cfg.Name = cfg.Provider + ":" + cfg.Model
	}
	h := &transport.HTTP{Provider: cfg.Provider, Model: cfg.Model, KeyEnv: cfg.KeyEnv, Client: cfg.Client, Retry: cfg.Retry, Logger: cfg.Logger}
	if cfg.APIKey != "" {
		h.Secrets = []string{cfg.APIKey}
	}
	modelJSON, _ := json.Marshal(cfg.Model)
	head := append(append([]byte(`{"model":`), modelJSON...), `,"messages":[`...)
	header := http.Header{"Content-Type": {"application/json"}, "Accept": {"text/event-stream"}}
	if cfg.APIKey != "" {
		header.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	return &Model{cfg: cfg, http: h, url: strings.TrimRight(cfg.BaseURL, "/") + "/chat/completions", head: head, header: header}
}

// Name returns the spec the model was opened with.
func (m *Model) Name() string { return m.cfg.Name }

// Stream sends req and streams the reply; see llm.Model.
func (m *Model) Stream(ctx context.Context, req llm.Request, onText func(string)) (*llm.Response, error) {
	body, err := m.encodeBody(req)
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, m.cfg.Provider+".Stream", m.cfg.Provider+": the request cannot be encoded", err)
	}
	resp, err := m.http.Do(ctx, func(ctx context.Context) (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, m.url, nil)
		if err != nil {
			return nil, err
		}
		transport.SetBody(r, body.Reopen())
		r.Header = m.header.Clone()
		return r, nil
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()

	var acc Accumulator
	if isJSON(resp.Header.Get("Content-Type")) {
		// A server that ignores "stream": one whole completion.
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return nil, m.http.StreamError(ctx, err)
		}
		text, err := acc.Add(data)
		if err != nil {
			return nil, m.failure(err)
		}
		if text != "" && onText != nil {
			onText(text)
		}
		return acc.Response(), nil
	}
	r := sse.NewReader(resp.Body)
	defer r.Close()
	for !acc.Done() {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, m.http.StreamError(ctx, err)
		}
		if ev.Event == "error" && !bytes.HasPrefix(bytes.TrimSpace(ev.Data), []byte("{")) {
			return nil, m.http.StreamFailure(mustJSON(string(ev.Data)))
		}
		text, err := acc.Add(ev.Data)
		if err != nil {
			return nil, m.failure(err)
		}
		if text != "" && onText != nil {
			onText(text)
		}
	}
	if ctx.Err() != nil {
		return nil, m.http.StreamError(ctx, ctx.Err())
	}
	if !acc.Complete() {
		return nil, bulwark.E(bulwark.Unavailable, m.cfg.Provider+".Stream", m.cfg.Provider+": the reply stream ended early", io.ErrUnexpectedEOF)
	}
	return acc.Response(), nil
}

// isJSON says whether a response's Content-Type is application/json. A
// type without "json" in it is not (the common case, an event stream,
// parsed for nothing: ParseMediaType makes a map of parameters).
func isJSON(contentType string) bool {
	if !containsFold(contentType, "json") {
		return false
	}
	ct, _, _ := mime.ParseMediaType(contentType)
	return ct == "application/json"
}

// containsFold reports whether s holds sub, a lower-case ASCII word, in
// any case.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func (m *Model) failure(err error) error {
	var se *StreamError
	if errors.As(err, &se) {
		return m.http.StreamFailure(se.Raw)
	}
	if errors.Is(err, llm.ErrReplyTooLarge) {
		return bulwark.E(bulwark.Unavailable, m.cfg.Provider+".Stream", m.cfg.Provider+": the server's reply was refused: "+err.Error(), err)
	}
	return bulwark.E(bulwark.Unavailable, m.cfg.Provider+".Stream", m.cfg.Provider+": the server sent a malformed reply", errors.New(m.http.Redact(err.Error())))
}

func mustJSON(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
