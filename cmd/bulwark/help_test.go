package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// helpCases is every command and subcommand, with a flag its usage must
// show (with its default, where it has one). A command missing here fails
// TestHelpCoversEveryCommand.
var helpCases = []struct {
	args []string
	flag string // shown in the usage; "" for a command without flags
}{
	{[]string{"audit"}, ""},
	{[]string{"audit", "verify"}, "--data DIR"},
	{[]string{"backup"}, "--out FILE"},
	{[]string{"backup", "verify"}, ""},
	{[]string{"bench"}, ""},
	{[]string{"bench", "agents"}, "(default 1000)"},
	{[]string{"bench", "api"}, "(default 3s)"},
	{[]string{"bench", "cluster"}, "(default 200)"},
	{[]string{"bench", "injection"}, "(default 112)"},
	{[]string{"bench", "sandbox"}, "(default 40)"},
	{[]string{"db"}, ""},
	{[]string{"db", "migrate"}, "--database-url URL"},
	{[]string{"db", "copy"}, "--from PATH-OR-URL"},
	{[]string{"doctor"}, "--database-url URL"},
	{[]string{"guard"}, ""},
	{[]string{"guard", "scan"}, "--threshold"},
	{[]string{"keys"}, ""},
	{[]string{"mcp"}, ""},
	{[]string{"mcp", "serve"}, "--model SPEC"},
	{[]string{"keys", "status"}, "--data DIR"},
	{[]string{"keys", "rotate-master"}, "--data DIR"},
	{[]string{"keys", "retire-master"}, "--version N"},
	{[]string{"redact"}, "--secret-file"},
	{[]string{"restore"}, "--data DIR"},
	{[]string{"run"}, "--timeout TIME\n    \tmost wall TIME the task may take, with a unit: 90s, 30m, 1h (default 30m)"},
	{[]string{"sandbox"}, ""},
	{[]string{"sandbox", "exec"}, `(default "512MiB")`},
	{[]string{"sandbox", "check"}, "--json"},
	{[]string{"secrets"}, ""},
	{[]string{"secrets", "set"}, "--hosts HOSTS"},
	{[]string{"secrets", "list"}, `(default "local")`},
	{[]string{"secrets", "delete"}, "--tenant NAME"},
	{[]string{"serve"}, `(default "127.0.0.1:8080")`},
	{[]string{"schedules"}, ""},
	{[]string{"schedules", "add"}, "--cron SPEC"},
	{[]string{"schedules", "list"}, "--json"},
	{[]string{"schedules", "delete"}, "--tenant NAME"},
	{[]string{"tasks"}, ""},
	{[]string{"tasks", "list"}, "(default 50)"},
	{[]string{"tasks", "show"}, "--json"},
	{[]string{"tasks", "logs"}, "--follow"},
	{[]string{"tasks", "cancel"}, "--tenant NAME"},
	{[]string{"tasks", "files"}, "--out DIR"},
	{[]string{"tasks", "message"}, "--tenant NAME"},
	{[]string{"tenants"}, ""},
	{[]string{"tenants", "create"}, "--data DIR"},
	{[]string{"tenants", "list"}, "--data DIR"},
	{[]string{"tenants", "operator-key"}, `(default "operator")`},
	{[]string{"users"}, ""},
	{[]string{"users", "create"}, `(default "member")`},
	{[]string{"users", "list"}, "--tenant NAME"},
	{[]string{"version"}, ""},
}

func runDispatch(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = dispatch(context.Background(), args, stdio{strings.NewReader(""), &out, &errb})
	return code, out.String(), errb.String()
}

func TestHelpCoversEveryCommand(t *testing.T) {
	listed := map[string]bool{}
	for _, c := range helpCases {
		listed[c.args[0]] = true
	}
	for _, c := range commands {
		if !listed[c.name] {
			t.Errorf("command %q is not in helpCases: add it and its subcommands", c.name)
		}
	}
	for _, b := range benchmarks {
		if !hasCase("bench", b.name) {
			t.Errorf("benchmark %q is not in helpCases", b.name)
		}
	}
}

// TestCommandsSorted: the command and benchmark tables are sorted by name,
// as usage and 'bulwark help bench' list them, with no name twice.
func TestCommandsSorted(t *testing.T) {
	for _, table := range [][]command{commands, benchmarks} {
		for i := 1; i < len(table); i++ {
			if table[i-1].name >= table[i].name {
				t.Errorf("%q is listed before %q: keep the table sorted by name", table[i-1].name, table[i].name)
			}
		}
	}
}

func hasCase(args ...string) bool {
	for _, c := range helpCases {
		if strings.Join(c.args, " ") == strings.Join(args, " ") {
			return true
		}
	}
	return false
}

// TestHelp asks every command and subcommand for help in each way a person
// would: each prints the usage, its flags and an example on stdout, and
// exits 0.
func TestHelp(t *testing.T) {
	for _, c := range helpCases {
		for _, args := range [][]string{
			append(append([]string{}, c.args...), "--help"),
			append(append([]string{}, c.args...), "-h"),
			append([]string{"help"}, c.args...),
		} {
			code, stdout, stderr := runDispatch(args...)
			if code != exitOK || stderr != "" {
				t.Errorf("bulwark %s: exit %d, stderr %q; want exit 0 and nothing on stderr", strings.Join(args, " "), code, stderr)
				continue
			}
			for _, want := range []string{"Usage", "bulwark " + c.args[0], "Example", c.flag} {
				if !strings.Contains(stdout, want) {
					t.Errorf("bulwark %s: stdout lacks %q:\n%s", strings.Join(args, " "), want, stdout)
				}
			}
			if len(c.args) > 1 && !strings.Contains(stdout, c.args[1]) {
				t.Errorf("bulwark %s: the usage does not name %q:\n%s", strings.Join(args, " "), c.args[1], stdout)
			}
		}
	}
}

