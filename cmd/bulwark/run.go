package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/internal/secretwatch"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/metrics"
	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/taskenv"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

type runFlags struct {
	model     string
	workspace string
	where     *storeFlags
	tenant    string
	maxSteps  int
	timeout   time.Duration
	approve   string
	policy    string
	json      bool
	cont      string // --continue: the id of a stopped task to continue
	limitsSet bool   // --max-steps or --timeout given
	mcp       listFlag
	skills    listFlag // --skills: operator skills folders
	taint     string   // --taint: detected, source or off (default $BULWARK_TAINT)
	spotlight string   // --spotlight: delimit or datamark (default $BULWARK_SPOTLIGHT)
}

const runUsage = `Usage: bulwark run [--model SPEC] [--workspace DIR] [--max-steps N] [--timeout D] [--approve auto|ask|deny] [--tenant NAME] [--json] [--continue ID] [--mcp FILE]... [--skills DIR]... [--taint MODE] [--spotlight MODE] TASK...

Runs an agent on TASK in this terminal and shows what it does: its text, each
tool call and a short view of each result (the whole of a cut result:
bulwark tasks logs --full ID). The task is stored in the data folder, in the local
tenant or the one --tenant names: see it again with bulwark tasks show ID.

--mcp FILE gives the task the MCP servers of FILE ({"mcpServers": {...}},
the shape other MCP clients use), with those of $BULWARK_MCP_CONFIG; their
tools are named mcp__SERVER__TOOL. A server that does not start fails the
run before the task is stored.

--skills DIR offers the task the skills of DIR (each a folder NAME holding
SKILL.md), with those of $BULWARK_SKILLS_DIR: their names and descriptions
are in its instructions, and it reads one with load_skill when it needs it.
The tenant's own skills (bulwark serve's API) are offered too; the
operator's wins a name both have. A skill whose SKILL.md does not parse
fails the run, naming it.

--taint MODE says what taints the task, after which its actions with side
effects (writes outside scratch/, commands, new hosts, secrets, MCP calls)
wait for your approval: detected (the default) taints it when the guard
flags text it read as prompt injection; source taints it as soon as it
reads any text from outside (a fetched page, search results, an MCP
tool's answer, a file, a command's output), whatever the guard says, the
strongest; off never taints it (a leaked canary is still blocked). The
tenant's settings can make it stricter, never weaker. Default
$BULWARK_TAINT.

--spotlight MODE says how that text is set apart for the model: delimit
(the default) puts it between markers with a random id, which nothing
inside can forge; datamark also puts a marker character drawn for the
task between its words. Default $BULWARK_SPOTLIGHT.

Example:
  bulwark run --model replay:examples/hello/script.jsonl "Write a greeting program"`

