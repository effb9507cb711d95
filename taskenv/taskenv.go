// Package taskenv assembles what one task runs with, the same way for
// every entry point (bulwark run and bulwark serve): its tools, its
// sandbox, its secrets and the rules by which they reach the tools, the
// masking of its outputs, and the audit records of its sandboxed commands
// and network connections. What differs between entry points (the model
// and its key, the approval function, the terminal view, the workspace,
// the audit log, the settings) is passed in; nothing here reads the
// process's environment.
package taskenv

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/mcpclient"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/skill"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
	"github.com/bulwark-agents/bulwark/tool/web"
	"github.com/bulwark-agents/bulwark/workspace"
)

// Auditor appends audit records: *audit.Chains.
type Auditor interface {
	Append(ctx context.Context, r audit.Record) error
}

// Options are what one task is assembled from.
type Options struct {
	Tenant string // the tenant's id
	TaskID string
	// Model is the task's model, opened by the caller with the key the
	// caller chose (the operator's environment for bulwark run; the
	// tenant's own key, or a metered shared one, for bulwark serve).
	Model llm.Model
	// Workspace is the task's folder.
	Workspace *workspace.Workspace
	// Secrets are the tenant's secrets offered to tools ({{secret:NAME}}).
	Secrets []bulwark.Secret
	// Masked are values masked in everything the task shows but not
	// offered to tools (the provider's API key), by name.
	Masked map[string]string
	// InSandbox is the operator's opt-in to putting unbound secrets into
	// sandboxed code (BULWARK_SECRETS_IN_SANDBOX).
	InSandbox bool
	// SecretTools are the tools that may use secrets.
	SecretTools []string
	// FetchDomains are the domains fetch_url may reach; none: no fetch_url.
	FetchDomains []string
	// FetchDial replaces fetch_url's dialer (tests); nil: the SSRF-checking
	// egress dialer.
	FetchDial egress.DialFunc
	Sandbox   SandboxOptions
	Policy    bulwark.Policy
	Limits    bulwark.Limits
	// Taint is the task's taint mode (the stricter of the operator's and
	// the tenant's); Spotlight how its untrusted text is marked. See
	// agent.Config.
	Taint     bulwark.TaintMode
	Spotlight guard.SpotlightMode
	// Instructions are the caller's own, put before the secrets' ones.
	Instructions string
	// Audit receives the records of the task's sandboxed commands and
	// network connections; nil: not audited (BULWARK_AUDIT=off).
	Audit Auditor
	// LogMask, when set, is the process's log redactor: the task's secret
	// values are added to it, under labels of this task (LogPrefix+NAME),
	// for the task's life, and removed by Close.
	LogMask   *secret.Redactor
	LogPrefix string
	// MCP are the task's MCP servers, the operator's and the tenant's
	// merged by the caller; their tools are added to the task's as
	// mcp__SERVER__TOOL. A server that does not start fails New with its
	// name and the reason.
	MCP mcpclient.Config
	// MCPDial replaces the dialer of the MCP servers' URLs (tests); nil:
	// mcpclient's (SSRF-checking for a tenant's servers).
	MCPDial egress.DialFunc
	// Search is the operator's search backend; web_search is offered
	// when it is configured. Its key is masked like the provider's.
	Search web.SearchConfig
	// Memory is the tenant's memory store: with it, the task has the
	// remember, recall and forget tools (tool/memory), as User.
	Memory bulwark.MemoryStore
	// User is the user the task runs as (its memories' owner); "": none,
	// and the task keeps tenant-wide memories only.
	User string
	// Watch, when set, tells the task that its tenant's secrets may have
	// changed (secretwatch.Watcher.Watch, from SecretsSeen: the version
	// read before Secrets were), and Reread reads them again. Each value
	// the task's redactor does not hold is added to it, and to LogMask: a
	// secret added while the task runs is masked from then on in what the
	// model is sent and what the task shows. A value deleted or replaced
	// stays masked until the task ends. A secret of the task deleted or
	// changed since (its value, hosts or where it may go) is not put in
	// any more, by the tools nor by the sandbox's proxy. Neither offers a
	// new secret to the task's tools.
	Watch       func(since uint64, changed func()) (stop func())
	SecretsSeen uint64
	Reread      func(ctx context.Context) ([]bulwark.Secret, error)
	// Skills are the task's skills, the operator's and the tenant's
	// (skill.NewSet): their names and descriptions go into the
	// instructions, and load_skill and read_skill_file are added. None:
	// neither.
	Skills *skill.Set
}

