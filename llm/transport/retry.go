// Package transport is the HTTP plumbing that the model provider adapters
// share: requests retried with backoff and Retry-After, provider errors
// classified into clear messages, and API keys kept out of every error and log.
package transport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/secret"
)

// Retry configures how an HTTP adapter retries and times out. The zero value
// means the defaults documented on each field.
type Retry struct {
	// MaxAttempts bounds the tries of one request, retries included
	// (default 4).
	MaxAttempts int
	// BaseDelay is the first backoff; each retry doubles it, with jitter
	// (default 500ms).
	BaseDelay time.Duration
	// MaxDelay caps one backoff and one honoured Retry-After (default 30s).
	MaxDelay time.Duration
	// HeaderTimeout bounds the wait for the response headers of one attempt
	// (default 3m: a local server may load the model first).
	HeaderTimeout time.Duration
	// IdleTimeout bounds the wait between two reads of a streaming body
	// (default 2m).
	IdleTimeout time.Duration
	// Sleep waits d or until ctx is done; nil means a timer. Tests replace it
	// to observe the chosen delays without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (r Retry) withDefaults() Retry {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 4
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = 500 * time.Millisecond
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = 30 * time.Second
	}
	if r.HeaderTimeout <= 0 {
		r.HeaderTimeout = 3 * time.Minute
	}
	if r.IdleTimeout <= 0 {
		r.IdleTimeout = 2 * time.Minute
	}
	if r.Sleep == nil {
		r.Sleep = sleep
	}
	return r
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is the delay before retry number n (from 1): BaseDelay·2^(n-1),
// with equal jitter, capped at MaxDelay.
func (r Retry) backoff(n int) time.Duration {
	d := r.BaseDelay << min(n-1, 20)
	if d <= 0 || d > r.MaxDelay {
		d = r.MaxDelay
	}
	return d/2 + rand.N(d/2+1)
}

var (
	defaultClientOnce sync.Once
	defaultClient     *http.Client
)

// DefaultClient is the HTTP client adapters use when given none: a Lean
// transport (its own HTTP/1.1 connections for plain-HTTP model servers
// reached without a proxy) over StdTransport for every other request. It
// has no overall timeout; HTTP applies its own header and idle timeouts.
func DefaultClient() *http.Client {
	defaultClientOnce.Do(func() {
		defaultClient = &http.Client{Transport: NewLean(StdTransport())}
	})
	return defaultClient
}

// StdTransport returns a new standard transport with DefaultClient's
// settings: more idle connections per host than net/http's default, since
// one server runs many conversations with the same provider, and a larger
// write buffer (see WriteBufferSize).
func StdTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = modelDialer.DialContext
	t.MaxIdleConnsPerHost = 64
	t.WriteBufferSize = WriteBufferSize
	return t
}

// modelDialer dials the connections to model servers: as net/http's
// default dialer (a 30 s timeout; keep-alive probes once a connection is
// silent 30 s, which keeps it open through NATs and firewalls) except
// that it leaves the probes' interval and count to the system. net/http
// sets them too (15 s, 9: a silent dead peer found after 165 s), two more
// setsockopt(2) on every connection, a tenth of the CPU of a dial on
// loopback (BENCHMARKS.md, session 34), for little: an idle pooled
// connection is closed after 90 s (IdleConnTimeout), before either
// setting would find its peer dead, and a request's wait is bounded by
// Retry's header and idle timeouts (3 and 2 minutes by default).
var modelDialer = &net.Dialer{
	Timeout:         leanDialTimeout,
	KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 30 * time.Second, Interval: -1, Count: -1},
}

// WriteBufferSize is the write buffer of DefaultClient's connections. A
// model request (the conversation with the tool specs) is rarely under
// the standard 4 KiB: with that buffer net/http writes the headers and the
// body's first part, then copies the rest through a buffer it allocates
// for it, two write(2) (two TLS records) and a few KB of garbage per
// turn. With 16 KiB a request up to that size goes out in one write. It
// costs 12 KiB more per open connection.
const WriteBufferSize = 16 << 10

