// Package tool defines the Tool interface, the strict JSON schemas that tool
// arguments are checked against, and the registry the agent loop looks tools
// up in. Built-in tools live in subpackages (tool/files, tool/interact, ...).
package tool

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/workspace"
)

// Tool is something the model can call.
type Tool interface {
	// Name is the name the model calls the tool by (DESIGN.md's tool table).
	Name() string
	// Description tells the model what the tool does and when to use it.
	Description() string
	// Schema is the strict schema of the tool's arguments (an object).
	Schema() *Schema
	// Run carries the call out. args has already been checked against
	// Schema by the Registry. A returned error is shown to the model as a
	// failed tool result, through bulwark.ErrorMessage: give it a *bulwark.Error
	// whose Msg tells the model what to do differently.
	Run(ctx context.Context, env *Env, args json.RawMessage) (Result, error)
	// Effects declares what a call with args (already checked against
	// Schema) will do, before it runs: the policy, the taint check, the
	// audit log and the task's artifacts read this declaration. Leave
	// Secrets to EffectsOf. An error, of kind bulwark.Invalid with a message
	// for the model, stops the call.
	Effects(args json.RawMessage) (Effects, error)
}

// Result is what a tool call produced.
type Result struct {
	// Output is the text the model sees.
	Output string
	// IsError marks a result that reports a failure the model should handle.
	IsError bool
	// Final marks the end of the task (the finish tool): Output is the answer.
	Final bool
	// Untrusted marks output that holds text from outside (web pages,
	// uploaded files), to be marked before it reaches the model.
	Untrusted bool
	// Taint, when set, taints the task (as a flagged page does) and says
	// why: the output carries text a tainted task wrote (a recalled
	// memory), whatever the screen makes of it now.
	Taint string
}

// Env is what a tool may use while it runs. Fields are nil where the
// embedding program does not offer them; a tool needing a nil field fails
// with a clear message.
type Env struct {
	// Workspace is the task's workspace; file tools reach files only through it.
	Workspace *workspace.Workspace
	// Ask puts a question to a person and waits for the answer (ask_user).
	Ask func(ctx context.Context, question string) (string, error)
	// Exec runs a command in the task's sandbox, with the workspace as its
	// working directory /workspace (run_shell, run_code). Nil where code
	// cannot run safely: those tools then refuse. The command's output
	// also goes, as it comes, to the OutputFunc of ctx (WithOutput), if any.
	Exec func(ctx context.Context, cmd []string) (*ExecResult, error)
	// CheckEffects judges effects that a call of t finds only while it
	// runs (the URL a fetched page redirects to) as the task's policy and
	// taint judge the effects a call declares before it runs; a non-nil
	// error stops the call and tells the model why. Nil checks nothing.
	CheckEffects func(ctx context.Context, t Tool, e Effects) error
	// Delegate runs a sub-agent on task with the named tools of the
	// running task (none: all it may give) and returns its final answer
	// (the delegate tool). Nil where the task may not delegate.
	Delegate func(ctx context.Context, task string, tools []string) (Result, error)
	// Tainted says why the task is tainted, "" while it is not (remember
	// marks what a tainted task writes). Nil: never tainted.
	Tainted func() string
	// FromOutside returns the source of outside text the task read that
	// holds a sentence of text, or "" (nil: none): what remember stores
	// from outside text is stored tainted.
	FromOutside func(text string) string
}

// ExecResult is what a sandboxed command did.
type ExecResult struct {
	ExitCode int
	Stdout   []byte // capped by the sandbox
	Stderr   []byte
	Duration time.Duration
	TimedOut bool
	Timeout  time.Duration // the limit that applied
	LimitHit []string      // limits the command ran into: "memory", "pids", "output", "file size", "workspace"
	Denied   []string      // network connections the egress proxy refused
}

// Effects are what a call will do (see bulwark.Effects): paths read and
// written (cleaned with workspace.Clean), commands run, hosts contacted,
// secrets used, and the targets policy patterns are matched against.
type Effects = bulwark.Effects

// EffectsOf returns the effects of a call of t with args (already checked
// against t's schema): what t declares, with the secrets args names through
// {{secret:NAME}} placeholders, found in its decoded strings. An error
// (invalid arguments, a path outside the workspace) is for the model: the
// call must not run.
func EffectsOf(t Tool, args json.RawMessage) (Effects, error) {
	e, err := t.Effects(args)
	if err != nil {
		return Effects{}, err
	}
	e.Secrets = secret.Placeholders(args)
	return e, nil
}

// Patterner is implemented by tools whose calls have targets a policy
// pattern can name (file tools, run_shell, run_code, fetch_url). Patterns
// checks a rule's pattern and returns the forms its targets are matched
// against (the pattern in the canonical form of the targets); an error
// says why the pattern can never match. A rule with a pattern for a tool
// without Patterns is refused when the policy loads.
type Patterner interface {
	Patterns(pattern string) ([]string, error)
}

// Matcher is implemented by tools whose targets match a pattern by more
// than a glob on their text. Matcher returns, for the call with args, the
// test of one form of a pattern (from Patterns) against one of its targets.
type Matcher interface {
	Matcher(args json.RawMessage) func(form, target string) bool
}

// Parter is implemented by tools whose targets hold parts a one-word deny
// or ask pattern is also matched against (a command's arguments and
// redirected files): see bulwark.Call's Parts.
type Parter interface {
	Parts(args json.RawMessage) func(target string) []string
}

// Globber is implemented by tools whose targets hold parts the tool
// expands against file names (a command's unquoted globs): see
// bulwark.Call's Globs.
type Globber interface {
	Globs(args json.RawMessage) func(target string) []string
}

// Folderer is implemented by tools whose targets may act in or on
// folders (a command's working folder and the folders it names): see
// bulwark.Call's Folders.
type Folderer interface {
	Folders(args json.RawMessage) func(target string) []string
}

// Resolver is implemented by tools whose targets may be read another way
// for deny and ask rules (a command with its operands resolved against
// the folder it runs in): see bulwark.Call's Resolved.
type Resolver interface {
	Resolved(args json.RawMessage) func(form, target string) bool
}

// PolicyCall is the call of t with args and effects e as a policy judges it.
func PolicyCall(t Tool, args json.RawMessage, e Effects) bulwark.Call {
	c := bulwark.Call{Tool: t.Name(), Targets: e.Targets, Dynamic: len(e.Dynamic) > 0}
	switch p, ok := t.(Patterner); {
	case ok:
		c.Patterns = p.Patterns
	case strings.HasPrefix(t.Name(), mcpPrefix):
		// An MCP tool's target is its arguments as JSON: a rule's pattern
		// is matched as written (mcp__github__create_issue(*)=ask).
		c.Patterns = nil
	default:
		c.Patterns = func(string) ([]string, error) { return nil, nil }
	}
	if m, ok := t.(Matcher); ok {
		c.Match = m.Matcher(args)
	}
	if p, ok := t.(Parter); ok {
		c.Parts = p.Parts(args)
	}
	if g, ok := t.(Globber); ok {
		c.Globs = g.Globs(args)
	}
	if f, ok := t.(Folderer); ok {
		c.Folders = f.Folders(args)
	}
	if r, ok := t.(Resolver); ok {
		c.Resolved = r.Resolved(args)
	}
	return c
}