func cmdRun(ctx context.Context, args []string, s stdio) int {
	fs := newFlagSet("run", runUsage)
	var f runFlags
	fs.StringVar(&f.model, "model", "", "model `SPEC`: openai:MODEL, anthropic:MODEL, ollama:MODEL or replay:FILE (default $BULWARK_MODEL)")
	fs.StringVar(&f.workspace, "workspace", "", "workspace `DIR` (default: a new folder under the data folder)")
	f.where = addStoreFlags(fs)
	fs.StringVar(&f.tenant, "tenant", bulwark.LocalTenantName, "run the task as the tenant `NAME`: it is listed with the tenant's tasks, with its settings' secrets and audit chain")
	fs.IntVar(&f.maxSteps, "max-steps", bulwark.DefaultLimits.MaxSteps, "most model turns the task may take")
	f.timeout = bulwark.DefaultLimits.MaxDuration
	fs.Var(durationFlag{&f.timeout}, "timeout", "most wall `TIME` the task may take, with a unit: 90s, 30m, 1h")
	fs.StringVar(&f.approve, "approve", "ask", "what to do with actions the policy marks ask: auto, ask or deny")
	fs.StringVar(&f.policy, "policy", "", "policy `RULES` such as 'run_shell(rm -rf *)=deny; write_file=ask' (default $BULWARK_POLICY)")
	fs.BoolVar(&f.json, "json", false, "print one JSON event per line instead of the readable view")
	fs.Var(&f.mcp, "mcp", "MCP servers `FILE` ({\"mcpServers\": ...}) for the task; may be repeated (and $BULWARK_MCP_CONFIG)")
	fs.Var(&f.skills, "skills", "skills `DIR` (folders NAME/SKILL.md) for the task; may be repeated (and $BULWARK_SKILLS_DIR)")
	fs.StringVar(&f.taint, "taint", "", "what taints the task: `MODE` detected, source or off (default $BULWARK_TAINT, else detected)")
	fs.StringVar(&f.spotlight, "spotlight", "", "how untrusted text is marked for the model: `MODE` delimit or datamark (default $BULWARK_SPOTLIGHT, else delimit)")
	fs.StringVar(&f.cont, "continue", "", "continue the stopped task `ID` with the message TASK... (same conversation and workspace; pass --workspace again if the task had one)")
	if err := fs.parse(args, s); err != nil {
		return fail(s, err)
	}
	fs.Visit(func(fl *flag.Flag) { f.limitsSet = f.limitsSet || fl.Name == "max-steps" || fl.Name == "timeout" })
	if err := runTask(ctx, f, strings.Join(fs.Args(), " "), s); err != nil {
		if errors.Is(err, errTaskFailed) {
			return exitFailed // the view has shown why
		}
		return fail(s, err)
	}
	return exitOK
}

// maxTaskInput is the longest task text accepted, in bytes.
const maxTaskInput = 100_000

