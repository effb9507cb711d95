package code_test

import (
	"context"
	"encoding/json"
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
		if len(f.cmds) != 1 || f.cmds[0][0] != prog || !strings.HasPrefix(f.cmds[0][1], "/workspace/.bulwark/code/") {
			t.Fatalf("%s: ran %q, want %s on a file in the workspace", lang, f.cmds, prog)
		}
		saved, err := env.Workspace.ReadFile(strings.TrimPrefix(f.cmds[0][1], "/workspace/"))
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

func TestTargets(t *testing.T) {
	if got := tool.Target(code.Shell(), json.RawMessage(`{"command":"rm -rf /"}`)); got != "rm -rf /" {
		t.Errorf("run_shell target = %q", got)
	}
	if got := tool.Target(code.Code(), json.RawMessage(`{"language":"python","code":"import os"}`)); got != "python: import os" {
		t.Errorf("run_code target = %q", got)
	}
}