// HTTP is the plumbing an adapter shares with the others: it sends requests
// with retries and timeouts and turns every failure into a *bulwark.Error
// whose Msg names the provider and holds no secret. It is safe for
// concurrent use once set up.
type HTTP struct {
	Provider string // e.g. "openai"; starts every message
	Model    string // named in "model not found" messages
	KeyEnv   string // the variable holding the key, named when it is rejected; "" if none
	Client   *http.Client
	Retry    Retry
	// Secrets are scrubbed from every error message and cause (the API key).
	Secrets []string
	// Logger receives a warning per retry; nil means slog.Default().
	Logger *slog.Logger
}

var errHeaderTimeout = errors.New("timed out waiting for the response headers")
var errIdleTimeout = errors.New("timed out waiting for the stream to continue")

// Do sends the request newReq builds (a fresh one per attempt, bound to the
// context it is given) and returns the first 2xx response. It retries 429,
// 500, 502, 503, 504, 529 and connection failures with exponential backoff,
// honouring Retry-After, up to Retry.MaxAttempts. The caller reads and
// closes the body; a body read that stalls past Retry.IdleTimeout fails.
// Read errors of the body go through StreamError. A request body that is
// a Pieces goes out as a bytes.Reader of its bytes unless the client's
// transport is a Lean (see Pieces).
//
// Errors are *bulwark.Error: Canceled when ctx ends, Unauthenticated,
// NotFound, Invalid, RateLimited, QuotaExceeded or Unavailable otherwise.
func (h *HTTP) Do(ctx context.Context, newReq func(ctx context.Context) (*http.Request, error)) (*http.Response, error) {
	r := h.Retry.withDefaults()
	client := h.Client
	if client == nil {
		client = DefaultClient()
	}
	var host string
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return nil, h.canceled(ctx)
		}
		actx, cancel := context.WithCancelCause(ctx)
		req, err := newReq(actx)
		if err != nil {
			cancel(nil)
			return nil, bulwark.E(bulwark.Internal, h.op(), h.Provider+": cannot build the request", errors.New(h.Redact(err.Error())))
		}
		if _, lean := client.Transport.(*Lean); !lean {
			req = inMemory(req)
		}
		host = req.URL.Host
		// One timer per attempt: for the response's head, then, once
		// the body is handed over, for each of its reads.
		body := &idleBody{ctx: actx, cancel: cancel, idle: r.IdleTimeout}
		body.timer = time.AfterFunc(r.HeaderTimeout, body.expire)
		resp, err := client.Do(req)
		headed := body.timer.Stop()

		var fail *bulwark.Error
		var wait time.Duration
		switch {
		case err != nil:
			cancel(nil)
			if ctx.Err() != nil {
				return nil, h.canceled(ctx)
			}
			// The message names the provider, never its address: it
			// reaches tenants, and the address is the operator's (the
			// cause, which the log shows, has it).
			if context.Cause(actx) == errHeaderTimeout {
				fail = bulwark.E(bulwark.Unavailable, h.op(),
					fmt.Sprintf("%s: no answer from the %s provider within %v", h.Provider, h.Provider, r.HeaderTimeout),
					fmt.Errorf("%s: %w", host, errHeaderTimeout))
			} else {
				fail = bulwark.E(bulwark.Unavailable, h.op(),
					fmt.Sprintf("%s: cannot reach the %s provider (%s)", h.Provider, h.Provider, netReason(err)), errors.New(h.Redact(err.Error())))
			}
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			// A head timeout that fired as the head came in keeps its
			// cause: it has canceled the attempt, or will.
			body.reading.Store(headed)
			body.rc = resp.Body
			resp.Body = body
			return resp, nil
		default:
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			cancel(nil)
			fail = h.statusError(resp.StatusCode, body, attempt)
			if retryable(resp.StatusCode) && fail.Kind != bulwark.QuotaExceeded {
				wait = retryAfter(resp.Header, time.Now(), r.MaxDelay)
			} else {
				return nil, fail
			}
		}
		if attempt >= r.MaxAttempts {
			h.logger().Warn("model request failed", "provider", h.Provider, "host", host, "attempts", attempt, "error", llm.RedactLog(ctx, fail.Error()))
			return nil, fail
		}
		if wait <= 0 {
			wait = r.backoff(attempt)
		}
		h.logger().Warn("model request failed; retrying", "provider", h.Provider, "host", host,
			"attempt", attempt, "delay", wait, "error", llm.RedactLog(ctx, fail.Msg))
		if err := r.Sleep(ctx, wait); err != nil || ctx.Err() != nil {
			return nil, h.canceled(ctx)
		}
	}
}

