package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/sandbox/egress"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/tool/web"
	"github.com/bulwark-agents/bulwark/workspace"
)

func init() {
	register("run", "run an agent on a task in the terminal", cmdRun)
}

type runFlags struct {
	model     string
	workspace string
	data      string
	maxSteps  int
	timeout   time.Duration
	approve   string
	policy    string
	json      bool
}

func cmdRun(ctx context.Context, args []string, s stdio) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(s.err)
	var f runFlags
	fs.StringVar(&f.model, "model", "", "model `SPEC`: openai:MODEL, anthropic:MODEL, ollama:MODEL or replay:FILE (default $BULWARK_MODEL)")
	fs.StringVar(&f.workspace, "workspace", "", "workspace `DIR` (default: a new folder under the data folder)")
	fs.StringVar(&f.data, "data", "", "data `DIR` (default $BULWARK_DATA or ./bulwark-data)")
	fs.IntVar(&f.maxSteps, "max-steps", bulwark.DefaultLimits.MaxSteps, "most model turns the task may take")
	fs.DurationVar(&f.timeout, "timeout", bulwark.DefaultLimits.MaxDuration, "most wall time the task may take")
	fs.StringVar(&f.approve, "approve", "ask", "what to do with actions the policy marks ask: auto, ask or deny")
	fs.StringVar(&f.policy, "policy", "", "policy `RULES` such as 'run_shell(rm -rf *)=deny; write_file=ask' (default $BULWARK_POLICY)")
	fs.BoolVar(&f.json, "json", false, "print one JSON event per line instead of the readable view")
	fs.Usage = func() {
		fmt.Fprintln(s.err, "Usage: bulwark run [--model SPEC] [--workspace DIR] [--max-steps N] [--timeout D] [--approve auto|ask|deny] [--json] TASK...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitOK
		}
		return exitUsage
	}
	if err := runTask(ctx, f, strings.Join(fs.Args(), " "), s); err != nil {
		return fail(s, err)
	}
	return exitOK
}

// maxTaskInput is the longest task text accepted, in bytes.
const maxTaskInput = 100_000

// errTaskFailed marks a task that ended without success; its reason was
// already printed.
var errTaskFailed = bulwark.Errorf(bulwark.Other, "run", "the task did not finish")

func runTask(ctx context.Context, f runFlags, input string, s stdio) error {
	if strings.TrimSpace(input) == "" {
		return usagef("no task given: bulwark run [flags] TASK...")
	}
	input, err := guard.ValidateInput(input, maxTaskInput)
	if err != nil {
		return usagef("the task: %s", bulwark.ErrorMessage(err))
	}
	if f.model == "" {
		f.model = env("BULWARK_MODEL")
	}
	if f.model == "" {
		return usagef("no model given: pass --model SPEC (openai:MODEL, anthropic:MODEL, ollama:MODEL or replay:FILE) or set BULWARK_MODEL")
	}
	if f.maxSteps <= 0 || f.timeout <= 0 {
		return usagef("--max-steps and --timeout must be positive")
	}
	switch f.approve {
	case "auto", "ask", "deny":
	default:
		return usagef("--approve must be auto, ask or deny, not %q", f.approve)
	}
	if f.policy == "" {
		f.policy = env("BULWARK_POLICY")
	}
	rules, err := bulwark.ParseRules(f.policy)
	if err != nil {
		return usagef("%s", bulwark.ErrorMessage(err))
	}
	restrict, err := envBool("BULWARK_RESTRICT_TO_WORKSPACE", true)
	if err != nil {
		return err
	}
	if !restrict {
		fmt.Fprintln(s.err, "bulwark: WARNING: BULWARK_RESTRICT_TO_WORKSPACE=false: the agent's file tools can read, write and delete ANY file this process can reach, anywhere on the host. Code still runs only in the sandbox. Unset it to confine the agent to its workspace.")
	}
	model, err := provider.Open(f.model, env)
	if err != nil {
		if bulwark.ErrorKind(err) == bulwark.Invalid {
			return usagef("%s", bulwark.ErrorMessage(err)) // a wrong spec or script is bad usage
		}
		return err
	}

	db, tenant, data, err := openLocalStore(ctx, f.data, s.err)
	if err != nil {
		return err
	}
	defer db.Close()
	secrets, err := db.SecretValues(ctx, tenant.ID)
	if err != nil {
		return err
	}
	for name, v := range secrets {
		redactor.Add(name, v)
	}
	task, err := db.CreateTask(ctx, tenant.ID, bulwark.Task{Input: input, Model: f.model,
		Limits: bulwark.Limits{MaxSteps: f.maxSteps, MaxDuration: f.timeout}})
	if err != nil {
		return err
	}
	auditLog, err := openAudit(ctx, data, redactor, s)
	if err != nil {
		return err
	}
	if auditLog != nil {
		defer auditLog.Close()
	}
	dir := f.workspace
	if dir == "" {
		dir = filepath.Join(data, "workspaces", task.ID)
	}
	open, instructions := workspace.Open, ""
	if !restrict {
		open, instructions = workspace.OpenUnrestricted, "File tools are not confined to the workspace on this host: absolute paths name host files. Touch nothing outside the workspace unless the task requires it."
	}
	ws, err := open(dir)
	if err != nil {
		return err
	}
	defer ws.Close()

	sb := newTaskSandbox(sandbox.Spec{Workspace: ws.Path()})
	defer sb.Close()
	if sb.problem != "" && !f.json {
		fmt.Fprintf(s.err, "bulwark: run_shell and run_code are off: %s (see `bulwark sandbox check`)\n", sb.problem)
	}

	in := bufio.NewReader(s.in)
	var view agent.Sink
	if f.json {
		view = jsonView(s.out)
	} else {
		tv := newTermView(s.out)
		view = tv.show
		fmt.Fprintf(s.out, "task %s\nworkspace %s\n", task.ID, ws.Path())
	}

	// A task whose steps cannot be stored or audited does not go on: fail closed.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := func(what string) func(error) {
		return func(err error) {
			slog.Error(what+" not written; stopping the task", "task", task.ID, "err", err)
			cancel(err)
		}
	}
	rec := bulwark.NewRecorder(ctx, db, tenant.ID, task.ID)
	sinks := []agent.Sink{func(e bulwark.Event) {
		rec.Record(e)
		if err := rec.Err(); err != nil {
			stop("task step")(err)
		}
	}}
	sinks = append(sinks, metrics.CountEvent)
	if auditLog != nil {
		auditor := &audit.TaskAuditor{Log: auditLog, Tenant: string(tenant.ID), Actor: "cli", OnError: stop("audit record")}
		sinks = append(sinks, auditor.Sink)
		sb.OnEgress = func(e egress.Event) {
			if err := auditLog.Append(context.WithoutCancel(ctx), egressRecord(string(tenant.ID), task.ID, e)); err != nil {
				stop("audit record")(err)
			}
		}
		sb.OnRun = func(cmd []string, r *sandbox.Result) {
			if err := auditLog.Append(context.WithoutCancel(ctx), sandboxRecord(string(tenant.ID), task.ID, cmd, r)); err != nil {
				stop("audit record")(err)
			}
		}
	}
	tools, err := taskTools(sandbox.SplitList(env("BULWARK_ALLOWED_DOMAINS")))
	if err != nil {
		return err
	}
	cfg := agent.Config{
		Model: model,
		Tools: tools,
		Env: &tool.Env{
			Workspace: ws,
			Ask:       terminalAsk(in, s.err),
			Exec:      sb.exec,
		},
		Limits:       task.Limits,
		Instructions: instructions,
		Sink:         agent.Tee(append(sinks, view)...), // stored before shown
		Policy:       bulwark.Policy{Rules: rules},
		Approve:      terminalApprove(f.approve, in, s.err),
		Mask:         redactor.String,
		MaskStream:   maskStream,
		Secrets:      secrets,
		SecretTools:  sandbox.SplitList(envOr("BULWARK_SECRET_TOOLS", "run_shell,run_code")),
	}
	return taskResult(agent.Run(ctx, cfg, task))
}

