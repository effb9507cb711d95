// Command bulwark is the one binary of Bulwark: it runs agents from the
// terminal, serves the platform, runs commands in the sandbox and checks the
// deployment. This package only parses flags and wires the parts together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"slices"
	"syscall"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/fdtable"
	"github.com/bulwark-agents/bulwark/internal/heapahead"
	_ "github.com/bulwark-agents/bulwark/internal/noheapprofile"
	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/secret"
)

// command is one subcommand. run gets the arguments after the subcommand's
// name and returns the process exit status.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdio stdio) int
}

// stdio is where a command reads and writes; tests swap it.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// commands are the subcommands, by name. A table of functions, not
// registrations from each file's init: every command, `bulwark version`
// included, runs the package inits of the binary, and a static table costs
// none (BENCHMARKS.md, "Start-up without html/template").
var commands = []command{
	{"audit", "check the audit log: audit verify [--data DIR]", cmdAudit},
	{"backup", "back up a live installation: backup --out FILE | backup verify FILE", cmdBackup},
	{"bench", "measure speed: bench agents|sandbox|... [--json]", cmdBench},
	{"db", "migrate the store, or copy it between SQLite and PostgreSQL", cmdDB},
	{"doctor", "check this deployment against the security checklist", cmdDoctor},
	{"guard", "score texts for prompt injection: guard scan < JSONL", runGuard},
	{"keys", "rotate, retire and show the master keys of the data folder", cmdKeys},
	{"mcp", "offer Bulwark's tasks to an MCP client: mcp serve (stdio)", cmdMCP},
	{"redact", "mask secrets in stdin, writing the result to stdout", runRedact},
	{"restore", "restore a backup into a new data folder: restore --data DIR FILE", cmdRestore},
	{"run", "run an agent on a task in the terminal", cmdRun},
	{"sandbox", "run a command in the sandbox (exec), or check what this host supports (check)", runSandbox},
	{"schedules", "add, list and delete the schedules that start tasks (from the data folder)", cmdSchedules},
	{"secrets", "set, list or delete a tenant's secrets (values from stdin only)", cmdSecrets},
	{"serve", "serve the HTTP API: serve [--addr HOST:PORT] [--data DIR] [--tls-cert F --tls-key F]", cmdServe},
	{"tasks", "list tasks and show their status, steps and files (from the data folder)", cmdTasks},
	{"tenants", "create and list tenants; make operator keys", cmdTenants},
	{"users", "create and list the users of a tenant (passwords from stdin only)", cmdUsers},
	{"version", "print the version", cmdVersion},
}

// Exit statuses of the contract (DESIGN.md).
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// redactor masks every registered secret and secret-looking string in what
// the process logs (operator's output only, never a tenant's response). It
// holds the operator's secrets for the process's life and a task's secrets
// while the task runs (taskenv.Options.LogMask, removed when it ends).
var redactor = secret.NewRedactor()

func main() {
	ctx, stop := context.Background(), func() {}
	if !printsOnly(os.Args[1:]) {
		slog.SetDefault(slog.New(secret.NewLogHandler(
			slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}), redactor)))
	}
	if !quick(os.Args[1:]) {
		ctx, stop = signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	}
	if growsHeap(os.Args[1:]) {
		go heapahead.Run(ctx)
		go fdtable.Reserve(manyFDs)
	}
	code := dispatch(ctx, os.Args[1:], stdio{os.Stdin, os.Stdout, os.Stderr})
	stop()
	// A sandbox exec that ran no sandbox (a usage error, --help, a
	// failed check) leaves the init its start forked: ended here.
	sandbox.EndEarlyInit()
	os.Exit(code)
}

// quick reports whether args ask only for what prints and returns at once
// (bulwark, bulwark version, bulwark help [COMMAND]): nothing there is
// interrupted half-way, so Ctrl-C may end it as the runtime does by
// default, and it is spared the two threads that watching signals starts
// (os/signal locks a thread to the signal mask's goroutine), about a fifth
// of such a command's CPU.
func quick(args []string) bool {
	return len(args) == 0 || args[0] == "version" || isHelp(args[0])
}

// printsOnly reports whether args ask for what only prints and logs
// nothing (bulwark, bulwark version, bulwark help): the logger, which they
// would never use, is not set up.
func printsOnly(args []string) bool {
	return len(args) == 0 || len(args) == 1 && (args[0] == "version" || isHelp(args[0]))
}

func dispatch(ctx context.Context, args []string, s stdio) int {
	switch {
	case len(args) == 0:
		usage(s.err)
		return exitUsage
	case args[0] == "help" && len(args) > 1:
		// bulwark help CMD [SUB]: the same as bulwark CMD [SUB] --help.
		args = append(slices.Clone(args[1:]), "--help")
	case isHelp(args[0]):
		usage(s.out)
		return exitOK
	}
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == args[0] })
	if i < 0 {
		fmt.Fprintf(s.err, "bulwark: unknown command %q (run 'bulwark help' for the list)\n", args[0])
		return exitUsage
	}
	return commands[i].run(ctx, args[1:], s)
}

// manyFDs is how many file descriptors a process that runs many tasks
// (growsHeap) makes room for at its start (fdtable.Reserve): a thousand
// tasks at once hold a workspace and a model connection each.
const manyFDs = 4096

// growsHeap reports whether the command runs long and grows its heap as it
// goes (serving, running agents, benchmarking them): its heap is mapped in
// as the runtime maps it rather than a page fault a page (package
// heapahead), and its table of file descriptors is grown once at the start
// (package fdtable). The others, which print and return, are spared the
// goroutines, and so is the agents bench's model server, which stands for
// another machine's (it makes room for its connections itself).
func growsHeap(args []string) bool {
	if len(args) == 0 {
		return false
	}
	switch args[0] {
	case "serve", "run", "mcp":
		return true
	case "bench":
		return len(args) < 2 || args[1] != modelServerCmd
	}
	return false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: bulwark COMMAND [FLAGS] [ARGS]\n\nCommands:")
	for _, c := range commands { // sorted by name (TestCommandsSorted)
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'bulwark help COMMAND' (or bulwark COMMAND --help) for a command's flags and an example.")
}

// logLevel is BULWARK_LOG_LEVEL (debug, info, warn, error; default warn).
func logLevel() slog.Level {
	v := os.Getenv("BULWARK_LOG_LEVEL")
	if v == "" { // the usual case, spared UnmarshalText's error (a fmt.Errorf)
		return slog.LevelWarn
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(v)); err != nil {
		return slog.LevelWarn
	}
	return l
}

// usageError marks a failure caused by bad command-line input (exit 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// fail prints err as one line on stderr and returns the exit status for it.
func fail(s stdio, err error) int {
	if errors.Is(err, errHelpShown) {
		return exitOK
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(s.err, "bulwark: %s\n", redactor.String(ue.msg))
		return exitUsage
	}
	fmt.Fprintf(s.err, "bulwark: %s\n", redactor.String(userMessage(err)))
	return exitFailed
}

// userMessage is the one line shown for err: the safe message of a
// *bulwark.Error, or the text of an error the CLI made itself.
func userMessage(err error) string {
	var be *bulwark.Error
	if errors.As(err, &be) {
		return bulwark.ErrorMessage(err)
	}
	return err.Error()
}