func TestHelpListsCommands(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, stdout, _ := runDispatch(args...)
		if code != exitOK || !strings.Contains(stdout, "tasks") || !strings.Contains(stdout, "bulwark help COMMAND") {
			t.Errorf("bulwark %s: exit %d, stdout:\n%s\nwant exit 0 and the command list", args[0], code, stdout)
		}
	}
	if code, _, stderr := runDispatch(); code != exitUsage || !strings.Contains(stderr, "Commands:") {
		t.Errorf("bulwark: exit %d, stderr %q; want exit 2 and the command list on stderr", code, stderr)
	}
}

// flagErrors are mistakes a person makes, and what the error must say.
var flagErrors = []struct {
	args []string
	want []string
}{
	{[]string{"run", "--timeout", "5", "task"}, []string{`--timeout "5"`, "5s", "bulwark help run"}},
	{[]string{"run", "--timeout", "soon", "task"}, []string{`--timeout "soon"`, "30s, 5m or 1h30m"}},
	{[]string{"run", "--max-steps", "many", "task"}, []string{`--max-steps "many"`, "whole number"}},
	{[]string{"run", "--json=maybe", "task"}, []string{`--json "maybe"`, "true or false"}},
	{[]string{"run", "--frobnicate", "task"}, []string{"unknown flag --frobnicate", "bulwark help run"}},
	{[]string{"bench", "agents", "--latency", "100"}, []string{`--latency "100"`, "100s"}},
	{[]string{"sandbox", "exec", "--timeout", "5", "--", "true"}, []string{`--timeout "5"`, "5s"}},
	{[]string{"sandbox", "frob"}, []string{`"frob"`, "exec or check"}},
	{[]string{"audit", "check"}, []string{`"check"`, "verify"}},
	{[]string{"guard", "sniff"}, []string{`"sniff"`, "scan"}},
	{[]string{"doctor", "now"}, []string{`unexpected argument "now"`}},
	{[]string{"backup"}, []string{"give --out FILE"}},
	{[]string{"backup", "verify"}, []string{"give the backup FILE"}},
	{[]string{"restore", "x.tar"}, []string{"give --data DIR"}},
	{[]string{"tasks", "frob"}, []string{`"frob"`, "list, show, logs, cancel, message or files"}},
	{[]string{"tasks", "message", "t_0123456789abcdef"}, []string{"give a task ID and the text"}},
	{[]string{"tasks", "show"}, []string{"give one task ID"}},
	{[]string{"tasks", "list", "--status", "done"}, []string{`--status "done"`, "succeeded"}},
}

func TestFlagErrorsSayWhatWasExpected(t *testing.T) {
	for _, c := range flagErrors {
		code, _, stderr := runDispatch(c.args...)
		if code != exitUsage {
			t.Errorf("bulwark %s: exit %d, want %d (stderr %q)", strings.Join(c.args, " "), code, exitUsage, stderr)
		}
		if strings.Count(stderr, "\n") != 1 {
			t.Errorf("bulwark %s: stderr %q, want one line", strings.Join(c.args, " "), stderr)
		}
		for _, want := range c.want {
			if !strings.Contains(stderr, want) {
				t.Errorf("bulwark %s: stderr %q lacks %q", strings.Join(c.args, " "), stderr, want)
			}
		}
	}
}

// TestEmailErrorEchoesInput checks that a bad --email is shown as typed
// (it was shown as "" once).
func TestEmailErrorEchoesInput(t *testing.T) {
	r := runBulwark(t, nil, "users", "create", "--tenant", "local", "--email", "bob")
	if r.code != exitUsage || !strings.Contains(r.stderr, `--email "bob"`) {
		t.Errorf("users create --email bob: exit %d, stderr %q; want exit 2 naming \"bob\"", r.code, r.stderr)
	}
}

func TestDurationFlag(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    string
		wantErr string
	}{
		{"90s", "1m30s", ""},
		{"1h30m", "1h30m0s", ""},
		{" 5m ", "5m0s", ""},
		{"5", "", "5s (seconds)"},
		{"2.5", "", "2.5m (minutes)"},
		{"later", "", "not a duration"},
	} {
		d, err := parseDurationFlag(c.in)
		switch {
		case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
			t.Errorf("parseDurationFlag(%q) = %v, %v; want an error with %q", c.in, d, err, c.wantErr)
		case c.wantErr == "" && (err != nil || d.String() != c.want):
			t.Errorf("parseDurationFlag(%q) = %v, %v; want %s", c.in, d, err, c.want)
		}
	}
}

// TestExecutionTimeWithoutUnit: BULWARK_MAX_EXECUTION_TIME=60 is refused
// with the units suggested, by run and serve, not replaced by the default
// without a word.
func TestExecutionTimeWithoutUnit(t *testing.T) {
	data := t.TempDir()
	for _, args := range [][]string{{"run", "--data", data, "--model", "replay:" + example(t), "x"}, {"serve", "--data", data, "--addr", "127.0.0.1:0"}} {
		cmd := bulwarkCmd(t, []string{"BULWARK_MAX_EXECUTION_TIME=60"}, args...)
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stop := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() }) // a serve that started
		cmd.Wait()
		stop.Stop()
		if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(errb.String(), `BULWARK_MAX_EXECUTION_TIME="60": a duration needs a unit: 60s`) {
			t.Errorf("bulwark %s with BULWARK_MAX_EXECUTION_TIME=60: exit %d, stderr %q", args[0], code, errb.String())
		}
	}
}