// fetchDial replaces fetch_url's dialer in tests that serve pages on
// loopback; production leaves it nil (the SSRF-checking egress dialer).
var fetchDial egress.DialFunc

// taskTools is the tool set of a task: the file tools, the code tools,
// fetch_url where domains are allowed, finish, ask_user.
func taskTools(domains []string) (*tool.Registry, error) {
	tools := append(files.Tools(), code.Shell(), code.Code())
	if len(domains) > 0 {
		allow, err := egress.ParseAllowlist(domains)
		if err != nil {
			return nil, usagef("allowed domains: %s", userMessage(err))
		}
		tools = append(tools, web.FetchURL(web.Config{Allow: allow, Dial: fetchDial}))
	}
	return tool.NewRegistry(append(tools, interact.Finish(), interact.AskUser())...), nil
}

// maskStream masks one streamed model reply with the process's redactor.
func maskStream() (push func(string) string, flush func() string) {
	st := redactor.NewStream()
	return st.Push, st.Flush
}

// taskResult is runTask's error for how the task ended.
func taskResult(out agent.Outcome, err error) error {
	if err != nil {
		return err
	}
	if !out.Reason.Success() {
		return errTaskFailed
	}
	return nil
}

// terminalApprove decides the calls a policy marks ask: mode auto allows
// them, deny refuses them, and ask puts each to the person at the terminal
// (anything but y or yes refuses).
func terminalApprove(mode string, r *bufio.Reader, w io.Writer) func(context.Context, bulwark.Approval) (bool, error) {
	ask := terminalAsk(r, w)
	return func(ctx context.Context, a bulwark.Approval) (bool, error) {
		switch mode {
		case "auto":
			return true, nil
		case "deny":
			return false, nil
		}
		q := fmt.Sprintf("Allow %s to run on: %s\n  (policy rule %s) [y/N]", a.Tool, printable(a.Target), a.Rule)
		answer, err := ask(ctx, q)
		if err != nil {
			if bulwark.ErrorKind(err) == bulwark.Canceled {
				return false, err
			}
			return false, nil // no answer: refuse
		}
		answer = strings.ToLower(strings.TrimSpace(answer))
		return answer == "y" || answer == "yes", nil
	}
}

// terminalAsk asks the person at the terminal: the question goes to w and
// the answer is one line read from r.
func terminalAsk(r *bufio.Reader, w io.Writer) func(ctx context.Context, q string) (string, error) {
	return func(ctx context.Context, q string) (string, error) {
		fmt.Fprintf(w, "\n? %s\n> ", q)
		type line struct {
			s   string
			err error
		}
		ch := make(chan line, 1)
		go func() {
			s, err := r.ReadString('\n')
			ch <- line{s, err}
		}()
		select {
		case <-ctx.Done():
			return "", bulwark.E(bulwark.Canceled, "ask_user", "the task was stopped while waiting for an answer", ctx.Err())
		case l := <-ch:
			if l.err != nil && l.s == "" {
				return "", bulwark.E(bulwark.Unavailable, "ask_user", "no answer could be read from the terminal; continue without it", l.err)
			}
			return strings.TrimRight(l.s, "\r\n"), nil
		}
	}
}