// Env is one assembled task: what agent.Config and runner.Setup need.
// Close releases it (the sandbox pool, the log redactor's values).
type Env struct {
	Model        llm.Model
	Tools        *tool.Registry
	Exec         func(ctx context.Context, cmd []string) (*tool.ExecResult, error)
	Policy       bulwark.Policy
	Limits       bulwark.Limits
	Instructions string
	Secrets      map[string]string
	SecretTools  []string
	SecretArgs   func(tool string, args json.RawMessage) (json.RawMessage, error)
	Mask         func(string) string
	MaskStream   func() agent.StreamMasker
	Taint        bulwark.TaintMode
	Spotlight    guard.SpotlightMode
	// SandboxProblem says why run_shell and run_code are off ("" when on).
	SandboxProblem string
	// Notifications carries the MCP servers' log messages and progress to
	// the run (agent.Config.Notifications); nil without MCP servers.
	Notifications func(send func(bulwark.Event)) (stop func())
	// Uploading is runner.Setup.Uploading: told of a file a person
	// uploads while the task runs, before it is written, it stops the
	// stdio MCP servers whose sandboxes would not hide it. Nil without
	// such servers.
	Uploading func(path string)

	closers []func()
	// intercept is what the task's sandbox proxy puts secrets in with
	// (nil: none), kept for tests.
	intercept *egress.Intercept
}

// New assembles the task of o. The context is used for the audit records
// of the sandbox, which are written even after it is canceled.
func New(ctx context.Context, o Options) (*Env, error) {
	if o.Model == nil || o.Workspace == nil {
		return nil, bulwark.Errorf(bulwark.Internal, "taskenv.New", "a task needs a model and a workspace")
	}
	secrets, err := newTaskSecrets(o.Secrets, o.InSandbox)
	if err != nil {
		return nil, err
	}
	o.Workspace.OnEscape = func() { metrics.Security.IncTenant(metrics.PathEscape, o.Tenant) }
	e := &Env{Model: o.Model, Policy: o.Policy, Limits: o.Limits, Secrets: secrets.values,
		SecretTools: o.SecretTools, SecretArgs: secrets.args, Taint: o.Taint, Spotlight: o.Spotlight}
	e.Tools, err = Tools(o.FetchDomains, o.FetchDial)
	if err != nil {
		return nil, err
	}
	if o.Search.Configured() {
		if err := o.Search.Check(); err != nil {
			return nil, err
		}
		e.Tools.Add(web.WebSearch(o.Search))
		if o.Search.Key != "" {
			o.Masked = maps.Clone(o.Masked)
			if o.Masked == nil {
				o.Masked = map[string]string{}
			}
			o.Masked[searchKeyLabel] = o.Search.Key
		}
	}

	// The task's redactor holds its tenant's secrets only.
	red := secret.NewRedactor()
	for name, v := range secrets.values {
		red.Add(name, v)
	}
	for name, v := range o.Masked {
		red.Add(name, v)
	}
	e.Mask = countedMask(red, o.Tenant, e.maskedRecorder(ctx, o))
	if o.Memory != nil {
		e.addMemory(o)
	}
	e.MaskStream = func() agent.StreamMasker { return red.NewStream() }
	if o.LogMask != nil {
		var labels []string
		add := func(name, v string) {
			o.LogMask.Add(o.LogPrefix+name, v)
			labels = append(labels, o.LogPrefix+name)
		}
		for name, v := range secrets.values {
			add(name, v)
		}
		for name, v := range o.Masked {
			add(name, v)
		}
		e.closers = append(e.closers, func() {
			for _, l := range labels {
				o.LogMask.Remove(l)
			}
		})
	}

	if o.Watch != nil && o.Reread != nil {
		held := newHeldValues(red, o.LogMask, o.LogPrefix, secrets.values, o.Masked)
		stop := o.Watch(o.SecretsSeen, func() { rereadSecrets(o.Reread, held, secrets) })
		e.closers = append(e.closers, held.close, stop) // stop runs first
	}

	intercept, err := secrets.intercept(o.SecretTools)
	e.intercept = intercept
	if err != nil {
		e.Close()
		return nil, err
	}
	var onRun func([]string, *sandbox.Result) error
	var onEgress func(egress.Event) error
	if o.Audit != nil {
		actx := context.WithoutCancel(ctx)
		write := func(r audit.Record) error {
			err := o.Audit.Append(actx, r)
			if err != nil {
				metrics.Security.Inc(metrics.AuditFailure)
				slog.Error("audit record not written", "task", o.TaskID, "action", r.Action, "err", err)
			}
			return err
		}
		onEgress = func(ev egress.Event) error { return write(egressRecord(o.Tenant, o.TaskID, ev)) }
		onRun = func(cmd []string, r *sandbox.Result) error { return write(sandboxRecord(o.Tenant, o.TaskID, cmd, r)) }
	}
	sb := newTaskSandbox(o.Sandbox, o.Workspace.Path(), code.HiddenFiles(o.Policy), intercept, o.Tenant, onRun, onEgress)
	e.closers = append(e.closers, sb.Close)
	e.Exec, e.SandboxProblem = sb.exec, sb.problem
	e.Instructions = joinLines(o.Instructions, secrets.instructions())
	if o.Skills.Len() > 0 {
		for _, t := range skill.Tools(o.Skills) {
			e.Tools.Add(t)
		}
		e.Instructions = joinLines(e.Instructions, o.Skills.Prompt())
	}
	if len(o.MCP.Servers) > 0 {
		notes := &notifications{}
		if err := e.connectMCP(ctx, o, secrets, sb, notes); err != nil {
			// What a server said may quote its configured secrets: the
			// error carries the masked message only.
			msg := e.Mask(bulwark.ErrorMessage(err))
			e.Close()
			return nil, bulwark.Errorf(bulwark.ErrorKind(err), "taskenv.mcp", "%s", msg)
		}
		e.Notifications = notes.attach
	}
	return e, nil
}

