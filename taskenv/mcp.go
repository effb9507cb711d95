package taskenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/mcpclient"
	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
)

// mcpPrefix starts the names of every MCP tool: the group of tools the
// session's list replaces when a server changes its own.
const mcpPrefix = "mcp__"

// mcpWorkspaceRoot is the root offered to MCP servers: the task workspace
// as a sandboxed server sees it.
const mcpWorkspaceRoot = "file:///workspace"

// connectMCP starts the task's MCP servers and adds their tools to e.Tools.
// A stdio server runs in a sandbox of its own for the task's life (see
// mcpProcs); when the host cannot sandbox, stdio servers are refused with
// the reason, unless the operator turned the sandbox off. Its log
// messages and progress go to the task's events through notes.
func (e *Env) connectMCP(ctx context.Context, o Options, ts *taskSecrets, sb *taskSandbox, notes *notifications) error {
	cfg, intercept, err := bindMCPSecrets(o.MCP, ts)
	if err != nil {
		return err
	}
	mo := mcpclient.Options{
		Secrets:      ts.values,
		AllowDomains: o.FetchDomains,
		Dial:         o.MCPDial,
		Roots:        []string{mcpWorkspaceRoot},
		OnLog: func(server, level, text string) {
			notes.send(bulwark.Event{Type: bulwark.EventMCPLog, Tool: server, Text: "[" + level + "] " + text})
		},
		OnProgress: func(server, name string, progress, total float64, message string) {
			// The event names the tool as the task knows it, so that the
			// progress goes with the running call.
			if !strings.HasPrefix(name, mcpPrefix) {
				name = mcpPrefix + server + "__" + name
			}
			notes.send(bulwark.Event{Type: bulwark.EventToolProgress, Tool: name, Text: progressText(progress, total, message)})
		},
	}
	procs := &mcpProcs{workspace: o.Workspace.Path(), domains: o.Sandbox.AllowDomains, onEgress: sb.spec.OnEgress,
		notes: notes, tenant: o.Tenant, onEnd: sb.onRun, tails: map[string]*stderrTail{},
		trusted: map[string]bool{}, allowExec: o.Sandbox.AllowExec, intercept: intercept,
		hide: code.FilesDeniedToAll(o.Policy), workspaceFiles: sb.spec.WorkspaceFiles, running: map[string]*mcpProc{}}
	if len(procs.allowExec) == 0 {
		procs.allowExec = sandbox.AllowedCommands()
	}
	for _, sv := range cfg.Servers {
		procs.trusted[sv.Name] = sv.Trusted
	}
	// With the sandbox off (BULWARK_SANDBOX=off), sandbox.Start runs
	// the server as a plain process, with the warning.
	if sb.problem != "" && !o.Sandbox.Off {
		mo.SandboxProblem = sb.problem
	} else {
		mo.Start, mo.Guard = procs.start, procs.guard
		e.Uploading = procs.uploading
	}
	s, err := mcpclient.Connect(ctx, cfg, mo)
	if err != nil {
		return procs.explain(err)
	}
	e.closers = append(e.closers, func() {
		if err := s.Close(); err != nil {
			slog.Warn("MCP servers not closed cleanly", "task", o.TaskID, "err", err)
		}
	})
	reg := e.Tools
	if err := setMCPTools(reg, s.Tools()); err != nil {
		return err
	}
	s.OnToolsChanged(func() {
		if err := setMCPTools(reg, s.Tools()); err != nil {
			slog.Warn("the MCP tools could not be refreshed", "task", o.TaskID, "err", err)
		}
	})
	return nil
}

// setMCPTools makes tools the registry's MCP tools, replacing the ones
// it had as one change (safe while the agent reads the registry).
func setMCPTools(reg *tool.Registry, tools []tool.Tool) error {
	return reg.SetGroup(mcpPrefix, tools)
}

// progressText is how a progress notification reads: "3/10 message",
// "3 message" when the total is unknown.
func progressText(progress, total float64, message string) string {
	s := fmt.Sprintf("%g", progress)
	if total > 0 {
		s += fmt.Sprintf("/%g", total)
	}
	if message != "" {
		s += " " + message
	}
	return s
}

