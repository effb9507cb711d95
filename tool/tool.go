// Package tool defines the Tool interface, the strict JSON schemas that tool
// arguments are checked against, and the registry the agent loop looks tools
// up in. Built-in tools live in subpackages (tool/files, tool/interact, ...).
package tool

import (
	"context"
	"encoding/json"
	"time"

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
	// cannot run safely: those tools then refuse.
	Exec func(ctx context.Context, cmd []string) (*ExecResult, error)
}

// ExecResult is what a sandboxed command did.
type ExecResult struct {
	ExitCode int
	Stdout   []byte // capped by the sandbox
	Stderr   []byte
	Duration time.Duration
	TimedOut bool
	Timeout  time.Duration // the limit that applied
	LimitHit []string      // limits the command ran into: "memory", "pids", "output"
	Denied   []string      // network connections the egress proxy refused
}

// Targeter is implemented by tools whose calls act on something a policy
// can name: the command line of run_shell, the path of a file tool. Target
// returns it from the call's (already validated) arguments; tools without
// it are matched with an empty target.
type Targeter interface {
	Target(args json.RawMessage) string
}

// Target returns what the call of t with args acts on, for policy patterns.
func Target(t Tool, args json.RawMessage) string {
	if tt, ok := t.(Targeter); ok {
		return tt.Target(args)
	}
	return ""
}