func (h *HTTP) op() string { return h.Provider + ".Stream" }

func (h *HTTP) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}

func (h *HTTP) canceled(ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		err = context.Canceled
	}
	return bulwark.E(bulwark.Canceled, h.op(), h.Provider+": canceled", err)
}

// StreamError classifies err, met while reading a response body that Do
// returned: Canceled when ctx ended, Unavailable otherwise (the connection
// broke or stalled). It returns nil for nil.
func (h *HTTP) StreamError(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	var be *bulwark.Error
	if errors.As(err, &be) {
		return err
	}
	if ctx.Err() != nil {
		return h.canceled(ctx)
	}
	if errors.Is(err, errIdleTimeout) {
		return bulwark.E(bulwark.Unavailable, h.op(), h.Provider+": the reply stream stalled", errIdleTimeout)
	}
	return bulwark.E(bulwark.Unavailable, h.op(), h.Provider+": the reply stream broke off", errors.New(h.Redact(err.Error())))
}

// Redact removes the secrets, in every form a secret.Redactor finds (as
// sent, hex, base64, URL and JSON escapes: a server's error may quote the
// key it was sent in any of them), and anything that looks like an API
// key from s. The secrets are masked first: the key patterns could mask
// a part of one and leave the rest.
func (h *HTTP) Redact(s string) string {
	if len(h.Secrets) > 0 {
		red := secret.NewRedactor()
		red.SetDetection(false) // RedactKeys, after
		for i, sec := range h.Secrets {
			name := cmp.Or(h.KeyEnv, "API_KEY")
			if i > 0 {
				name += "_" + strconv.Itoa(i+1)
			}
			red.Add(name, sec)
		}
		s = red.String(s)
		for _, sec := range h.Secrets {
			if len(sec) >= 4 { // shorter than the redactor's least
				s = strings.ReplaceAll(s, sec, "[REDACTED]")
			}
		}
	}
	return RedactKeys(s)
}

func retryable(status int) bool {
	switch status {
	case 429, 500, 502, 503, 504, 529:
		return true
	}
	return false
}

// retryAfter reads Retry-After (seconds or an HTTP date) or OpenAI's
// retry-after-ms, capped at max; 0 when absent or unusable.
func retryAfter(h http.Header, now time.Time, max time.Duration) time.Duration {
	var d time.Duration
	if ms := h.Get("Retry-After-Ms"); ms != "" {
		if f, err := strconv.ParseFloat(ms, 64); err == nil && f > 0 {
			d = time.Duration(f * float64(time.Millisecond))
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); d == 0 && v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s > 0 {
				d = time.Duration(s * float64(time.Second))
			}
		} else if t, err := http.ParseTime(v); err == nil {
			d = t.Sub(now)
		}
	}
	if d < 0 {
		return 0
	}
	return min(d, max)
}

// netReason says in a few words why a connection failed, without the URL.
func netReason(err error) string {
	var dns *net.DNSError
	var op *net.OpError
	switch {
	case errors.As(err, &dns):
		if dns.IsNotFound {
			return "no such host"
		}
		return "name lookup failed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to it"
	case errors.As(err, &op):
		if op.Timeout() {
			return "connection timed out"
		}
		// Other causes (TLS, proxies) can name hosts: a fixed phrase.
		return "connection failed"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Timeout() {
			return "connection timed out"
		}
		return "connection failed"
	}
	return "connection failed"
}

// idleBody fails a read that waits longer than idle, and releases the
// attempt's context on Close. Its timer is the attempt's, which first
// bounds the wait for the response's head.
type idleBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	idle   time.Duration
	timer  *time.Timer
	// reading is set once the head is in: the timer then bounds reads.
	reading atomic.Bool
}

// expire cancels the attempt when its timer fires.
func (b *idleBody) expire() {
	if b.reading.Load() {
		b.cancel(errIdleTimeout)
		return
	}
	b.cancel(errHeaderTimeout)
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.idle)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	if err != nil && !errors.Is(err, io.EOF) && context.Cause(b.ctx) == errIdleTimeout {
		err = errIdleTimeout
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}
