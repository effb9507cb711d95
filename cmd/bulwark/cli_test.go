package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// binary is the bulwark binary built once for the CLI tests.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	testfamily.Announce(testfamily.Sandbox)
	dir, err := os.MkdirTemp("", "bulwark-cli-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "bulwark")
	// Built as the README builds it: static, without cgo.
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building bulwark: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// result is what one run of the binary did.
type result struct {
	code           int
	stdout, stderr string
}

// bulwarkCmd prepares the built binary with args, a clean environment
// holding only PATH, HOME and extra, and a temporary working directory.
func bulwarkCmd(t *testing.T, extra []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, extra...)
	return cmd
}

func runBulwark(t *testing.T, extra []string, args ...string) result {
	t.Helper()
	cmd := bulwarkCmd(t, extra, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running bulwark: %v", err)
	}
	return result{code, out.String(), errb.String()}
}

func example(t *testing.T) string {
	p, err := filepath.Abs("../../examples/hello/script.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunExample(t *testing.T) {
	ws := t.TempDir()
	r := runBulwark(t, nil, "run", "--model", "replay:"+example(t), "--workspace", ws, "Write a greeting program with a README")
	if r.code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, name := range []string{"greet.py", "README.md"} {
		if _, err := os.Stat(filepath.Join(ws, name)); err != nil {
			t.Errorf("the example did not write %s: %v", name, err)
		}
	}
	for _, want := range []string{"→ write_file", "→ edit_file", "✔ done", "I wrote greet.py"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestRunDefaultWorkspaceIsUnderTheDataFolder(t *testing.T) {
	cmd := bulwarkCmd(t, nil, "run", "--model", "replay:"+example(t), "task")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	var ws string
	for _, line := range strings.Split(string(out), "\n") {
		if p, ok := strings.CutPrefix(line, "workspace "); ok {
			ws = p
		}
	}
	if !strings.HasPrefix(ws, filepath.Join(cmd.Dir, "bulwark-data", "workspaces")+"/") {
		t.Fatalf("workspace %q is not under ./bulwark-data/workspaces", ws)
	}
	if _, err := os.Stat(filepath.Join(ws, "greet.py")); err != nil {
		t.Errorf("greet.py not in the printed workspace: %v", err)
	}
	info, err := os.Stat(filepath.Join(cmd.Dir, "bulwark-data"))
	if err != nil || info.Mode().Perm() != 0o700 {
		t.Errorf("data folder mode = %v, %v; want 0700", info.Mode().Perm(), err)
	}
}

func TestRunJSON(t *testing.T) {
	r := runBulwark(t, nil, "run", "--json", "--model", "replay:"+example(t), "--workspace", t.TempDir(), "task")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var last struct{ Type, Reason string }
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &last); err != nil {
			t.Fatalf("line %d is not JSON: %q", i+1, l)
		}
	}
	if last.Type != "task_finished" || last.Reason != "done" {
		t.Errorf("last event = %+v, want task_finished done", last)
	}
}

// badInput lists wrong invocations: each gets its exit status and one
// clear line on stderr, and no Go internals.
var badInput = []struct {
	name   string
	args   []string
	env    []string
	script string // written to a replay file named by {script}
	code   int
	want   string
}{
	{"no task", []string{"run", "--model", "replay:x"}, nil, "", 2, "no task given"},
	{"no model", []string{"run", "hello"}, nil, "", 2, "no model given"},
	{"unknown model spec", []string{"run", "--model", "gpt4", "hello"}, nil, "", 2, "openai:MODEL"},
	{"unknown provider", []string{"run", "--model", "foo:bar", "hello"}, nil, "", 2, "openai:MODEL"},
	{"missing API key", []string{"run", "--model", "openai:gpt-4o", "hello"}, nil, "", 1, "OPENAI_API_KEY"},
	{"missing replay file", []string{"run", "--model", "replay:/nonexistent/x.jsonl", "hello"}, nil, "", 1, "replay"},
	{"malformed replay file", []string{"run", "--model", "replay:{script}", "hello"}, nil, "{\"content\": \"ok\"}\n{not json\n", 2, "line 2"},
	{"bad approve", []string{"run", "--approve", "maybe", "--model", "replay:x", "hello"}, nil, "", 2, "--approve"},
	{"bad flag", []string{"run", "--bogus", "hello"}, nil, "", 2, "bogus"},
	{"unknown command", []string{"frobnicate"}, nil, "", 2, "unknown command"},
	{"task not UTF-8", []string{"run", "--model", "replay:x", "caf\xe9"}, nil, "", 2, "UTF-8"},
	{"task too long", []string{"run", "--model", "replay:x", strings.Repeat("x", 100_001)}, nil, "", 2, "the task"},
	{"unreachable base URL", []string{"run", "--model", "openai:m", "hello"},
		[]string{"OPENAI_API_KEY=sk-canary-0123456789abcdef", "OPENAI_BASE_URL=http://127.0.0.1:9/v1"}, "", 1, "127.0.0.1:9"},
	{"script runs out", []string{"run", "--model", "replay:{script}", "hello"}, nil,
		"{\"tool_calls\": [{\"name\": \"list_files\", \"arguments\": {}}]}\n", 1, "no more turns"},
}

func TestBadInput(t *testing.T) {
	for _, tt := range badInput {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string(nil), tt.args...)
			if tt.script != "" {
				p := filepath.Join(t.TempDir(), "script.jsonl")
				os.WriteFile(p, []byte(tt.script), 0o600)
				for i := range args {
					args[i] = strings.ReplaceAll(args[i], "{script}", p)
				}
			}
			r := runBulwark(t, tt.env, args...)
			if r.code != tt.code {
				t.Errorf("exit %d, want %d\nstderr: %s", r.code, tt.code, r.stderr)
			}
			all := r.stdout + r.stderr
			if !strings.Contains(all, tt.want) {
				t.Errorf("output lacks %q:\nstdout: %s\nstderr: %s", tt.want, r.stdout, r.stderr)
			}
			for _, bad := range []string{"goroutine ", "panic:", "sk-canary-0123456789abcdef", ".go:"} {
				if strings.Contains(all, bad) {
					t.Errorf("output shows %q:\n%s", bad, all)
				}
			}
		})
	}
}