// mcpProcs starts the stdio MCP servers of one task.
type mcpProcs struct {
	workspace string
	domains   []string
	onEgress  func(egress.Event)
	notes     *notifications
	tenant    string
	// onEnd is told how a sandboxed server ended, for the audit log
	// (nil: not audited).
	onEnd func(cmd []string, r *sandbox.Result) error

	// trusted are the servers of the operator's configs; the command of
	// any other (a tenant's) must be one the task's commands may run
	// (allowExec): a tenant's settings do not widen its command allowlist.
	trusted   map[string]bool
	allowExec []string
	// intercept puts the bound secrets of the servers' env into their
	// HTTPS requests to the secrets' hosts (see bindMCPSecrets).
	intercept *egress.Intercept
	// hide are the patterns of the workspace's files that the servers'
	// sandboxes cover (sandbox.Spec.Hide): those of the policy's deny
	// rules for every tool (code.FilesDeniedToAll). A server serves
	// tools of its own, whose rules match their arguments, not paths.
	hide []string
	// workspaceFiles bounds the look through the workspace for them, as
	// for the task's commands (sandbox.Spec.WorkspaceFiles).
	workspaceFiles int64

	mu      sync.Mutex
	tails   map[string]*stderrTail
	running map[string]*mcpProc // by server
}

// mcpProc is a running stdio server of the task.
type mcpProc struct {
	server string
	p      *sandbox.Process
	pipe   io.Closer

	mu      sync.Mutex
	exposed error // set once the server could reach a hidden file: for good
}

// guard is mcpclient.Options.Guard: a server whose sandbox no longer
// covers every file the policy hides (one named so after the server
// started, which lives in the mount namespace of its start) is stopped,
// and its calls are refused (and an answer it gave meanwhile withheld)
// for the rest of the task. Its tools go with it: what it read is in its
// memory, and a later call could return it.
func (m *mcpProcs) guard(server string) error {
	m.mu.Lock()
	sp := m.running[server]
	m.mu.Unlock()
	if sp == nil {
		return bulwark.Errorf(bulwark.Internal, "taskenv.mcp", "MCP server %s: not started by the task", server)
	}
	return sp.check()
}

// uploading is told of a file a person uploads to the running task (its
// workspace path, clean), before it is written: a server whose sandbox
// would not hide it (its name, or a folder's above it, matches a pattern
// of m.hide, and no folder above it that its sandbox covers holds it) is
// stopped first, as guard would at its next call. The host knows the
// name before any server can reach the file, where a look at the next
// call comes too late for a server that moves such a file to an unhidden
// name the moment it appears (a process it left running).
func (m *mcpProcs) uploading(rel string) {
	if len(m.hide) == 0 {
		return
	}
	m.mu.Lock()
	procs := slices.Collect(maps.Values(m.running))
	m.mu.Unlock()
	for _, sp := range procs {
		if q := m.exposedBy(sp, rel); q != "" {
			sp.stop(fmt.Sprintf("%s, which the policy's deny rules hide, was uploaded after the server started, and the server's sandbox hides only what was there at its start", q))
		}
	}
}

// exposedBy returns the first of rel and the folders above it (outer
// first) whose name matches m.hide, unless a folder above rel that sp's
// sandbox covers comes first; "" if none.
func (m *mcpProcs) exposedBy(sp *mcpProc, rel string) string {
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] != '/' {
			continue
		}
		q := rel[:i]
		if !slices.ContainsFunc(m.hide, func(p string) bool { return bulwark.Glob(p, q) }) {
			continue
		}
		if q != rel && sp.p.Covers(q) {
			return ""
		}
		return q
	}
	return ""
}

// stop stops sp for the rest of the task, for the reason why.
func (sp *mcpProc) stop(why string) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.exposed != nil {
		return
	}
	sp.exposed = bulwark.Errorf(bulwark.PermissionDenied, "taskenv.mcp",
		"MCP server %s is stopped for the rest of the task: %s", sp.server, why)
	slog.Warn("MCP server stopped: it could reach files the policy hides", "server", sp.server, "reason", why)
	sp.pipe.Close()
}

func (sp *mcpProc) check() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.exposed != nil {
		return sp.exposed
	}
	path, err := sp.p.Uncovered()
	if err == nil && path == "" {
		return nil
	}
	why := fmt.Sprintf("%s, which the policy's deny rules hide, got its name after the server started, and the server's sandbox hides only what was there at its start", path)
	if err != nil {
		why = "the workspace cannot be looked through for the files the policy's deny rules hide: " + bulwark.ErrorMessage(err)
	}
	sp.exposed = bulwark.Errorf(bulwark.PermissionDenied, "taskenv.mcp",
		"MCP server %s is stopped for the rest of the task: %s", sp.server, why)
	slog.Warn("MCP server stopped: it could reach files the policy hides", "server", sp.server, "reason", why)
	sp.pipe.Close()
	return sp.exposed
}

