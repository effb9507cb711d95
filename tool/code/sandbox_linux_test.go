package code_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

// sandboxEnv backs the code tools with a real sandbox allowing only allow.
func sandboxEnv(t *testing.T, allow ...string) *tool.Env {
	t.Helper()
	testfamily.Sandbox.Require(t)
	if r := sandbox.Check(); !r.OK() {
		t.Fatalf("BULWARK_TEST_SANDBOX=1 but the host cannot sandbox: %s", r.Problem())
	}
	dir := t.TempDir()
	ws, err := workspace.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	spec := sandbox.Spec{Workspace: dir, AllowExec: allow}
	return &tool.Env{Workspace: ws, Exec: func(ctx context.Context, cmd []string) (*tool.ExecResult, error) {
		r, err := sandbox.Run(ctx, spec, cmd)
		if err != nil {
			return nil, err
		}
		return &tool.ExecResult{ExitCode: r.ExitCode, Stdout: r.Stdout, Stderr: r.Stderr, Duration: r.Duration, TimedOut: r.TimedOut, LimitHit: r.LimitHit}, nil
	}}
}

// Every reason a command did not run reaches the model in the tool's
// result: off the allowlist (and how an operator allows it), not found.
func TestReasonsReachTheModel(t *testing.T) {
	tests := []struct {
		label string
		allow []string
		tool  string
		args  string
		want  []string
	}{
		{"interpreter off the allowlist", []string{"bash"}, "run_code", `{"language":"python","code":"print(1)"}`,
			[]string{"exit status 126", "python3: not on the sandbox's command allowlist", "BULWARK_ALLOWED_COMMANDS"}},
		{"bash off the allowlist", []string{"python3"}, "run_shell", `{"command":"echo hi"}`,
			[]string{"exit status 126", "bash: not on the sandbox's command allowlist", "BULWARK_ALLOWED_COMMANDS"}},
		{"a program bash starts, off the allowlist", []string{"bash"}, "run_shell", `{"command":"cat /etc/hostname"}`,
			[]string{"exit status 126", "Permission denied", "BULWARK_ALLOWED_COMMANDS"}},
		{"not found", []string{"bash"}, "run_shell", `{"command":"no-such-program --flag"}`,
			[]string{"exit status 127", "no-such-program: command not found", "not found in the sandbox"}},
	}
	for _, tt := range tests {
		env := sandboxEnv(t, tt.allow...)
		res, err := reg.Call(context.Background(), env, tt.tool, json.RawMessage(tt.args))
		if err != nil {
			t.Fatalf("%s: %v", tt.label, err)
		}
		if !res.IsError || strings.Contains(res.Output, "(no output)") {
			t.Errorf("%s: result %+v, want an error that says why", tt.label, res)
		}
		for _, w := range tt.want {
			if !strings.Contains(res.Output, w) {
				t.Errorf("%s: %s %s gave %q, want it to contain %q", tt.label, tt.tool, tt.args, res.Output, w)
			}
		}
	}
}

// A bash program runs what the policy read: lines it appends to its own
// file do not run (bash reads a script file a command at a time, so they
// did, past any rule on run_code's commands), and errors still name the
// file and line.
func TestRunCodeBashRunsWhatWasJudged(t *testing.T) {
	env := sandboxEnv(t, "bash")
	code := "echo first\necho 'echo APPENDED' >> \"$0\"\nno-such-program\n"
	args, _ := json.Marshal(map[string]string{"language": "bash", "code": code})
	res, err := reg.Call(context.Background(), env, "run_code", args)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Output, "APPENDED") || !strings.Contains(res.Output, "first") {
		t.Errorf("run_code ran what its program appended to itself, or did not run: %s", res.Output)
	}
	if !strings.Contains(res.Output, ".bulwark/code/") || !strings.Contains(res.Output, "line 3") {
		t.Errorf("an error does not name the program's file and line: %s", res.Output)
	}
}
