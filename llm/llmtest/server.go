// Package llmtest is a fake model server for tests and benchmarks. It
// speaks the real streaming protocols over real HTTP, OpenAI Chat
// Completions (POST /v1/chat/completions) and Anthropic Messages (POST
// /v1/messages) on the same server, so tests exercise the real adapters. A
// Handler decides each turn from the request; Quirks imitate the wire
// formats of other providers.
//
// It needs no *testing.T: `bulwark bench agents` runs it in-process.
package llmtest

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

// Quirk changes the wire format of a streamed OpenAI reply to imitate a
// provider. Quirks combine with |. Only SmallChunks and Buffered apply to Anthropic.
type Quirk uint

const (
	WholeToolCall     Quirk = 1 << iota // each tool call whole in one chunk (Ollama)
	NoIndex                             // tool call chunks without "index"
	NoID                                // tool calls without "id"
	StopWithToolCalls                   // finish_reason "stop" although the reply calls tools
	SmallChunks                         // text in pieces of one to three bytes (Anthropic too)
	ArgumentsObject                     // arguments as a JSON object, not a string; implies WholeToolCall
	Comments                            // ": keep-alive" and ": OPENROUTER PROCESSING" comment lines
	NoDone                              // no "data: [DONE]" at the end
	NoUsage                             // no usage, even when asked
	Buffered                            // the whole reply in one write, as from a buffering proxy (Anthropic too)
)

// ToolCall is a tool call a Turn makes. Arguments is raw JSON, sent as is
// (it may be malformed on purpose). An empty ID is generated.
type ToolCall struct {
	ID        string
	Name      string
	Arguments json.RawMessage
}

// Turn is one reply of the server.
type Turn struct {
	Content   string
	ToolCalls []ToolCall
	// Usage is reported at the end; zero means an estimate from the sizes.
	Usage bulwark.Usage
	// Delay is waited before the answer (headers included).
	Delay time.Duration
	// Status, when not 0 or 200, is answered instead of a reply, with Body
	// (default: an error object in the protocol's shape) and RetryAfter as
	// the Retry-After header.
	Status     int
	Body       string
	RetryAfter string
	// StreamError, when set, is sent as an error event after the content,
	// ending the stream.
	StreamError string
	// Hang keeps the stream open after the content, until the client goes
	// away or the server closes: for cancellation and idle timeout tests.
	Hang   bool
	Quirks Quirk

	prep *prepared // see Prepare
}

// Request is one request the server received.
type Request struct {
	N        int    // 1 for the first request the server received
	Protocol string // "openai" or "anthropic"
	Model    string
	// Messages is the conversation mapped back to llm messages; Anthropic's
	// top-level system prompt comes first as a System message.
	Messages []llm.Message
	Tools    []llm.ToolSpec
	Stream   bool // the client asked for a stream
	Usage    bool // the client asked for usage in the stream (OpenAI)
	Header   http.Header
	Body     []byte // the raw request body; see SetRecording

	keep *[]byte // the pooled buffer Body is in, when not recording
}

// Handler decides the reply to a request. It is called concurrently.
type Handler func(*Request) Turn

// Script returns a handler that plays turns in order, one per request,
// whatever the requests say. Once they are spent it answers 400 (not
// retried) with "llmtest: the script has no more turns".
func Script(turns ...Turn) Handler {
	var next atomic.Int64
	return func(*Request) Turn {
		i := next.Add(1) - 1
		if i >= int64(len(turns)) {
			return Turn{Status: 400, Body: `{"error":{"message":"llmtest: the script has no more turns","type":"invalid_request_error"}}`}
		}
		return turns[i]
	}
}

// Server is a running fake model server.
type Server struct {
	// URL is the base, http://127.0.0.1:PORT, without a trailing slash:
	// OPENAI_BASE_URL is URL+"/v1", ANTHROPIC_BASE_URL is URL.
	URL string

	handler Handler
	srv     *http.Server
	lean    *leanState // the lean server's, instead of srv
	loop    *loopState // the loop server's, instead of srv
	ln      net.Listener
	n       atomic.Int64
	key     atomic.Pointer[string]
	record  atomic.Bool
	raw     atomic.Bool // leave requests unparsed

	mu       sync.Mutex
	requests []*Request
}

