package code_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
	"github.com/bulwark-agents/bulwark/workspace"
)

// fakeExec records the commands it is given and answers with res.
type fakeExec struct {
	cmds [][]string
	res  tool.ExecResult
}

func (f *fakeExec) Exec(_ context.Context, cmd []string) (*tool.ExecResult, error) {
	f.cmds = append(f.cmds, cmd)
	r := f.res
	return &r, nil
}

func newEnv(t *testing.T, f *fakeExec) *tool.Env {
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	env := &tool.Env{Workspace: ws}
	if f != nil {
		env.Exec = f.Exec
	}
	return env
}

var reg = tool.NewRegistry(code.Shell(), code.Code())

func TestRunShellRunsBash(t *testing.T) {
	f := &fakeExec{res: tool.ExecResult{ExitCode: 0, Stdout: []byte("hi\n"), Duration: 3 * time.Millisecond}}
	res, err := reg.Call(context.Background(), newEnv(t, f), "run_shell", json.RawMessage(`{"command":"echo hi | tr a-z A-Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(f.cmds) != 1 || strings.Join(f.cmds[0], "|") != "bash|-c|echo hi | tr a-z A-Z" {
		t.Errorf("ran %q, want bash -c with the command line", f.cmds)
	}
	if res.IsError || !strings.Contains(res.Output, "exit status 0") || !strings.Contains(res.Output, "--- stdout ---\nhi\n") {
		t.Errorf("result = %+v", res)
	}
}

func TestRunCodeWritesTheProgramAndRunsItsInterpreter(t *testing.T) {
	for lang, prog := range map[string]string{"python": "python3", "javascript": "node", "bash": "bash"} {
		f := &fakeExec{}
		env := newEnv(t, f)
		args, _ := json.Marshal(map[string]string{"language": lang, "code": "print(1)"})
		if _, err := reg.Call(context.Background(), env, "run_code", args); err != nil {
			t.Fatalf("%s: %v", lang, err)
		}
		if len(f.cmds) != 1 || f.cmds[0][0] != prog || !strings.HasPrefix(f.cmds[0][len(f.cmds[0])-1], "/workspace/.bulwark/code/") {
			t.Fatalf("%s: ran %q, want %s on a file in the workspace", lang, f.cmds, prog)
		}
		saved, err := env.Workspace.ReadFile(strings.TrimPrefix(f.cmds[0][len(f.cmds[0])-1], "/workspace/"))
		if err != nil || string(saved) != "print(1)" {
			t.Errorf("%s: the program file holds %q, %v", lang, saved, err)
		}
	}
}

func TestCodeToolsRefuseWithoutASandbox(t *testing.T) {
	env := newEnv(t, nil)
	for name, args := range map[string]string{
		"run_shell": `{"command":"ls"}`,
		"run_code":  `{"language":"python","code":"print(1)"}`,
	} {
		_, err := reg.Call(context.Background(), env, name, json.RawMessage(args))
		if bulwark.ErrorKind(err) != bulwark.Unavailable || !strings.Contains(bulwark.ErrorMessage(err), "sandbox") {
			t.Errorf("%s without Exec: %v, want an unavailable error naming the sandbox", name, err)
		}
	}
}

func TestArgumentsAreStrict(t *testing.T) {
	env := newEnv(t, &fakeExec{})
	for name, args := range map[string]string{
		"run_shell": `{"command":""}`,
		"run_code":  `{"language":"ruby","code":"puts 1"}`,
	} {
		if _, err := reg.Call(context.Background(), env, name, json.RawMessage(args)); bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("%s %s: %v, want invalid", name, args, err)
		}
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		r    tool.ExecResult
		want []string
	}{
		{tool.ExecResult{ExitCode: 137, TimedOut: true, Timeout: 30 * time.Second}, []string{"exit status 137", "30s time limit", "(no output)"}},
		{tool.ExecResult{ExitCode: 1, LimitHit: []string{"memory", "output"}, Stderr: []byte("boom")}, []string{"memory limit", "output limit", "--- stderr ---\nboom\n"}},
		{tool.ExecResult{ExitCode: -1, LimitHit: []string{"workspace", "file size"}}, []string{"workspace went past its size or file count limit", "file size limit"}},
		{tool.ExecResult{Denied: []string{"evil.com:443 (not on the allowlist)"}}, []string{"network connection refused: evil.com:443"}},
	}
	for _, tt := range tests {
		got := code.Describe(&tt.r)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("Describe(%+v) = %q, want it to contain %q", tt.r, got, w)
			}
		}
	}
}

var effectsTests = []struct {
	tool    tool.Tool
	args    string
	runs    []string
	dynamic bool
	targets []string
	writes  []string
}{
	{code.Shell(), `{"command":"ls"}`, []string{"ls"}, false, []string{"ls"}, nil},
	{code.Shell(), `{"command":"python3 greet.py Ada"}`, []string{"python3 greet.py Ada"}, false, []string{"python3 greet.py Ada"}, nil},
	{code.Code(), `{"language":"python","code":"import os"}`, []string{"python3 /workspace/.bulwark/code/prog_de2abade832c8e35.py"}, false,
		[]string{"python: import os"}, []string{".bulwark/code/prog_de2abade832c8e35.py"}},
	{code.Code(), `{"language":"bash","code":"ls"}`, []string{"bash /workspace/.bulwark/code/prog_c7b68ac37f364473.sh", "ls"}, false,
		[]string{"bash: ls", "ls"}, []string{".bulwark/code/prog_c7b68ac37f364473.sh"}},
}

func TestEffects(t *testing.T) {
	for _, tt := range effectsTests {
		e, err := tool.EffectsOf(tt.tool, json.RawMessage(tt.args))
		if err != nil {
			t.Errorf("%s %s: %v", tt.tool.Name(), tt.args, err)
			continue
		}
		if !slices.Equal(e.Runs, tt.runs) || (len(e.Dynamic) > 0) != tt.dynamic || !slices.Equal(e.Targets, tt.targets) || !slices.Equal(e.Writes, tt.writes) {
			t.Errorf("%s %s: effects %+v, want runs %q, dynamic %v, targets %q, writes %q", tt.tool.Name(), tt.args, e, tt.runs, tt.dynamic, tt.targets, tt.writes)
		}
	}
}

// TestEffectsParsed needs the real shell parser (package shell, merged from
// its own branch): it fails with the placeholder, which reads one command.
func TestEffectsParsed(t *testing.T) {
	e, err := tool.EffectsOf(code.Shell(), json.RawMessage(`{"command":"cd . && rm -rf *"}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Runs) != 2 || e.Runs[0] != "cd ." || !strings.HasPrefix(e.Runs[1], "rm ") {
		t.Errorf("run_shell effects %+v, want the two commands", e)
	}
	e, err = tool.EffectsOf(code.Shell(), json.RawMessage(`{"command":"eval \"$X\""}`))
	if err != nil || len(e.Dynamic) == 0 {
		t.Errorf("eval: effects %+v, %v, want it dynamic", e, err)
	}
}

func TestShellPatterns(t *testing.T) {
	p := code.Shell().(tool.Patterner)
	for _, bad := range []string{"", "   "} {
		if forms, err := p.Patterns(bad); err == nil {
			t.Errorf("Patterns(%q) = %q, want an error: it names no command", bad, forms)
		}
	}
	if forms, err := p.Patterns("rm  -rf   *"); err != nil || len(forms) != 1 {
		t.Errorf("Patterns(rm  -rf   *) = %q, %v", forms, err)
	}
}

func TestSecretsInEffects(t *testing.T) {
	// {{secret:API_TOKEN}} spelled with JSON escapes is found all the same.
	e, err := tool.EffectsOf(code.Shell(), json.RawMessage(`{"command":"curl -H \"x: \u007b{secret:API_TOKEN}}\" a"}`))
	if err != nil || !slices.Equal(e.Secrets, []string{"API_TOKEN"}) {
		t.Errorf("effects %+v, %v, want the secret API_TOKEN", e, err)
	}
}

// TestGlobPartsMeetFileRules: a word the shell expands meets a one-word
// deny rule when it could name a file the rule names; a quoted one is a
// name as written, and an allow rule is not widened.
func TestGlobPartsMeetFileRules(t *testing.T) {
	run := code.Shell()
	for _, tt := range []struct {
		rules, command string
		want           bulwark.Decision
	}{
		{"*(*.env)=deny", "cat prod.e*", bulwark.Deny},
		{"*(*.env)=deny", "cat ./config/../prod.[e]nv", bulwark.Deny},
		{"*(*.env)=deny", "find . -name '*.py'", bulwark.Allow},
		{"*(*.env)=deny", "cat 'prod.e*'", bulwark.Allow},
		{"*(*.env)=deny", "cat *.txt", bulwark.Allow},
		{"run_shell(cat *.env)=allow", "cat prod.e*", bulwark.Deny},
	} {
		rules, err := bulwark.ParseRules(tt.rules)
		if err != nil {
			t.Fatal(err)
		}
		args, _ := json.Marshal(map[string]string{"command": tt.command})
		e, err := tool.EffectsOf(run, args)
		if err != nil {
			t.Fatal(err)
		}
		p := bulwark.Policy{Rules: rules}
		if tt.rules == "run_shell(cat *.env)=allow" {
			p.Default = bulwark.Deny
		}
		if got := p.Decide(tool.PolicyCall(run, args, e)).Decision; got != tt.want {
			t.Errorf("%s on %q: %s, want %s", tt.rules, tt.command, got, tt.want)
		}
	}
}

// The program file of a call whose code had a secret's value put in
// (BULWARK_SECRETS_IN_SANDBOX) is named after the code as the model wrote
// it, placeholders in, which is the file its effects declared, and holds
// the value only while the program runs. Named after the code with the
// value, it let whoever lists the files test guesses at the value offline;
// and the value stayed in the workspace, unencrypted, after the task (a
// red team).
func TestRunCodeKeepsNoSecretInTheProgramFile(t *testing.T) {
	const value = "hunter2024-Zq7pW3xK9mR2"
	written, _ := json.Marshal(map[string]string{"language": "python", "code": `h = "Bearer {{secret:TOK}}"`})
	withValue, _ := json.Marshal(map[string]string{"language": "python", "code": `h = "Bearer ` + value + `"`})
	env := newEnv(t, nil)
	var during []byte
	var ran []string
	env.Exec = func(_ context.Context, cmd []string) (*tool.ExecResult, error) {
		ran = cmd
		during, _ = env.Workspace.ReadFile(strings.TrimPrefix(cmd[len(cmd)-1], "/workspace/"))
		return &tool.ExecResult{}, nil
	}
	e, err := tool.EffectsOf(code.Code(), written)
	if err != nil || len(e.Writes) != 1 {
		t.Fatalf("effects: %+v, %v", e, err)
	}
	ctx := tool.WithModelArgs(context.Background(), written)
	if _, err := reg.Call(ctx, env, "run_code", withValue); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimPrefix(ran[len(ran)-1], "/workspace/"); got != e.Writes[0] {
		t.Errorf("ran %s, want the file its effects declared, %s", got, e.Writes[0])
	}
	if !strings.Contains(string(during), value) {
		t.Errorf("the program as it ran: %q, want the value put in", during)
	}
	after, err := env.Workspace.ReadFile(e.Writes[0])
	if err != nil || string(after) != `h = "Bearer {{secret:TOK}}"` {
		t.Errorf("the program file after the run: %q, %v; want the code as written", after, err)
	}
	infos, err := env.Workspace.ReadDir(".bulwark/code")
	if err != nil || len(infos) != 1 {
		t.Errorf("the program folder holds %d files (%v), want 1", len(infos), err)
	}
}