// errTaskFailed marks a task that ended without success; its reason was
// already printed.
var errTaskFailed = &bulwark.Error{Kind: bulwark.Other, Op: "run", // a literal: no init work
	Msg: "the task did not finish"}

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
	if f.model == "" && f.cont == "" {
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
	if err == nil {
		err = tool.CheckPolicy(bulwark.Policy{Rules: rules}, taskenv.KnownTools())
	}
	if err != nil {
		return usagef("%s", bulwark.ErrorMessage(err))
	}
	if err := checkSandboxSettings(); err != nil {
		return err
	}
	inj, err := readInjectionSettings(s.err, f.taint, f.spotlight)
	if err != nil {
		return err
	}
	search, err := searchOptions()
	if err != nil {
		return err
	}
	servers, err := runMCP(f.mcp)
	if err != nil {
		return err
	}
	opSkills, err := operatorSkills(f.skills)
	if err != nil {
		return err
	}
	restrict, err := envBool("BULWARK_RESTRICT_TO_WORKSPACE", true)
	if err != nil {
		return err
	}
	if !restrict {
		fmt.Fprintln(s.err, "bulwark: WARNING: BULWARK_RESTRICT_TO_WORKSPACE=false: the agent's file tools can read, write and delete ANY file this process can reach, anywhere on the host. Code still runs only in the sandbox. Unset it to confine the agent to its workspace.")
	}
	warnSandboxLimits(s.err)
	// Open everything that can fail before the task is stored, so that a
	// failure leaves no task behind; a task is stored running, never
	// queued, so that no server on the folder takes it for its own.
	db, data, err := openStore(ctx, *f.where, s.err)
	if err != nil {
		return err
	}
	defer db.Close()
	tenant, err := findTenant(ctx, db, f.tenant)
	if err != nil {
		return err
	}
	tenantSettings, err := db.Settings(ctx, tenant.ID)
	if err != nil {
		return err
	}
	taint := inj.forTenant(tenantSettings.Taint)
	if taint != inj.taint {
		fmt.Fprintf(s.err, "bulwark: the tenant's settings taint its tasks in %s mode, stricter than %s: the task runs in %s mode\n", taint, inj.taint, taint)
	}
	limits := bulwark.Limits{MaxSteps: f.maxSteps, MaxDuration: f.timeout}
	task := bulwark.Task{ID: bulwark.NewID("t_"), Status: bulwark.TaskRunning, Input: input, Model: f.model, Limits: limits}
	served := "" // the folder of a continued task whose files are sealed in the store
	if f.cont != "" {
		// The task's own model and limits, unless given.
		if task, err = localTask(ctx, db, tenant.ID, f.cont); err != nil {
			return err
		}
		if !task.Status.Continuable() {
			return bulwark.Errorf(bulwark.Conflict, "run",
				"the task is %s: only a stopped task (succeeded, failed, canceled or interrupted) can be continued; "+
					"send a message into its running turn with 'bulwark tasks message %s TEXT'", task.Status, task.ID)
		}
		if served, err = servedFolder(ctx, db, data, f.workspace, tenant.ID, task); err != nil {
			return err
		}
		if f.model == "" {
			f.model = task.Model
		}
		if f.limitsSet {
			task.Limits = limits
		}
	}
	model, err := provider.Open(f.model, env)
	if err != nil {
		if bulwark.ErrorKind(err) == bulwark.Invalid {
			return usagef("%s", bulwark.ErrorMessage(err)) // a wrong spec or script is bad usage
		}
		return err
	}
	skills, err := tenantSkills(ctx, db, tenant.ID, opSkills)
	if err != nil {
		return err
	}
	// A secret set while the task runs (`bulwark secrets set` in another
	// terminal) is masked by it from then on (taskenv.Options.Watch).
	av, _ := db.(bulwark.AuthVersioner)
	watch := secretwatch.New(av, 0)
	seen := watch.Version(ctx) // before the secrets are read
	all, err := db.Secrets(ctx, tenant.ID)
	if err != nil {
		return err
	}
	inSandbox, err := secretsInSandbox()
	if err != nil {
		return err
	}
	if inSandbox {
		fmt.Fprintln(s.err, secretsInSandboxWarning)
	}
	auditLog, err := openAudit(ctx, db, data, redactor, s)
	if err != nil {
		return err
	}
	if auditLog != nil {
		defer auditLog.Close()
	}
	release, err := holdTaskLock(data, task.ID)
	if err != nil {
		return err
	}
	defer release()
	dir := f.workspace
	switch {
	case served != "":
		dir = served
	case dir == "":
		dir = filepath.Join(data, "workspaces", task.ID)
		spreadWorkspaces(filepath.Join(data, "workspaces"))
	}
	// A served task's files go back into the store when the turn ends,
	// after the workspace and the sandbox are closed.
	var uploads map[string]bool
	restored := false
	defer func() {
		if !restored {
			return
		}
		if err := sealServed(context.WithoutCancel(ctx), db, tenant.ID, task.ID, dir, uploads); err != nil {
			fmt.Fprintf(s.err, "bulwark: the task's files could not be put back into the store; they stay in %s: %s\n", dir, errText(err))
		}
	}()
	open, instructions := workspace.Open, ""
	if !restrict {
		open, instructions = workspace.OpenUnrestricted, "File tools are not confined to the workspace on this host: absolute paths name host files. Touch nothing outside the workspace unless the task requires it."
	}
	_, statErr := os.Stat(dir)
	ws, err := open(dir)
	if err != nil {
		return err
	}
	defer ws.Close()
	stored := false
	defer func() {
		if !stored && os.IsNotExist(statErr) {
			os.Remove(dir) // the folder made for a task never stored, if still empty
		}
	}()

	depth, err := maxAgentDepth()
	if err != nil {
		return err
	}
	te, err := taskenv.New(ctx, taskenv.Options{
		Tenant: string(tenant.ID), TaskID: task.ID, Model: model, Workspace: ws,
		Secrets: all, Masked: modelKeyMasked(provider.KeyVar(f.model), env(provider.KeyVar(f.model)), nil), InSandbox: inSandbox, SecretTools: secretTools(),
		FetchDomains: sandbox.SplitList(env("BULWARK_ALLOWED_DOMAINS")), FetchDial: fetchDial,
		Sandbox: sandboxOptions(nil, nil), Policy: bulwark.Policy{Rules: rules}, Limits: task.Limits,
		Instructions: instructions, Audit: auditor(auditLog), LogMask: redactor,
		MCP: servers, MCPDial: mcpDial, Search: search, Memory: memoryOf(db), Skills: skills,
		Taint: taint, Spotlight: inj.spotlight,
		Watch: watch.Watch, SecretsSeen: seen, Reread: func(ctx context.Context) ([]bulwark.Secret, error) {
			return db.Secrets(ctx, tenant.ID)
		},
	})
	if bulwark.ErrorKind(err) == bulwark.Invalid {
		return usagef("%s", bulwark.ErrorMessage(err)) // BULWARK_ALLOWED_DOMAINS does not parse, an MCP server is misconfigured
	}
	if err != nil {
		return err
	}
	defer te.Close()
	var history []bulwark.Event
	if served != "" {
		restored = true // what was put back goes back, whatever happens next
		if uploads, err = restoreServed(ctx, db, tenant.ID, task.ID, ws); err != nil {
			return err
		}
	}
	if f.cont != "" {
		var turn *bulwark.Limits // the task's own, unless given
		if f.limitsSet {
			turn = &limits
		}
		task, history, err = continueLocal(ctx, db, tenant.ID, f.cont, input, turn)
	} else {
		task, err = db.CreateTask(ctx, tenant.ID, task)
	}
	if err != nil {
		return err
	}
	stored = true
	if te.SandboxProblem != "" && !f.json {
		fmt.Fprintf(s.err, "bulwark: run_shell and run_code are off: %s (see `bulwark sandbox check`)\n", te.SandboxProblem)
	}

	in := bufio.NewReader(s.in)
	var view agent.Sink
	denied := func(string) {}
	if f.json {
		view = jsonView(s.out)
	} else {
		tv := newTermView(s.out)
		tv.taskID = task.ID
		if te.SandboxProblem != "" {
			tv.warn("run_shell and run_code were off: " + te.SandboxProblem + " (see bulwark sandbox check)")
		}
		if sandbox.Disabled() {
			tv.warn("BULWARK_SANDBOX=off: commands ran WITHOUT the sandbox, unprotected on the host")
		}
		view, denied = tv.show, func(why string) { tv.denyWhy = why }
		fmt.Fprintf(s.out, "task %s\nworkspace %s\n", task.ID, ws.Path())
		if f.cont != "" {
			fmt.Fprintf(s.out, "turn %d\n» %s\n", task.Turns, oneLine(printable(input), 500))
		}
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
	}
	cfg := te.Config()
	lines := &terminalLines{r: in}
	inbox := make(chan string, 64)
	answers := &remoteAnswers{inbox: inbox}
	cfg.Env.Workspace, cfg.Env.Ask = ws, terminalAsk(lines, s.err, answers)
	record := agent.Tee(sinks...)
	tee := agent.Tee(record, view) // stored before shown
	var mu sync.Mutex
	var last bulwark.Event
	cfg.Sink = func(e bulwark.Event) {
		if !e.Type.Live() && e.TaskID == task.ID {
			mu.Lock()
			last = e
			mu.Unlock()
		}
		tee(e)
	}
	cfg.Approve = terminalApprove(f.approve, lines, s.err, denied)
	cfg.Delegation = cliDelegation(db, tenant.ID, depth, auditLog, s.out, f.json, stop("sub-agent step"))
	cfg.History = history
	// Cancels, messages and answers from other processes on the folder.
	cfg.Inbox = inbox
	go watchControls(ctx, db, task, cancel, inbox, answers)
	out, err := agent.Run(ctx, cfg, task)
	mu.Lock()
	defer mu.Unlock()
	if err != nil && last.Type != bulwark.EventTaskFinished {
		// The stored task ends with the reason (shown once, by the
		// caller), never left running.
		msg, now := bulwark.ErrorMessage(err), time.Now()
		record(bulwark.Event{Seq: last.Seq + 1, TaskID: task.ID, Time: now, Type: bulwark.EventError, Text: msg})
		record(bulwark.Event{Seq: last.Seq + 2, TaskID: task.ID, Time: now, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishError, Text: msg})
	}
	return taskResult(out, err)
}