// NewServer starts a server on a loopback port that answers with h. The
// caller must Close it. It records every request; see SetRecording.
func NewServer(h Handler) *Server {
	if os.Getenv("LLMTEST_LEAN") == "1" {
		return NewLeanServer(h)
	}
	s, ln := newServer(h)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", s.serveOpenAI)
	mux.HandleFunc("POST /v1/messages", s.serveAnthropic)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go s.srv.Serve(ln)
	return s
}

// newServer listens on a loopback port for a server answering with h.
func newServer(h Handler) (*Server, net.Listener) {
	// No TCP keep-alive on the connections accepted: they are on the
	// loopback and live as long as a test, and turning it on costs four
	// system calls per connection (of the start of a thousand agents).
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		if ln, err = lc.Listen(context.Background(), "tcp6", "[::1]:0"); err != nil {
			panic("llmtest: cannot listen on a loopback port: " + err.Error())
		}
	}
	s := &Server{URL: "http://" + ln.Addr().String(), handler: h, ln: ln}
	s.record.Store(true)
	return s, ln
}

// Close stops the server and ends the requests in flight.
func (s *Server) Close() {
	switch {
	case s.loop != nil:
		s.closeLoop()
	case s.lean != nil:
		s.closeLean()
	default:
		s.srv.Close()
	}
}

// RequireAPIKey makes the server answer 401 to requests that do not carry
// key (as "Authorization: Bearer" or "x-api-key"). "" turns the check off.
func (s *Server) RequireAPIKey(key string) {
	if key == "" {
		s.key.Store(nil)
		return
	}
	s.key.Store(&key)
}

// SetRecording turns recording of requests on (the default) or off; a
// benchmark turns it off to save memory. Off, the buffer of a request's
// Body is reused as soon as the handler returns (not held through the
// turn's Delay) and Header is the live request's, so a handler must keep
// neither, nor return a Turn that points into Body.
func (s *Server) SetRecording(on bool) { s.record.Store(on) }

// SetParsing turns the parsing of request bodies on (the default) or off.
// Off, a handler sees only N, Protocol, Header and Body: benchmarks whose
// handler needs no more use it so that the fake server's own JSON decoding
// does not weigh on the measurement.
func (s *Server) SetParsing(on bool) { s.raw.Store(!on) }

// Requests returns the requests received so far, in arrival order.
func (s *Server) Requests() []*Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Request(nil), s.requests...)
}

// Count returns the number of requests received so far, recorded or not.
func (s *Server) Count() int { return int(s.n.Load()) }

// receive reads and parses a request, checks its key and records it. It
// answers the client itself and returns nil when the request goes no
// further.
func (s *Server) receive(w http.ResponseWriter, r *http.Request, protocol string) *Request {
	var keep *[]byte
	var body []byte
	var err error
	if lb, ok := r.Body.(*leanBody); ok { // the lean server has read it, into a pooled buffer when not recording
		body, keep, lb.keep = lb.b, lb.keep, nil
	} else {
		if !s.record.Load() {
			keep = bodies.Get().(*[]byte)
		}
		if body, err = readBody(r, keep); err != nil {
			return nil
		}
	}
	header := r.Header // valid while the reply is written, as long as an unrecorded request lives
	if keep == nil {
		header = header.Clone()
	}
	req := &Request{N: int(s.n.Add(1)), Protocol: protocol, Header: header, Body: body, keep: keep}
	if s.record.Load() {
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}
	if k := s.key.Load(); k != nil && !hasKey(r, *k) {
		writeError(w, protocol, 401, "", "")
		return nil
	}
	switch {
	case s.raw.Load():
	case protocol == "openai":
		err = parseOpenAI(req)
	default:
		err = parseAnthropic(req)
	}
	if err != nil {
		writeError(w, protocol, 400, "llmtest: "+err.Error(), "")
		return nil
	}
	return req
}