// searchKeyLabel is what the search backend's API key is masked as.
const searchKeyLabel = "search_api_key"

// countedMask masks with red and counts each text in which it masked
// something as a SecretMasked event of tenant, and tells masked (if not
// nil).
func countedMask(red *secret.Redactor, tenant string, masked func()) func(string) string {
	return func(s string) string {
		out := red.String(s)
		if out != s {
			metrics.Security.IncTenant(metrics.SecretMasked, tenant)
			if masked != nil {
				masked()
			}
		}
		return out
	}
}

// ActionSecretMasked is the audit record of the texts of a task in which
// a secret was masked: one a minute per task at most (audit.Aggregator),
// its "count" the number of texts, never the secret or the text.
const ActionSecretMasked = "secret.masked"

// maskedRecorder returns what records a masked secret in the audit log
// when the task has one (nil otherwise): counted a minute at a time,
// written as each minute ends and when the task's environment closes.
func (e *Env) maskedRecorder(ctx context.Context, o Options) func() {
	if o.Audit == nil {
		return nil
	}
	agg := audit.NewAggregator(o.Audit, time.Minute, nil, func(err error) {
		metrics.Security.Inc(metrics.AuditFailure)
		slog.Error("audit record not written", "task", o.TaskID, "action", ActionSecretMasked, "err", err)
	})
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		agg.Run(runCtx) // flushes what is left when stopped
	}()
	e.closers = append(e.closers, func() { stop(); <-done })
	rec := audit.Record{TenantID: o.Tenant, Actor: "task:" + o.TaskID, Action: ActionSecretMasked, Target: o.TaskID, Outcome: audit.OutcomeOK}
	return func() { agg.Add(o.TaskID, rec) }
}

// Close releases what the task held, last in first out. It may be called
// more than once.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
	e.closers = nil
}

// Config is e as agent.Config: the caller adds what its entry point owns
// (Env.Workspace and Env.Ask, Sink, Approve, Inbox).
func (e *Env) Config() agent.Config {
	return agent.Config{
		Model: e.Model, Tools: e.Tools, Env: &tool.Env{Exec: e.Exec}, Limits: e.Limits,
		Instructions: e.Instructions, Policy: e.Policy, Mask: e.Mask, MaskStream: e.MaskStream,
		Secrets: e.Secrets, SecretTools: e.SecretTools, SecretArgs: e.SecretArgs,
		Notifications: e.Notifications, Taint: e.Taint, Spotlight: e.Spotlight,
	}
}

// Setup is e as the server's runner takes it; its Close is e's.
func (e *Env) Setup() *runner.Setup {
	return &runner.Setup{
		Model: e.Model, Tools: e.Tools, Exec: e.Exec, Policy: e.Policy, Limits: e.Limits,
		Instructions: e.Instructions, Secrets: e.Secrets, SecretTools: e.SecretTools,
		SecretArgs: e.SecretArgs, Mask: e.Mask, MaskStream: e.MaskStream, Close: e.Close,
		Notifications: e.Notifications, Taint: e.Taint, Spotlight: e.Spotlight,
		Uploading: e.Uploading,
	}
}
