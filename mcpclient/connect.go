//lint:file-ignore SA1019 MCP servers that speak protocol versions before 2026-07-28 still use roots, sampling and logging, which the SDK marks deprecated; Bulwark keeps answering them until the SDK drops them

package mcpclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// DefaultStartTimeout bounds the start of one server (Options.StartTimeout).
const DefaultStartTimeout = 30 * time.Second

// DefaultCallTimeout bounds one tool call (Options.CallTimeout): a server
// that never answers held the task until its whole time budget ran out
// (30 minutes by default; red team, session 42).
const DefaultCallTimeout = 10 * time.Minute

// Process is a stdio server to start in a sandbox.
type Process struct {
	Server    string
	Argv      []string // Command and Args
	Env       []string // KEY=VALUE: the configured env, placeholders filled; nothing of the host's
	ReadOnly  []string
	AllowExec []string
}

// StartFunc starts p in a sandbox for the session's life; the returned
// pipe is its stdin (Write) and stdout (Read); Close kills it. ctx ends
// when the session is closed.
type StartFunc func(ctx context.Context, p Process) (io.ReadWriteCloser, error)

// Options are what Connect needs besides the configuration.
type Options struct {
	Secrets        map[string]string // tenant's secret values for {{secret:NAME}}
	AllowDomains   []string          // tenant egress allowlist: an untrusted URL's host must be in it, and public
	Dial           egress.DialFunc   // tests only; nil: SSRF-checking dialer for untrusted URLs, plain dialer for trusted
	Start          StartFunc         // nil: stdio servers are refused with SandboxProblem
	SandboxProblem string
	Roots          []string // roots offered to servers, e.g. "file:///workspace"
	OnLog          func(server, level, text string)
	OnProgress     func(server, tool string, progress, total float64, message string)
	StartTimeout   time.Duration // 0: 30 s per server
	CallTimeout    time.Duration // 0: DefaultCallTimeout per tool call
	// Guard, if set, is asked before each call of a stdio server's tool
	// and again once the server answered, before the answer is used: an
	// error refuses the call, or withholds the answer (the error is the
	// call's). taskenv refuses there a server that may reach files the
	// policy hides that appeared after it started.
	Guard func(server string) error
}

// Session is the connection to the servers of a Config. Close it.
type Session struct {
	opts    Options
	mask    func(string) string
	cancel  context.CancelFunc
	servers []*server // by name

	mu        sync.Mutex
	onChanged []func()
	progress  map[string]progressCall // by progress token
	nextToken uint64
	closed    bool
}

// progressGrace is how long after a call its progress is still reported.
const progressGrace = 5 * time.Second

// progressCall is the call a progress token was sent with.
type progressCall struct{ server, tool string }

// server is one connected server.
type server struct {
	s      *Session
	cfg    Server
	cs     *mcp.ClientSession
	life   context.Context    // the server's life: ends when it is closed
	cancel context.CancelFunc // ends life
	pipe   io.Closer          // the stdio process, if any

	mu       sync.Mutex
	tools    []tool.Tool
	refresh  chan struct{}
	refreshG sync.WaitGroup
}

// Connect starts every server of cfg, all at once, each within
// o.StartTimeout. A server that fails makes Connect fail, with an error
// (kind Invalid for a configuration the options refuse, Unavailable for a
// server that does not start or answer) naming it and the reason, its
// secret values masked; the servers that did start are closed again.
func Connect(ctx context.Context, cfg Config, o Options) (*Session, error) {
	const op = "mcpclient.Connect"
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	allow, err := egress.ParseAllowlist(o.AllowDomains)
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, op, "the allowed domains cannot be read: "+err.Error(), err)
	}
	life, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Session{opts: o, mask: masker(o.Secrets), cancel: cancel, progress: map[string]progressCall{}}
	servers := make([]*server, len(cfg.Servers))
	errs := make([]error, len(cfg.Servers))
	var wg sync.WaitGroup
	for i, sc := range cfg.Servers {
		wg.Go(func() {
			start, stop := context.WithTimeout(ctx, o.StartTimeout)
			defer stop()
			servers[i], errs[i] = s.connect(start, life, sc, allow)
		})
	}
	wg.Wait()
	for _, sv := range servers {
		if sv != nil {
			s.servers = append(s.servers, sv)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.Close()
		for _, e := range errs {
			if e != nil {
				return nil, e
			}
		}
	}
	return s, nil
}