// bodies keeps the buffers of request bodies for the next request, when
// requests are not recorded.
var bodies = sync.Pool{New: func() any { return new([]byte) }}

// readBody reads up to 64 MiB of r's body, into a buffer of the announced
// length where there is one (io.ReadAll grows its buffer in steps): *keep,
// when keep is not nil and the buffer is big enough, and then *keep is
// where done gives it back.
func readBody(r *http.Request, keep *[]byte) ([]byte, error) {
	const most = 64 << 20
	if n := r.ContentLength; n > 0 && n <= most {
		var b []byte
		if keep != nil && int64(cap(*keep)) >= n {
			b = (*keep)[:n]
		} else {
			b = make([]byte, n)
			if keep != nil && n <= 1<<20 {
				*keep = b
			}
		}
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(io.LimitReader(r.Body, most))
}

// done gives back the body buffer of a request that was not recorded, once
// the handler has returned: so a handler must not keep Request.Body when
// recording is off. It may be called again.
func (s *Server) done(req *Request) {
	if req.keep != nil {
		bodies.Put(req.keep)
		req.keep, req.Body = nil, nil
	}
}

func hasKey(r *http.Request, key string) bool {
	return r.Header.Get("Authorization") == "Bearer "+key || r.Header.Get("x-api-key") == key
}

// prepare calls the handler, waits its delay and answers an error status.
// It returns false when the reply is already written or the client left.
func (s *Server) prepare(w http.ResponseWriter, r *http.Request, req *Request) (Turn, bool) {
	t := s.handler(req)
	s.done(req) // the handler was the last to read an unrecorded body
	if t.Delay > 0 && !wait(r.Context(), t.Delay) {
		return t, false
	}
	if t.Status != 0 && t.Status != 200 {
		if t.RetryAfter != "" {
			w.Header().Set("Retry-After", t.RetryAfter)
		}
		writeError(w, req.Protocol, t.Status, "", t.Body)
		return t, false
	}
	return t, true
}

func wait(ctx context.Context, d time.Duration) bool {
	if c, ok := ctx.(*leanCtx); ok {
		return c.sleep(d)
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// writeError answers status with body, or with an error object in the
// protocol's shape saying msg.
func writeError(w http.ResponseWriter, protocol string, status int, msg, body string) {
	if body == "" {
		if msg == "" {
			msg = http.StatusText(status)
			if status == 401 {
				msg = "invalid x-api-key"
			}
		}
		b, _ := json.Marshal(msg)
		if protocol == "anthropic" {
			body = `{"type":"error","error":{"type":"` + anthropicErrorType(status) + `","message":` + string(b) + `}}`
		} else {
			body = `{"error":{"message":` + string(b) + `,"type":"` + strings.ReplaceAll(strings.ToLower(http.StatusText(status)), " ", "_") + `"}}`
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func anthropicErrorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 429:
		return "rate_limit_error"
	case 529:
		return "overloaded_error"
	}
	return "api_error"
}

// hang waits until the client goes away or the server closes.
func hang(ctx context.Context) { <-ctx.Done() }

// estimate fills a zero usage from the sizes of the request and reply.
func estimate(u bulwark.Usage, req *Request, t Turn) bulwark.Usage {
	if u != (bulwark.Usage{}) {
		return u
	}
	out := len(t.Content)
	for _, c := range t.ToolCalls {
		out += len(c.Name) + len(c.Arguments)
	}
	return bulwark.Usage{InputTokens: len(req.Body)/4 + 1, OutputTokens: out/4 + 1}
}

// split cuts s into pieces: words for a normal stream, one to three bytes
// with SmallChunks, at rune boundaries.
func split(s string, small bool) []string {
	var out []string
	for len(s) > 0 {
		n := 0
		if small {
			n = 1 + len(out)%3
		} else if i := strings.IndexAny(s[1:], " \n"); i >= 0 {
			n = i + 1
		} else {
			n = len(s)
		}
		n = min(n, len(s))
		for n < len(s) && s[n]&0xC0 == 0x80 {
			n++
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return out
}