// check refuses the command of a tenant's server that the task's command
// allowlist does not hold.
func (m *mcpProcs) check(server, cmd string) error {
	if m.trusted[server] {
		return nil
	}
	want := realPath(cmd)
	for _, a := range m.allowExec {
		if !filepath.IsAbs(a) {
			found, err := exec.LookPath(a)
			if err != nil {
				continue
			}
			a = found
		}
		if realPath(a) == want {
			return nil
		}
	}
	return bulwark.Errorf(bulwark.PermissionDenied, "taskenv.mcp",
		"MCP server %s: its command %s is not one the task's commands may run (the allowed commands)", server, filepath.Base(cmd))
}

// realPath is path with its symbolic links followed, or path.
func realPath(path string) string {
	if r, err := filepath.EvalSymlinks(path); err == nil {
		return r
	}
	return path
}

// start starts a stdio server in a sandbox of its own, bound to the
// task's workspace: it may run its own command, the interpreters its #!
// line needs and what the operator listed for it; it sees PATH, HOME,
// LANG, the sandbox's git variables and its configured env only; it reaches the network only through
// the egress proxy, to the task's domains (none: no network); it finds
// the workspace's files that m.hide names covered, as they were when it
// started (guard tells when that no longer holds).
func (m *mcpProcs) start(ctx context.Context, p mcpclient.Process) (io.ReadWriteCloser, error) {
	argv, allow, err := mcpExec(p)
	if err != nil {
		return nil, err
	}
	if err := m.check(p.Server, argv[0]); err != nil {
		return nil, err
	}
	spec := sandbox.Spec{Workspace: m.workspace, AllowExec: allow, ReadOnly: p.ReadOnly, Env: p.Env, OnEgress: m.onEgress,
		Hide: m.hide, WorkspaceFiles: m.workspaceFiles}
	if len(m.domains) > 0 {
		spec.Net, spec.AllowDomains, spec.Intercept = sandbox.NetProxy, m.domains, m.intercept
	}
	proc, err := sandbox.Start(ctx, spec, argv)
	if err != nil {
		return nil, err
	}
	tail := m.tail(p.Server)
	go func() {
		io.Copy(tail, proc.Stderr())
		close(tail.done)
	}()
	pipe := &sandboxPipe{p: proc, in: proc.Stdin(), out: proc.Stdout()}
	m.mu.Lock()
	m.running[p.Server] = &mcpProc{server: p.Server, p: proc, pipe: pipe}
	m.mu.Unlock()
	go func() {
		// How the server ended goes to the audit log, as a sandboxed
		// command's run does.
		r, _ := proc.Wait()
		if r == nil {
			return
		}
		countSandbox(r, m.tenant)
		if m.onEnd != nil {
			if err := m.onEnd(argv, r); err != nil {
				slog.Error("audit record of an MCP server not written", "server", p.Server, "err", err)
			}
		}
	}()
	return pipe, nil
}

// tail returns the stderr keeper of server, new.
func (m *mcpProcs) tail(server string) *stderrTail {
	t := &stderrTail{server: server, notes: m.notes, done: make(chan struct{})}
	m.mu.Lock()
	m.tails[server] = t
	m.mu.Unlock()
	return t
}

// explain adds to a failure to start the servers what the server it
// names last wrote to its stderr (why it exited, as a rule).
func (m *mcpProcs) explain(err error) error {
	msg := bulwark.ErrorMessage(err)
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, t := range m.tails {
		if !strings.Contains(msg, name) {
			continue
		}
		// The client may see the pipe close before the last of stderr
		// is read: wait a little for the end of it.
		select {
		case <-t.done:
		case <-time.After(stderrGrace):
		}
		if last := t.last(); last != "" {
			return bulwark.E(bulwark.ErrorKind(err), "taskenv.mcp", msg+"; its last words on stderr: "+last, err)
		}
	}
	return err
}

// stderrTail takes what a server writes to stderr: each line becomes an
// mcp_log event ("[stderr] ..."), and the last few hundred bytes are kept
// to explain a failure to start.
type stderrTail struct {
	server string
	notes  *notifications

	done chan struct{} // closed when the server's stderr ends

	mu      sync.Mutex
	partial []byte
	recent  []byte
}