func TestRunCannotLeaveTheWorkspace(t *testing.T) {
	parent := t.TempDir()
	ws := filepath.Join(parent, "ws")
	outside := filepath.Join(parent, "outside.txt")
	os.WriteFile(outside, []byte("untouched"), 0o600)
	os.Symlink(outside, filepath.Join(parent, "link-target"))
	os.MkdirAll(ws, 0o700)
	os.Symlink(outside, filepath.Join(ws, "link"))
	script := filepath.Join(parent, "script.jsonl")
	lines := []string{
		`{"tool_calls": [{"name": "write_file", "arguments": {"path": "../outside.txt", "content": "pwned"}}]}`,
		`{"tool_calls": [{"name": "write_file", "arguments": {"path": "link", "content": "pwned"}}]}`,
		`{"tool_calls": [{"name": "write_file", "arguments": {"path": "` + outside + `", "content": "pwned"}}]}`,
		`{"tool_calls": [{"name": "delete_file", "arguments": {"path": "../outside.txt"}}]}`,
		`{"tool_calls": [{"name": "write_file", "arguments": {"path": "../escaped.txt", "content": "pwned"}}]}`,
		`{"tool_calls": [{"name": "finish", "arguments": {"answer": "tried"}}]}`,
	}
	os.WriteFile(script, []byte(strings.Join(lines, "\n")), 0o600)
	r := runBulwark(t, nil, "run", "--model", "replay:"+script, "--workspace", ws, "escape")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if b, _ := os.ReadFile(outside); string(b) != "untouched" {
		t.Errorf("outside file = %q, want it untouched", b)
	}
	if _, err := os.Stat(filepath.Join(parent, "escaped.txt")); err == nil {
		t.Errorf("a file was created outside the workspace")
	}
	if strings.Count(r.stdout, "✗") < 5 {
		t.Errorf("want 5 refused calls shown:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, ws) && strings.Count(r.stdout, ws) > 1 {
		t.Errorf("tool messages reveal the host path of the workspace:\n%s", r.stdout)
	}
}

func TestInterruptCancelsCleanly(t *testing.T) {
	started := make(chan struct{}, 1)
	srv := llmtest.NewServer(func(*llmtest.Request) llmtest.Turn {
		select {
		case started <- struct{}{}:
		default:
		}
		return llmtest.Turn{Content: "working", Hang: true}
	})
	defer srv.Close()
	cmd := bulwarkCmd(t, []string{"OPENAI_API_KEY=sk-x", "OPENAI_BASE_URL=" + srv.URL + "/v1"},
		"run", "--model", "openai:m", "--workspace", t.TempDir(), "hang")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second): // a hang guard, not a speed assertion
		cmd.Process.Kill()
		t.Fatal("the model was never called")
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 {
			t.Errorf("exit = %v, want status 1", err)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("bulwark did not stop after SIGINT")
	}
	if !strings.Contains(out.String(), "canceled") {
		t.Errorf("output does not say the task was canceled:\n%s", out.String())
	}
}