// connect starts one server: start bounds the start, life the server's
// life.
func (s *Session) connect(start, life context.Context, sc Server, allow egress.Allowlist) (*server, error) {
	const op = "mcpclient.Connect"
	fail := func(kind bulwark.Kind, reason string, err error) error {
		msg := fmt.Sprintf("MCP server %q did not start: %s", sc.Name, s.mask(reason))
		var cause error
		if err != nil {
			cause = errors.New(s.mask(err.Error()))
		}
		return bulwark.E(kind, op, msg, cause)
	}
	life, cancel := context.WithCancel(life)
	sv := &server{s: s, cfg: sc, life: life, cancel: cancel, refresh: make(chan struct{}, 1)}
	client := s.newClient(sv)
	var transports []mcp.Transport
	if sc.Command != "" {
		if s.opts.Start == nil {
			cancel()
			reason := "stdio MCP servers cannot run here: " + s.opts.SandboxProblem
			if s.opts.SandboxProblem == "" {
				reason = "stdio MCP servers cannot run here: there is no sandbox"
			}
			return nil, fail(bulwark.Unavailable, reason, nil)
		}
		p := Process{Server: sc.Name, Argv: append([]string{sc.Command}, sc.Args...),
			ReadOnly: slices.Clone(sc.ReadOnly), AllowExec: slices.Clone(sc.AllowExec)}
		for _, k := range slices.Sorted(maps.Keys(sc.Env)) {
			v, err := fill(sc.Name, "env", sc.Env[k], s.opts.Secrets)
			if err != nil {
				cancel()
				return nil, err
			}
			p.Env = append(p.Env, k+"="+v)
		}
		pipe, err := startProcess(start, life, s.opts.Start, p)
		if err != nil {
			cancel()
			return nil, fail(bulwark.Unavailable, "its process did not start: "+reasonOf(err), err)
		}
		pipe = &onceCloser{ReadWriteCloser: pipe}
		sv.pipe = pipe
		transports = []mcp.Transport{&mcp.IOTransport{Reader: throttle(life, pipe), Writer: nopCloser{pipe}, MaxLineLength: maxServerMessage}}
	} else {
		hc, err := s.httpClient(sc, allow)
		if err != nil {
			cancel()
			return nil, err
		}
		transports = []mcp.Transport{
			&mcp.StreamableClientTransport{Endpoint: sc.URL, HTTPClient: hc, MaxRetries: 2},
			&lifeTransport{life: life, t: &mcp.SSEClientTransport{Endpoint: sc.URL, HTTPClient: hc}},
		}
	}
	var firstErr error
	for _, t := range transports {
		cs, err := client.Connect(start, t, nil)
		if err == nil {
			sv.cs = cs
			break
		}
		if firstErr == nil {
			firstErr = err
		}
		var refused *refusal
		if errors.As(err, &refused) || start.Err() != nil {
			break
		}
	}
	if sv.cs == nil {
		sv.close()
		var refused *refusal
		switch {
		case errors.As(firstErr, &refused):
			return nil, fail(refused.kind, refused.msg, firstErr)
		case start.Err() != nil:
			return nil, fail(bulwark.Unavailable, fmt.Sprintf("no answer within %s", s.opts.StartTimeout), firstErr)
		}
		return nil, fail(bulwark.Unavailable, reasonOf(firstErr), firstErr)
	}
	if caps := sv.cs.InitializeResult().Capabilities; caps != nil && caps.Logging != nil && s.opts.OnLog != nil {
		_ = sv.cs.SetLoggingLevel(start, &mcp.SetLoggingLevelParams{Level: "info"})
	}
	if err := sv.list(start); err != nil {
		sv.close()
		if start.Err() != nil {
			return nil, fail(bulwark.Unavailable, fmt.Sprintf("its tools were not listed within %s", s.opts.StartTimeout), err)
		}
		return nil, fail(bulwark.Unavailable, "its tools could not be listed: "+reasonOf(err), err)
	}
	sv.refreshG.Go(sv.refresher)
	return sv, nil
}

