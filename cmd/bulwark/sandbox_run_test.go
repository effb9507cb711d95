package main

import (
	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func needSandbox(t *testing.T) {
	t.Helper()
	testfamily.Sandbox.Require(t)
}

func TestExampleRunsPythonInTheSandbox(t *testing.T) {
	needSandbox(t)
	ws, data := t.TempDir(), t.TempDir()
	r := runBulwark(t, []string{"BULWARK_DATA=" + data}, "run", "--model", "replay:"+example(t), "--workspace", ws, "Write a greeting program")
	if r.code != 0 || !strings.Contains(r.stdout, "Hello, Ada!") {
		t.Fatalf("exit %d, want 0 with the program's output\n%s%s", r.code, r.stdout, r.stderr)
	}
	log := allAudit(t, data)
	if !strings.Contains(log, `"sandbox.run"`) || !strings.Contains(log, "python3") {
		t.Errorf("the sandbox run is not in the audit log")
	}
	if strings.Contains(log, "greet.py Ada") {
		t.Errorf("the audit log holds the command line")
	}
}

func TestAgentCodeIsContained(t *testing.T) {
	needSandbox(t)
	parent := t.TempDir()
	ws := filepath.Join(parent, "ws")
	os.Mkdir(ws, 0o700)
	secretFile := filepath.Join(parent, "host-secret.txt")
	os.WriteFile(secretFile, []byte("HOST-SECRET-CANARY"), 0o600)
	script := filepath.Join(parent, "s.jsonl")
	os.WriteFile(script, []byte(`{"tool_calls": [{"name": "run_shell", "arguments": {"command": "env; cat `+secretFile+`; cat /proc/1/environ; ls /"}}]}
{"tool_calls": [{"name": "run_code", "arguments": {"language": "python", "code": "import os\nos.execv('/usr/bin/perl', ['perl', '-e', 'print 1'])"}}]}
{"tool_calls": [{"name": "run_shell", "arguments": {"command": "rm -rf /workspace/*"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "tried"}}]}
`), 0o600)
	os.WriteFile(filepath.Join(ws, "keep.txt"), []byte("keep"), 0o600)
	r := runBulwark(t, []string{"OPENAI_API_KEY=sk-HOST-KEY-CANARY", "BULWARK_POLICY=run_shell(rm -rf *)=deny"},
		"run", "--json", "--model", "replay:"+script, "--workspace", ws, "contain")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, leak := range []string{"HOST-SECRET-CANARY", "sk-HOST-KEY-CANARY"} {
		if strings.Contains(r.stdout, leak) {
			t.Errorf("the sandboxed command saw %q", leak)
		}
	}
	if !strings.Contains(r.stdout, "Permission denied") && !strings.Contains(r.stdout, "PermissionError") {
		t.Errorf("running perl (not on the allowlist) was not refused:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "the policy refuses") {
		t.Errorf("run_shell(rm -rf *)=deny did not refuse:\n%s", r.stdout)
	}
	if _, err := os.Stat(filepath.Join(ws, "keep.txt")); err != nil {
		t.Errorf("the denied rm ran: %v", err)
	}
}

func TestEgressIsAudited(t *testing.T) {
	needSandbox(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "s.jsonl")
	os.WriteFile(script, []byte(`{"tool_calls": [{"name": "run_code", "arguments": {"language": "python", "code": "import urllib.request\ntry:\n    urllib.request.urlopen('http://evil.example/', timeout=5)\nexcept Exception as e:\n    print('failed', e)\n"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "ok"}}]}
`), 0o600)
	data := filepath.Join(dir, "data")
	r := runBulwark(t, []string{"BULWARK_DATA=" + data, "BULWARK_ALLOWED_DOMAINS=example.com"},
		"run", "--model", "replay:"+script, "--workspace", filepath.Join(dir, "ws"), "x")
	if r.code != 0 {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	log := allAudit(t, data)
	if !strings.Contains(log, `"egress.deny"`) || !strings.Contains(log, "evil.example") {
		t.Errorf("the refused connection is not in the audit log")
	}
	if !strings.Contains(r.stdout, "network connection refused: evil.example") {
		t.Errorf("the model was not told the connection was refused:\n%s", r.stdout)
	}
}

// `sandbox check` says whether root trees are pinned, and how to drop them.
func TestPinnedTreesLine(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, "none pinned (/run/bulwark/trees)"},
		{2, "2 pinned in /run/bulwark/trees for later sandbox exec runs (umount /run/bulwark/trees/* drops them)"},
	} {
		if got := pinnedTreesLine(c.n, "/run/bulwark/trees"); got != c.want {
			t.Errorf("pinnedTreesLine(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