func TestAskUserReadsTheTerminal(t *testing.T) {
	script := filepath.Join(t.TempDir(), "s.jsonl")
	os.WriteFile(script, []byte(`{"tool_calls": [{"name": "ask_user", "arguments": {"question": "Which name?"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "ok"}}]}
`), 0o600)
	cmd := bulwarkCmd(t, nil, "run", "--json", "--model", "replay:"+script, "--workspace", t.TempDir(), "ask")
	cmd.Stdin = strings.NewReader("Ada\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	found := false
	for sc.Scan() {
		var e struct{ Type, Text string }
		json.Unmarshal(sc.Bytes(), &e)
		if e.Type == "tool_result" && strings.Contains(e.Text, "Ada") {
			found = true
		}
	}
	if !found {
		t.Errorf("the answer typed at the terminal did not reach the model:\n%s", out)
	}
}

func TestApproveModes(t *testing.T) {
	script := filepath.Join(t.TempDir(), "s.jsonl")
	os.WriteFile(script, []byte(`{"tool_calls": [{"name": "write_file", "arguments": {"path": "notes/a.txt", "content": "x"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "ok"}}]}
`), 0o600)
	tests := []struct {
		mode, stdin string
		written     bool
	}{
		{"auto", "", true},
		{"deny", "", false},
		{"ask", "y\n", true},
		{"ask", "n\n", false},
		{"ask", "", false}, // no answer at all refuses
	}
	for _, tt := range tests {
		ws := t.TempDir()
		cmd := bulwarkCmd(t, nil, "run", "--approve", tt.mode, "--policy", "write_file(notes/*)=ask",
			"--model", "replay:"+script, "--workspace", ws, "task")
		cmd.Stdin = strings.NewReader(tt.stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("--approve %s: %v\n%s", tt.mode, err, out)
		}
		_, statErr := os.Stat(filepath.Join(ws, "notes", "a.txt"))
		if written := statErr == nil; written != tt.written {
			t.Errorf("--approve %s with answer %q: written = %v, want %v\n%s", tt.mode, tt.stdin, written, tt.written, out)
		}
		if tt.mode == "ask" && !strings.Contains(string(out), "notes/a.txt") {
			t.Errorf("the question does not show the exact target:\n%s", out)
		}
	}
}

func TestRunIsAuditedAndTamperingIsFound(t *testing.T) {
	data := t.TempDir()
	extra := []string{"BULWARK_DATA=" + data}
	if r := runBulwark(t, extra, "run", "--model", "replay:"+example(t), "--workspace", t.TempDir(), "task"); r.code != 0 {
		t.Fatalf("run: exit %d: %s", r.code, r.stderr)
	}
	r := runBulwark(t, extra, "audit", "verify")
	if r.code != 0 || !strings.Contains(r.stdout, "audit log intact") {
		t.Fatalf("verify of an untouched log: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	logPath := tenantAuditLog(t, data)
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{`"task.start"`, `"tool.call"`, `"task.end"`} {
		if !bytes.Contains(b, []byte(action)) {
			t.Errorf("the audit log has no %s record", action)
		}
	}
	b = bytes.Replace(b, []byte(`"greet.py`), []byte(`"grEet.py`), 1)
	os.WriteFile(logPath, b, 0o600)
	r = runBulwark(t, extra, "audit", "verify")
	if r.code != 1 || !strings.Contains(r.stderr, "NOT intact") || !strings.Contains(r.stderr, "record 2") {
		t.Errorf("verify of a changed log: exit %d, want 1 naming record 2\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// tenantAuditLog returns the file of the one tenant chain in data.
func tenantAuditLog(t *testing.T, data string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(data, "audit", "tenants", "*.log"))
	if len(m) != 1 {
		t.Fatalf("tenant audit chains in %s: %v, want one", data, m)
	}
	return m[0]
}

// allAudit returns the records of every audit chain in data.
func allAudit(t *testing.T, data string) string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(data, "audit", "tenants", "*.log"))
	var b strings.Builder
	for _, p := range append(m, filepath.Join(data, "audit", "audit.log")) {
		d, _ := os.ReadFile(p)
		b.Write(d)
	}
	return b.String()
}

func TestAuditOffWarns(t *testing.T) {
	data := t.TempDir()
	r := runBulwark(t, []string{"BULWARK_DATA=" + data, "BULWARK_AUDIT=off"}, "run", "--model", "replay:"+example(t), "--workspace", t.TempDir(), "task")
	if r.code != 0 || !strings.Contains(r.stderr, "BULWARK_AUDIT=off") {
		t.Errorf("exit %d; stderr %q, want a warning", r.code, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(data, "audit", "audit.log")); err == nil {
		t.Errorf("an audit log was written with BULWARK_AUDIT=off")
	}
}

func TestRunAgainstProviders(t *testing.T) {
	for _, spec := range []string{"openai:gpt-test", "anthropic:claude-test", "ollama:llama-test", "openai:plain?tools=text"} {
		t.Run(spec, func(t *testing.T) {
			textMode := strings.HasSuffix(spec, "?tools=text")
			var h llmtest.Handler
			if textMode {
				h = llmtest.Script(
					llmtest.Turn{Content: "I'll write it.\n```json\n{\"tool\": \"write_file\", \"arguments\": {\"path\": \"a.txt\", \"content\": \"from text\"}}\n```"},
					llmtest.Turn{Content: `{"tool": "finish", "arguments": {"answer": "done"}}`},
				)
			} else {
				h = llmtest.Script(
					llmtest.Turn{Content: "Writing.", Quirks: llmtest.NoIndex, ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: json.RawMessage(`{"path":"a.txt","content":"from the model"}`)}}},
					llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "finish", Arguments: json.RawMessage(`{"answer":"done"}`)}}},
				)
			}
			srv := llmtest.NewServer(h)
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://")
			envs := []string{
				"OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL=" + srv.URL + "/v1",
				"ANTHROPIC_API_KEY=sk-ant-test", "ANTHROPIC_BASE_URL=" + srv.URL,
				"OLLAMA_HOST=" + host,
			}
			ws := t.TempDir()
			r := runBulwark(t, envs, "run", "--model", spec, "--workspace", ws, "write a.txt")
			if r.code != 0 {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			b, err := os.ReadFile(filepath.Join(ws, "a.txt"))
			if err != nil || len(b) == 0 {
				t.Errorf("a.txt = %q, %v", b, err)
			}
			if srv.Count() != 2 {
				t.Errorf("%d model calls, want 2", srv.Count())
			}
		})
	}
}