// stderrGrace is how long a failure to start waits for the end of the
// server's stderr, to say why it failed.
const stderrGrace = 2 * time.Second

// maxTail is how much of a server's stderr is kept, in bytes.
const maxTail = 400

func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recent = append(t.recent, p...)
	if len(t.recent) > maxTail {
		t.recent = t.recent[len(t.recent)-maxTail:]
	}
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		if line := strings.TrimSpace(string(t.partial[:i])); line != "" {
			t.notes.send(bulwark.Event{Type: bulwark.EventMCPLog, Tool: t.server, Text: "[stderr] " + line})
		}
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > maxTail {
		t.partial = t.partial[:0] // a line without end: kept in recent only
	}
	return len(p), nil
}

// last is the end of what the server wrote, on one line.
func (t *stderrTail) last() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(t.recent), "?")), " ")
	if len(s) > 300 {
		s = "…" + s[len(s)-300:]
	}
	return s
}

// mcpExec resolves the command of p (a name is looked up on PATH, as the
// sandbox's PATH holds the same system folders) and returns its argv and
// the executables it may run: itself (and the file a symbolic link names),
// its interpreters, and the operator's AllowExec.
func mcpExec(p mcpclient.Process) (argv, allow []string, err error) {
	if len(p.Argv) == 0 || p.Argv[0] == "" {
		return nil, nil, bulwark.Errorf(bulwark.Invalid, "taskenv.mcp", "MCP server %s: no command", p.Server)
	}
	cmd := p.Argv[0]
	if !filepath.IsAbs(cmd) {
		if strings.Contains(cmd, "/") {
			return nil, nil, bulwark.Errorf(bulwark.Invalid, "taskenv.mcp",
				"MCP server %s: the command %q must be a name found on PATH or an absolute path", p.Server, cmd)
		}
		found, err := exec.LookPath(cmd)
		if err != nil {
			return nil, nil, bulwark.Errorf(bulwark.Invalid, "taskenv.mcp", "MCP server %s: the command %q is not installed on this host", p.Server, cmd)
		}
		if cmd, err = filepath.Abs(found); err != nil {
			return nil, nil, bulwark.Errorf(bulwark.Invalid, "taskenv.mcp", "MCP server %s: the command %q cannot be found", p.Server, p.Argv[0])
		}
	}
	allow = []string{cmd}
	if real, err := filepath.EvalSymlinks(cmd); err == nil && real != cmd {
		allow = append(allow, real)
	}
	allow = append(allow, sandbox.Interpreters(cmd)...)
	allow = append(allow, p.AllowExec...)
	argv = append([]string{cmd}, p.Argv[1:]...)
	slices.Sort(allow)
	return argv, slices.Compact(allow), nil
}

// sandboxPipe is a sandboxed server's stdin and stdout as one pipe.
type sandboxPipe struct {
	p    *sandbox.Process
	in   io.WriteCloser
	out  io.ReadCloser
	once sync.Once
}

func (s *sandboxPipe) Read(b []byte) (int, error)  { return s.out.Read(b) }
func (s *sandboxPipe) Write(b []byte) (int, error) { return s.in.Write(b) }

// Close ends the server: its stdin closes, and its whole process tree is
// killed.
func (s *sandboxPipe) Close() error {
	s.once.Do(func() {
		s.in.Close()
		s.p.Kill()
		s.p.Wait()
	})
	return nil
}

// maxEarlyNotes bounds the notifications kept until a run attaches (a
// server's start-up log messages).
const maxEarlyNotes = 50

// notifications carries the events of the task's MCP servers to the agent
// run attached to them (agent.Config.Notifications); those sent before a
// run attaches wait for it, up to maxEarlyNotes, and those sent between
// runs are dropped.
type notifications struct {
	mu       sync.Mutex
	to       func(bulwark.Event)
	early    []bulwark.Event
	attached bool
}

func (n *notifications) send(e bulwark.Event) {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.to != nil:
		n.to(e)
	case !n.attached && len(n.early) < maxEarlyNotes && e.Type == bulwark.EventMCPLog:
		n.early = append(n.early, e)
	}
}

// attach is agent.Config.Notifications.
func (n *notifications) attach(send func(bulwark.Event)) func() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.to, n.attached = send, true
	for _, e := range n.early {
		send(e)
	}
	n.early = nil
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.to = nil
	}
}