// reasonOf is the message of err for people, without Go's wrapping noise.
func reasonOf(err error) string {
	if err == nil {
		return "unknown error"
	}
	var e *bulwark.Error
	msg := err.Error()
	if errors.As(err, &e) {
		msg = bulwark.ErrorMessage(err)
	}
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	return msg
}

// startProcess runs start within the start context, while the process
// lives as long as life.
func startProcess(startCtx, life context.Context, start StartFunc, p Process) (io.ReadWriteCloser, error) {
	type result struct {
		pipe io.ReadWriteCloser
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		pipe, err := start(life, p)
		ch <- result{pipe, err}
	}()
	select {
	case r := <-ch:
		return r.pipe, r.err
	case <-startCtx.Done():
		go func() {
			if r := <-ch; r.pipe != nil {
				r.pipe.Close()
			}
		}()
		return nil, startCtx.Err()
	}
}

// onceCloser closes a StartFunc's pipe once, however often it is asked.
type onceCloser struct {
	io.ReadWriteCloser
	once sync.Once
	err  error
}

func (c *onceCloser) Close() error {
	c.once.Do(func() { c.err = c.ReadWriteCloser.Close() })
	return c.err
}

// nopCloser keeps IOTransport from closing the pipe twice (it closes its
// Reader and its Writer); server.close closes it once.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// lifeTransport connects t under the server's life rather than the start
// context: the SSE transport keeps its stream on the context it connects
// with, and the start context ends when the start is over.
type lifeTransport struct {
	life context.Context
	t    mcp.Transport
}

func (l *lifeTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	type result struct {
		c   mcp.Connection
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := l.t.Connect(l.life)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// newClient is the MCP client of sv: roots only, no sampling or
// elicitation (a request for them is refused), notifications routed to
// the session's callbacks.
func (s *Session) newClient(sv *server) *mcp.Client {
	caps := &mcp.ClientCapabilities{}
	if len(s.opts.Roots) > 0 {
		caps.RootsV2 = &mcp.RootCapabilities{}
	}
	opts := &mcp.ClientOptions{
		Capabilities: caps,
		ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) {
			select {
			case sv.refresh <- struct{}{}:
			default:
			}
		},
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
			if s.opts.OnLog == nil || req.Params == nil {
				return
			}
			s.opts.OnLog(sv.cfg.Name, string(req.Params.Level), s.mask(logText(req.Params)))
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			if s.opts.OnProgress == nil || req.Params == nil {
				return
			}
			s.mu.Lock()
			call, ok := s.progress[fmt.Sprint(req.Params.ProgressToken)]
			s.mu.Unlock()
			if !ok || call.server != sv.cfg.Name {
				return // not a call of ours: a server cannot report on another's
			}
			s.opts.OnProgress(call.server, call.tool, req.Params.Progress, req.Params.Total, s.mask(capText(req.Params.Message, 500)))
		},
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "bulwark", Version: "1"}, opts)
	var roots []*mcp.Root
	for _, r := range s.opts.Roots {
		roots = append(roots, &mcp.Root{URI: r})
	}
	c.AddRoots(roots...)
	c.AddReceivingMiddleware(refuseSteering)
	return c
}

// refuseSteering answers a server's sampling and elicitation requests with
// an error: they would let a server put words to the model or questions to
// a person, and Bulwark does not offer them.
func refuseSteering(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		switch method {
		case "sampling/createMessage":
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest,
				Message: "Bulwark refuses sampling requests: an MCP server may not ask the model for text"}
		case "elicitation/create":
			return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest,
				Message: "Bulwark refuses elicitation requests: an MCP server may not ask the user questions"}
		}
		return next(ctx, method, req)
	}
}