func TestRestrictToWorkspaceFalseWarnsAndReachesTheHost(t *testing.T) {
	parent := t.TempDir()
	outside := filepath.Join(parent, "host.txt")
	script := filepath.Join(parent, "s.jsonl")
	os.WriteFile(script, []byte(`{"tool_calls": [{"name": "write_file", "arguments": {"path": "`+outside+`", "content": "written"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "ok"}}]}
`), 0o600)
	for _, restrict := range []string{"", "false"} {
		os.Remove(outside)
		var extra []string
		if restrict != "" {
			extra = []string{"BULWARK_RESTRICT_TO_WORKSPACE=" + restrict}
		}
		r := runBulwark(t, extra, "run", "--model", "replay:"+script, "--workspace", filepath.Join(parent, "ws"), "x")
		_, err := os.Stat(outside)
		if restrict == "" {
			if err == nil {
				t.Errorf("the default confined run wrote a host file")
			}
			continue
		}
		if err != nil {
			t.Errorf("with BULWARK_RESTRICT_TO_WORKSPACE=false the host file was not written: %s", r.stdout)
		}
		if !strings.Contains(r.stderr, "WARNING: BULWARK_RESTRICT_TO_WORKSPACE=false") {
			t.Errorf("no loud warning: %q", r.stderr)
		}
	}
}

// TestMemoryExample runs the README's memory example: one task
// remembers, a later one (a new process, the same data folder) recalls
// it, without an API key.
func TestMemoryExample(t *testing.T) {
	data := t.TempDir()
	dir, err := filepath.Abs("../../examples/memory")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"BULWARK_DATA=" + data}
	r := runBulwark(t, env, "run", "--model", "replay:"+filepath.Join(dir, "remember.jsonl"), "--workspace", t.TempDir(), "Find out how this project deploys")
	if r.code != 0 {
		t.Fatalf("remember: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	r = runBulwark(t, env, "run", "--model", "replay:"+filepath.Join(dir, "recall.jsonl"), "--workspace", t.TempDir(), "How do I deploy to production?")
	if r.code != 0 {
		t.Fatalf("recall: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if out := r.stdout + r.stderr; !strings.Contains(out, "never deploy on Fridays") || !strings.Contains(out, "mem_") {
		t.Errorf("the second task did not recall the memory:\n%s", out)
	}
}
