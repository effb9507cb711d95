// Package anthropic is the adapter for Anthropic's Messages API, with
// streamed replies and native tool use.
package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/internal/sse"
	"github.com/bulwark-agents/bulwark/llm/transport"
)

// DefaultMaxTokens is the reply cap sent when the request sets none; the
// API requires one.
const DefaultMaxTokens = 4096

// Version is the anthropic-version header sent.
const Version = "2023-06-01"

// Config configures a Model.
type Config struct {
	Name    string // what Name returns; default "anthropic:" + Model
	BaseURL string // e.g. "https://api.anthropic.com", without /v1
	Model   string
	APIKey  string // sent as x-api-key
	KeyEnv  string // the variable the key came from, named when it is rejected
	Client  *http.Client
	Retry   transport.Retry
	Logger  *slog.Logger // receives retry warnings; nil means slog.Default()
}

// Model is a Messages API model. It is safe for concurrent use.
type Model struct {
	cfg  Config
	http *transport.HTTP
	url  string
}

var _ llm.Model = (*Model)(nil)

// New returns a Model for cfg. It does no I/O.
func New(cfg Config) *Model {
	if cfg.Name == "" {
		cfg.Name = "anthropic:" + cfg.Model
	}
	h := &transport.HTTP{Provider: "anthropic", Model: cfg.Model, KeyEnv: cfg.KeyEnv, Client: cfg.Client, Retry: cfg.Retry, Logger: cfg.Logger}
	if cfg.APIKey != "" {
		h.Secrets = []string{cfg.APIKey}
	}
	return &Model{cfg: cfg, http: h, url: strings.TrimRight(cfg.BaseURL, "/") + "/v1/messages"}
}

// Name returns the spec the model was opened with.
func (m *Model) Name() string { return m.cfg.Name }

// Stream sends req and streams the reply; see llm.Model.
func (m *Model) Stream(ctx context.Context, req llm.Request, onText func(string)) (*llm.Response, error) {
	body, err := json.Marshal(m.body(req))
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, "anthropic.Stream", "anthropic: the request cannot be encoded", err)
	}
	resp, err := m.http.Do(ctx, func(ctx context.Context) (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, m.url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "text/event-stream")
		r.Header.Set("anthropic-version", Version)
		if m.cfg.APIKey != "" {
			r.Header.Set("x-api-key", m.cfg.APIKey)
		}
		return r, nil
	})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()

	var acc Accumulator
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
		text, err := acc.Add(ev.Event, ev.Data)
		if err != nil {
			var se *StreamError
			if errors.As(err, &se) {
				return nil, m.http.StreamFailure(se.Raw)
			}
			if errors.Is(err, llm.ErrReplyTooLarge) {
				return nil, bulwark.E(bulwark.Unavailable, "anthropic.Stream", "anthropic: the server's reply was refused: "+err.Error(), err)
			}
			return nil, bulwark.E(bulwark.Unavailable, "anthropic.Stream", "anthropic: the server sent a malformed reply", errors.New(m.http.Redact(err.Error())))
		}
		if text != "" && onText != nil {
			onText(text)
		}
	}
	if ctx.Err() != nil {
		return nil, m.http.StreamError(ctx, ctx.Err())
	}
	if !acc.Complete() {
		return nil, bulwark.E(bulwark.Unavailable, "anthropic.Stream", "anthropic: the reply stream ended early", io.ErrUnexpectedEOF)
	}
	return acc.Response(), nil
}
