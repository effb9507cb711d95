package taskenv

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
)

// Under *(secrets/*)=deny and *(*.env)=deny, run_code and run_shell
// commands that compute the names (which the policy's reading of the
// command cannot see, so it allows them) find the files hidden: the
// canary never comes back in a tool's output.
func TestDeniedFilesHiddenFromCode(t *testing.T) {
	requireSandbox(t)
	const canary = "canary-5e2d-TASKENV"
	rules, err := bulwark.ParseRules("*(secrets/*)=deny; *(*.env)=deny")
	if err != nil {
		t.Fatal(err)
	}
	policy := bulwark.Policy{Rules: rules}
	e, ws := newEnv(t, Options{Policy: policy, Sandbox: SandboxOptions{AllowExec: []string{"bash", "python3", "cat"}}})
	for name, content := range map[string]string{"secrets/k": canary, "prod.env": canary, "notes.txt": "visible"} {
		p := filepath.Join(ws.Path(), name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	calls := []struct{ tool, args string }{
		{"run_code", `{"language":"python","code":"import base64\nfor p in ['sec'+'rets/k', base64.b64decode('cHJvZC5lbnY=').decode(), 'notes.txt']:\n    try:\n        print(open(p).read())\n    except OSError as e:\n        print(e)"}`},
		{"run_shell", `{"command":"python3 -c \"print(open('sec'+'rets/k').read())\"; python3 -c \"import base64; print(open(base64.b64decode('cHJvZC5lbnY=')).read())\"; cat notes.txt"}`},
	}
	env := &tool.Env{Exec: e.Exec, Workspace: ws}
	for _, c := range calls {
		tl, args, err := e.Tools.Prepare(c.tool, json.RawMessage(c.args))
		if err != nil {
			t.Fatalf("%s %s: %v", c.tool, c.args, err)
		}
		eff, err := tl.Effects(args)
		if err != nil {
			t.Fatal(err)
		}
		if v := policy.Decide(tool.PolicyCall(tl, args, eff)); v.Decision != bulwark.Allow {
			// The call must get past the rules for the test to mean
			// anything: the sandbox is what stops it.
			t.Fatalf("%s %s: the policy says %s (%s); want it allowed", c.tool, c.args, v.Decision, v.Rule)
		}
		res, err := e.Tools.Call(context.Background(), env, c.tool, args)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(res.Output, canary) {
			t.Errorf("%s %s read a hidden file:\n%s", c.tool, c.args, res.Output)
		}
		if !strings.Contains(res.Output, "visible") {
			t.Errorf("%s %s: notes.txt, not hidden, was not read:\n%s", c.tool, c.args, res.Output)
		}
	}
}

// TestDeniedFileWithBlankHiddenFromCode: *(my keys/*)=deny, which
// read_file obeys for my keys/k, hides the file from commands too.
func TestDeniedFileWithBlankHiddenFromCode(t *testing.T) {
	requireSandbox(t)
	const canary = "canary-81c0-BLANK"
	rules, err := bulwark.ParseRules("*(my keys/*)=deny")
	if err != nil {
		t.Fatal(err)
	}
	policy := bulwark.Policy{Rules: rules}
	e, ws := newEnv(t, Options{Policy: policy, Sandbox: SandboxOptions{AllowExec: []string{"python3"}}})
	if err := os.MkdirAll(filepath.Join(ws.Path(), "my keys"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws.Path(), "my keys/k"), []byte(canary), 0o644); err != nil {
		t.Fatal(err)
	}
	args := json.RawMessage(`{"language":"python","code":"try:\n    print(open('my'+' keys/k').read())\nexcept OSError as e:\n    print(e)\nprint('done')"}`)
	tl, args, err := e.Tools.Prepare("run_code", args)
	if err != nil {
		t.Fatal(err)
	}
	eff, err := tl.Effects(args)
	if err != nil {
		t.Fatal(err)
	}
	if v := policy.Decide(tool.PolicyCall(tl, args, eff)); v.Decision != bulwark.Allow {
		t.Fatalf("run_code: the policy says %s (%s); want it allowed", v.Decision, v.Rule)
	}
	res, err := e.Tools.Call(context.Background(), &tool.Env{Exec: e.Exec, Workspace: ws}, "run_code", args)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(res.Output, canary) || !strings.Contains(res.Output, "done") {
		t.Errorf("run_code read my keys/k = %q; want it hidden", res.Output)
	}
}
