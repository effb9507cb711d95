package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/secret"
)

// parityScript is one task's replay: a tool given a secret, and, in the
// real sandbox, a command and a connection the egress proxy refuses.
func parityScript(t *testing.T, sandboxed bool) string {
	t.Helper()
	lines := []string{
		`{"tool_calls": [{"name": "write_file", "arguments": {"path": "s.txt", "content": "key {{secret:PARITY_TOKEN}}"}}]}`,
		`{"tool_calls": [{"name": "read_file", "arguments": {"path": "../outside.txt"}}]}`,
	}
	if sandboxed {
		lines = append(lines,
			`{"tool_calls": [{"name": "run_shell", "arguments": {"command": "echo hi"}}]}`,
			`{"tool_calls": [{"name": "run_code", "arguments": {"language": "python", "code": "import urllib.request\ntry:\n    urllib.request.urlopen('http://evil.example/', timeout=5)\nexcept Exception as e:\n    print('failed', e)\n"}}]}`)
	}
	lines = append(lines, `{"tool_calls": [{"name": "finish", "arguments": {"answer": "done"}}]}`)
	p := filepath.Join(t.TempDir(), "parity.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// taskActions reads the audit chains of data and returns the set of
// "action outcome" of the records of task id, sorted, and whether one of
// them names the secret.
func taskActions(t *testing.T, data, id string) (actions []string, secretNamed bool) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(data, "audit", "tenants", "*.log"))
	seen := map[string]bool{}
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r struct {
				Action, Target, Outcome string
				Details                 map[string]string
			}
			if json.Unmarshal(sc.Bytes(), &r) != nil || r.Target != id {
				continue
			}
			seen[r.Action+" "+r.Outcome] = true
			for _, v := range r.Details {
				secretNamed = secretNamed || strings.Contains(v, "PARITY_TOKEN")
			}
		}
		f.Close()
	}
	for a := range seen {
		actions = append(actions, a)
	}
	slices.Sort(actions)
	return actions, secretNamed
}

// TestCLIAndServerAuditTheSame runs one replayed task through `bulwark
// run` and through a `bulwark serve` task, both with the same secret and
// environment, and compares the audit records of the two tasks: the same
// actions with the same outcomes (tool calls, sandbox runs, egress refused,
// ...), since both assemble the task with taskenv.New. With
// BULWARK_TEST_SANDBOX=1 the task also runs a command and a refused
// connection in the real sandbox.
func TestCLIAndServerAuditTheSame(t *testing.T) {
	sandboxed := os.Getenv("BULWARK_TEST_SANDBOX") == "1"
	script := parityScript(t, sandboxed)
	const token = "parity-token-value-8c1d2e"
	env := func(data string) []string {
		return []string{"BULWARK_DATA=" + data, "BULWARK_RATE_LIMIT=off", "BULWARK_ALLOWED_DOMAINS=example.com",
			"BULWARK_SECRET_TOOLS=run_shell,run_code,write_file"}
	}
	setSecret := func(data string, args ...string) {
		t.Helper()
		cmd := bulwarkCmd(t, env(data), append([]string{"secrets", "set"}, args...)...)
		cmd.Stdin = strings.NewReader(token + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("secrets set: %v\n%s", err, out)
		}
	}
	newData := func() string {
		d := t.TempDir()
		if _, err := secret.CreateKeyFile(filepath.Join(d, "master.key")); err != nil {
			t.Fatal(err)
		}
		return d
	}

	// bulwark run
	cliData := newData()
	setSecret(cliData, "PARITY_TOKEN")
	r := runBulwark(t, env(cliData), "run", "--approve", "auto", "--model", "replay:"+script, "--workspace", filepath.Join(t.TempDir(), "ws"), "parity")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	m := regexp.MustCompile(`(?m)^task (\S+)$`).FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("run did not name its task:\n%s", r.stdout)
	}
	cli, cliSecret := taskActions(t, cliData, m[1])

	// bulwark serve
	srvData := newData()
	res := runBulwark(t, env(srvData), "tenants", "create", "parity")
	if res.code != 0 {
		t.Fatalf("tenants create: %d %s", res.code, res.stderr)
	}
	key := strings.TrimSpace(res.stdout)
	setSecret(srvData, "--tenant", "parity", "PARITY_TOKEN")
	srv := startServe(t, env(srvData), "--model", "replay:"+script)
	var task crashTask
	if code := srv.call(t, key, "POST", "/api/v1/tasks", `{"input":"parity"}`, &task); code != 201 {
		t.Fatalf("POST task = %d", code)
	}
	for i := 0; ; i++ {
		st := srv.task(t, key, task.ID)
		if st.Status == "succeeded" {
			break
		}
		if i > 3000 || st.Status == "failed" {
			t.Fatalf("the server's task did not succeed: %+v\n%s", st, srv.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	served, srvSecret := taskActions(t, srvData, task.ID)
	// What the API itself records about a task (its submission) is not
	// the task's set-up: leave it out.
	served = slices.DeleteFunc(served, func(a string) bool { return strings.HasPrefix(a, "task.create ") })

	t.Logf("bulwark run: %q\nbulwark serve: %q", cli, served)
	if !slices.Equal(cli, served) {
		t.Errorf("the audit records differ:\n  bulwark run:   %q\n  bulwark serve: %q", cli, served)
	}
	want := []string{"tool.call ok", "tool.call error"}
	if sandboxed {
		want = append(want, "sandbox.run ok", "egress.deny denied")
	}
	for _, w := range want {
		if !slices.Contains(cli, w) {
			t.Errorf("the task's records lack %q: %q", w, cli)
		}
	}
	if !cliSecret || !srvSecret {
		t.Errorf("the secret's use is not audited: run %v, serve %v", cliSecret, srvSecret)
	}
}
