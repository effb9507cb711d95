// Package code holds the tools that run code: run_shell (a command line run
// by bash) and run_code (a program in Python, JavaScript or bash). Both run
// only through tool.Env.Exec, which the embedding program backs with the
// sandbox; where it is nil they refuse rather than run unprotected.
package code

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
)

// Shell returns run_shell.
func Shell() tool.Tool { return shell{} }

// Code returns run_code.
func Code() tool.Tool { return program{} }

type shell struct{}

func (shell) Name() string { return "run_shell" }
func (shell) Description() string {
	return "Run a command line with bash -c in the sandbox. The working directory is the workspace (/workspace); " +
		"only allowed programs run, there is no network unless the task allows domains, and the command is killed at its time limit. " +
		"Returns the exit status, stdout and stderr."
}
func (shell) Schema() *tool.Schema {
	return &tool.Schema{Type: "object", Required: []string{"command"}, Properties: map[string]*tool.Schema{
		"command": {Type: "string", Description: "the command line, e.g. \"python3 greet.py Ada\"", MinLength: 1, MaxLength: 64 << 10},
	}}
}

// Target is the command line, so a policy can say run_shell(rm -rf *)=deny.
func (shell) Target(args json.RawMessage) string {
	var a struct{ Command string }
	json.Unmarshal(args, &a)
	return a.Command
}

func (shell) Run(ctx context.Context, env *tool.Env, args json.RawMessage) (tool.Result, error) {
	var a struct{ Command string }
	if err := json.Unmarshal(args, &a); err != nil {
		return tool.Result{}, bulwark.E(bulwark.Invalid, "run_shell", "the arguments do not fit run_shell", err)
	}
	return execute(ctx, env, "run_shell", []string{"bash", "-c", a.Command})
}

// interpreters maps run_code's languages to the program that runs them and
// the file extension of the script.
var interpreters = map[string]struct{ prog, ext string }{
	"python":     {"python3", "py"},
	"javascript": {"node", "js"},
	"bash":       {"bash", "sh"},
}

type program struct{}

func (program) Name() string { return "run_code" }
func (program) Description() string {
	return "Write a program to a file in the workspace and run it in the sandbox with its interpreter " +
		"(python: python3, javascript: node, bash: bash). The working directory is the workspace. " +
		"Returns the exit status, stdout and stderr."
}
func (program) Schema() *tool.Schema {
	return &tool.Schema{Type: "object", Required: []string{"language", "code"}, Properties: map[string]*tool.Schema{
		"language": {Type: "string", Enum: []string{"python", "javascript", "bash"}, Description: "the program's language"},
		"code":     {Type: "string", Description: "the whole program", MinLength: 1, MaxLength: 1 << 20},
	}}
}

// Target is "LANGUAGE: CODE", so a policy can match the language or the code.
func (program) Target(args json.RawMessage) string {
	var a struct{ Language, Code string }
	json.Unmarshal(args, &a)
	return a.Language + ": " + a.Code
}

// scriptDir is the workspace folder run_code writes its programs to.
const scriptDir = ".bulwark/code"

func (program) Run(ctx context.Context, env *tool.Env, args json.RawMessage) (tool.Result, error) {
	const op = "run_code"
	var a struct{ Language, Code string }
	if err := json.Unmarshal(args, &a); err != nil {
		return tool.Result{}, bulwark.E(bulwark.Invalid, op, "the arguments do not fit run_code", err)
	}
	in, ok := interpreters[a.Language]
	if !ok {
		return tool.Result{}, bulwark.Errorf(bulwark.Invalid, op, "language %q is not one of python, javascript, bash", a.Language)
	}
	if env == nil || env.Workspace == nil {
		return tool.Result{}, bulwark.Errorf(bulwark.Unavailable, op, "this task has no workspace, so run_code cannot be used")
	}
	if env.Exec == nil {
		return tool.Result{}, unavailable(op)
	}
	name := fmt.Sprintf("%s/%s.%s", scriptDir, bulwark.NewID("prog_"), in.ext)
	if err := env.Workspace.WriteFile(name, []byte(a.Code)); err != nil {
		return tool.Result{}, err
	}
	return execute(ctx, env, op, []string{in.prog, "/workspace/" + name})
}

func unavailable(op string) error {
	return bulwark.Errorf(bulwark.Unavailable, op,
		"%s is not available: code can only run in the sandbox, and this host cannot provide one (see `bulwark sandbox check`); work with the file tools instead", op)
}

// execute runs cmd through env.Exec and describes the outcome for the model.
func execute(ctx context.Context, env *tool.Env, op string, cmd []string) (tool.Result, error) {
	if env == nil || env.Exec == nil {
		return tool.Result{}, unavailable(op)
	}
	res, err := env.Exec(ctx, cmd)
	if err != nil {
		return tool.Result{}, err
	}
	// Command output may carry text from outside (a fetched page, an uploaded
	// file the command read): it is marked and screened like any such text.
	return tool.Result{Output: Describe(res), IsError: res.ExitCode != 0 || res.TimedOut, Untrusted: true}, nil
}

// Describe writes what a command did the way the model reads it: the exit
// status and time, any limit that ended it, then stdout and stderr.
func Describe(r *tool.ExecResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "exit status %d (%s)\n", r.ExitCode, r.Duration.Round(1e6))
	if r.TimedOut {
		fmt.Fprintf(&b, "[killed: the command ran past its %s time limit]\n", r.Timeout)
	}
	for _, l := range r.LimitHit {
		switch l {
		case "output":
			b.WriteString("[output was cut at the sandbox's output limit]\n")
		default:
			fmt.Fprintf(&b, "[the %s limit of the sandbox was hit]\n", l)
		}
	}
	for _, d := range r.Denied {
		fmt.Fprintf(&b, "[network connection refused: %s]\n", d)
	}
	if len(r.Stdout) > 0 {
		b.WriteString("--- stdout ---\n")
		b.Write(r.Stdout)
		if r.Stdout[len(r.Stdout)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	if len(r.Stderr) > 0 {
		b.WriteString("--- stderr ---\n")
		b.Write(r.Stderr)
		if r.Stderr[len(r.Stderr)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	if len(r.Stdout) == 0 && len(r.Stderr) == 0 {
		b.WriteString("(no output)\n")
	}
	return b.String()
}