// auditor is l as taskenv takes it: nil when auditing is off.
func auditor(l *audit.Chains) taskenv.Auditor {
	if l == nil {
		return nil
	}
	return l
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
// (anything but y or yes refuses). Before refusing for another reason than
// the person's no, it tells denied why, for the view.
func terminalApprove(mode string, r *terminalLines, w io.Writer, denied func(why string)) func(context.Context, bulwark.Approval) (bool, error) {
	ask := terminalAsk(r, w, nil)
	return func(ctx context.Context, a bulwark.Approval) (bool, error) {
		switch mode {
		case "auto":
			return true, nil
		case "deny":
			denied(" by --approve deny")
			return false, nil
		}
		q := fmt.Sprintf("Allow %s to run on: %s\n  (policy rule %s) [y/N]", a.Tool, printable(a.Target), a.Rule)
		if a.Reason != "" {
			// Why it asks: for a tainted task, the text that tainted it
			// and the guard's score for it.
			q = fmt.Sprintf("Allow %s to run on: %s\n  (rule %s: %s) [y/N]", a.Tool, printable(a.Target), a.Rule, printable(a.Reason))
		}
		answer, err := ask(ctx, q)
		if err != nil {
			if bulwark.ErrorKind(err) == bulwark.Canceled {
				return false, err
			}
			denied(": no person to ask (no answer could be read; not a terminal? use --approve auto or --approve deny)")
			return false, nil // no answer: refuse
		}
		answer = strings.ToLower(strings.TrimSpace(answer))
		return answer == "y" || answer == "yes", nil
	}
}

// terminalAsk asks the person at the terminal: the question goes to w and
// the answer is one line read from r.
func terminalAsk(r *terminalLines, w io.Writer, remote *remoteAnswers) func(ctx context.Context, q string) (string, error) {
	return func(ctx context.Context, q string) (string, error) {
		fmt.Fprintf(w, "\n? %s\n> ", q)
		answered := remote.waiting() // nil without remote: never ready
		defer remote.done()
		select {
		case <-ctx.Done():
			return "", bulwark.E(bulwark.Canceled, "ask_user", "the task was stopped while waiting for an answer", ctx.Err())
		case a := <-answered:
			fmt.Fprintf(w, "(answered from another process)\n")
			return a, nil
		case l := <-r.next():
			if l.err != nil && l.s == "" {
				fmt.Fprintln(w) // end the prompt's line
				return "", bulwark.E(bulwark.Unavailable, "ask_user", "no answer could be read from the terminal; continue without it", l.err)
			}
			return strings.TrimRight(l.s, "\r\n"), nil
		}
	}
}

// spreadWorkspaces makes dir, the folder of run's own workspaces, as one
// whose folders the file system places apart (workspace.Spread), as the
// runner makes a tenant's: a task's files are then made away from where
// earlier tasks' were removed (on an ext4 without a journal, a file made
// near inodes freed in the last minutes costs a read of their table block
// each). Where the file system cannot, or the folder cannot be made
// (workspace.Open then says why), nothing changes.
func spreadWorkspaces(dir string) {
	if err := os.MkdirAll(dir, 0o700); err == nil {
		workspace.Spread(dir)
	}
}