// logText is a log notification's data as one line of text.
func logText(p *mcp.LoggingMessageParams) string {
	var text string
	switch d := p.Data.(type) {
	case string:
		text = d
	default:
		text = compactJSON(d)
	}
	if p.Logger != "" {
		text = p.Logger + ": " + text
	}
	return capText(text, 2000)
}

// masker returns a function that replaces the secret values in a text with
// their placeholders, longest first.
func masker(secrets map[string]string) func(string) string {
	type pair struct{ name, value string }
	var pairs []pair
	for n, v := range secrets {
		if len(v) >= 4 {
			pairs = append(pairs, pair{n, v})
		}
	}
	sort.Slice(pairs, func(i, j int) bool {
		if len(pairs[i].value) != len(pairs[j].value) {
			return len(pairs[i].value) > len(pairs[j].value)
		}
		return pairs[i].name < pairs[j].name
	})
	return func(s string) string {
		for _, p := range pairs {
			s = strings.ReplaceAll(s, p.value, "{{secret:"+p.name+"}}")
		}
		return s
	}
}

// OnToolsChanged registers f, called (from another goroutine) after a
// server's tool list was refreshed because the server said it changed.
func (s *Session) OnToolsChanged(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChanged = append(s.onChanged, f)
}

// Tools returns the current tools of every server, named
// "mcp__SERVER__TOOL", by server name and in each server's order.
func (s *Session) Tools() []tool.Tool {
	var list []tool.Tool
	for _, sv := range s.servers {
		sv.mu.Lock()
		list = append(list, sv.tools...)
		sv.mu.Unlock()
	}
	return list
}

// Close ends every server's session and process. It is safe to call more
// than once.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, sv := range s.servers {
		wg.Go(sv.close)
	}
	wg.Wait()
	s.cancel()
	return nil
}

// guard asks Options.Guard about a call of sv's, a stdio server.
func (sv *server) guard() error {
	if sv.pipe == nil || sv.s.opts.Guard == nil {
		return nil
	}
	return sv.s.opts.Guard(sv.cfg.Name)
}

// close ends sv's process, then its session and transport: the
// session's Close waits for every notification the server queued, and
// the process, closed after, went on running (in its sandbox) and sending
// until they were handled.
func (sv *server) close() {
	if sv.pipe != nil {
		sv.pipe.Close()
	}
	sv.cancel()
	if sv.cs != nil {
		sv.cs.Close()
	}
	sv.refreshG.Wait()
}

// refresher lists sv's tools again each time the server says they
// changed, until sv is closed.
func (sv *server) refresher() {
	for {
		select {
		case <-sv.life.Done():
			return
		case <-sv.refresh:
		}
		ctx, cancel := context.WithTimeout(sv.life, sv.s.opts.StartTimeout)
		err := sv.list(ctx)
		cancel()
		if err != nil {
			if sv.s.opts.OnLog != nil {
				sv.s.opts.OnLog(sv.cfg.Name, "error", sv.s.mask("Bulwark could not list the server's changed tools: "+reasonOf(err)))
			}
			continue
		}
		sv.s.mu.Lock()
		fs := slices.Clone(sv.s.onChanged)
		sv.s.mu.Unlock()
		for _, f := range fs {
			f()
		}
		// A server that says its tools changed without pause would keep
		// both sides listing: the changes of refreshGap make one refresh.
		select {
		case <-sv.life.Done():
			return
		case <-time.After(refreshGap):
		}
	}
}

// refreshGap is the least time between two listings of a server's
// changed tools.
var refreshGap = 500 * time.Millisecond

// token registers a progress token for a call of tool on sv; the returned
// function forgets it.
func (s *Session) token(server, tool string) (string, func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextToken++
	tok := fmt.Sprintf("bulwark-%d", s.nextToken)
	s.progress[tok] = progressCall{server, tool}
	// Notifications are handled apart from the answer and may come
	// after it: forget the token a little later.
	return tok, func() {
		time.AfterFunc(progressGrace, func() {
			s.mu.Lock()
			delete(s.progress, tok)
			s.mu.Unlock()
		})
	}
}
