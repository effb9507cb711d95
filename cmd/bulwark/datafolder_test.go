package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/secret"
)

// sharedFolder is a data folder with a fake model server, and the
// environment that points the binary at both.
func sharedFolder(t *testing.T) (data string, extra []string) {
	t.Helper()
	model := llmtest.NewServer(crashModel)
	t.Cleanup(model.Close)
	data = t.TempDir()
	if _, err := secret.CreateKeyFile(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	return data, []string{"BULWARK_DATA=" + data, "BULWARK_RATE_LIMIT=off", "BULWARK_SHARED_PROVIDER_KEYS=on",
		"OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL=" + model.URL + "/v1"}
}

type listedTask struct {
	ID       string `json:"id"`
	TenantID string `json:"tenant_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason"`
	Answer   string `json:"answer"`
}

func (s *served) tasks(t *testing.T, key string) []listedTask {
	t.Helper()
	var out struct {
		Tasks []listedTask `json:"tasks"`
	}
	if code := s.call(t, key, "GET", "/api/v1/tasks?limit=200", "", &out); code != 200 {
		t.Fatalf("GET /api/v1/tasks = %d", code)
	}
	return out.Tasks
}

var taskLine = regexp.MustCompile(`(?m)^task (t_[0-9a-f]+)$`)

// TestCLIBesideServer runs the admin commands and `bulwark run` while a
// real `bulwark serve` runs on the same data folder: each works, with no
// warning, its audit records land in the chains the server appends to,
// the chains verify (while it runs and after), the CLI's task is in its
// tenant's task list, and failed runs leave no task half made.
func TestCLIBesideServer(t *testing.T) {
	data, extra := sharedFolder(t)
	srv := startServe(t, extra, "--model", "openai:x")

	res := runBulwark(t, extra, "tenants", "create", "acme")
	if res.code != 0 || strings.Contains(res.stderr, "WARNING") {
		t.Fatalf("tenants create beside the server: exit %d\n%s", res.code, res.stderr)
	}
	key := strings.TrimSpace(res.stdout)

	users := bulwarkCmd(t, extra, "users", "create", "--tenant", "acme", "--email", "bob@example.com")
	users.Stdin = strings.NewReader("Quartz-Lantern-Oboe-74\n")
	out, err := users.CombinedOutput()
	if err != nil || strings.Contains(string(out), "WARNING") {
		t.Fatalf("users create beside the server: %v\n%s", err, out)
	}
	userID := strings.Fields(string(out))[0]
	sec := bulwarkCmd(t, extra, "secrets", "set", "--tenant", "acme", "--hosts", "api.example.com", "DEPLOY_TOKEN")
	sec.Stdin = strings.NewReader("value-of-the-token\n")
	if out, err := sec.CombinedOutput(); err != nil || strings.Contains(string(out), "WARNING") {
		t.Fatalf("secrets set beside the server: %v\n%s", err, out)
	}

	if res := runBulwark(t, extra, "keys", "rotate-master"); res.code != 0 || strings.Contains(res.stderr, "WARNING") {
		t.Fatalf("keys rotate-master beside the server: exit %d\n%s", res.code, res.stderr)
	}

	// A server task and a CLI task of the tenant at once (the server now
	// opens the tenant's data key under the rotated master key).
	var api crashTask
	if code := srv.call(t, key, "POST", "/api/v1/tasks", `{"input":"from the api"}`, &api); code != 201 {
		t.Fatalf("POST task = %d", code)
	}
	res = runBulwark(t, extra, "run", "--tenant", "acme", "--model", "openai:m", "from the cli")
	if res.code != 0 {
		t.Fatalf("run --tenant acme beside the server: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	m := taskLine.FindStringSubmatch(res.stdout)
	if m == nil {
		t.Fatalf("run printed no task id:\n%s", res.stdout)
	}
	cliTask := m[1]
	var found *listedTask
	for _, lt := range srv.tasks(t, key) {
		if lt.ID == cliTask {
			found = &lt
		}
	}
	if found == nil || found.Status != "succeeded" || found.Answer != "finished from the cli" {
		t.Errorf("the CLI task in GET /api/v1/tasks of its tenant: %+v, want it succeeded with its answer", found)
	}

	// Failures: a bad model spec, a tenant that is not there, a provider
	// that does not answer.
	for _, args := range [][]string{
		{"run", "--tenant", "acme", "--model", "nosuch:m", "x"},
		{"run", "--tenant", "nobody", "--model", "openai:m", "x"},
	} {
		if res := runBulwark(t, extra, args...); res.code == 0 {
			t.Errorf("%v succeeded", args)
		}
	}
	// The audit signing key made unusable (others may read it): the run
	// fails after the store is open, and must store no task.
	keyFile := filepath.Join(data, "keys", "audit-signing.key")
	if err := os.Chmod(keyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if res := runBulwark(t, extra, "run", "--tenant", "acme", "--model", "openai:m", "x"); res.code == 0 {
		t.Error("run with an unusable audit key succeeded")
	}
	os.Chmod(keyFile, 0o600)
	down := append(append([]string(nil), extra...), "OPENAI_BASE_URL=http://127.0.0.1:1/v1")
	res = runBulwark(t, down, "run", "--tenant", "acme", "--model", "openai:m", "unreachable")
	if res.code != 1 {
		t.Errorf("run against a provider that does not answer: exit %d, want 1\n%s", res.code, res.stderr)
	}
	for i := 0; srv.task(t, key, api.ID).Status != "succeeded"; i++ {
		if i > 3000 { // a hang guard, not a speed assertion
			t.Fatalf("the API task never finished: %+v", srv.task(t, key, api.ID))
		}
		time.Sleep(10 * time.Millisecond)
	}
	all := srv.tasks(t, key)
	if len(all) != 3 {
		t.Errorf("tasks of the tenant: %+v, want the API one, the CLI one and the one whose provider failed", all)
	}
	for _, lt := range all {
		if lt.Status == "queued" || lt.Status == "running" || lt.TenantID == "" {
			t.Errorf("task left half made: %+v", lt)
		}
		if lt.ID != api.ID && lt.ID != cliTask && (lt.Status != "failed" || lt.Reason == "") {
			t.Errorf("the run whose provider failed: %+v, want failed with a reason", lt)
		}
	}
	left, _ := os.ReadDir(filepath.Join(data, "running"))
	for _, f := range left {
		if f.Name() != serveLockName+".lock" { // the running server's own
			t.Errorf("task lock file left behind: %s", f.Name())
		}
	}

	if res := runBulwark(t, extra, "audit", "verify"); res.code != 0 {
		t.Errorf("audit verify while serving: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// The server reads and verifies the records the CLI appended to the
	// tenant's chain.
	var recs struct {
		Records []struct {
			Actor, Action, Target string
		} `json:"records"`
	}
	if code := srv.call(t, key, "GET", "/api/v1/audit?limit=500", "", &recs); code != 200 {
		t.Fatalf("GET /api/v1/audit = %d", code)
	}
	seen := map[string]bool{}
	for _, r := range recs.Records {
		seen[r.Action+" "+r.Target] = true
		seen[r.Actor+" "+r.Target] = true
	}
	for _, want := range []string{"user.create " + userID, "secret.set DEPLOY_TOKEN", "cli " + cliTask} {
		if !seen[want] {
			t.Errorf("GET /api/v1/audit of the tenant lacks %q: %+v", want, recs.Records)
		}
	}
	var ver struct {
		Intact bool `json:"intact"`
	}
	if code := srv.call(t, key, "GET", "/api/v1/audit/verify", "", &ver); code != 200 || !ver.Intact {
		t.Errorf("GET /api/v1/audit/verify = %d, %+v; want the tenant's chain intact", code, ver)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	if res := runBulwark(t, extra, "audit", "verify"); res.code != 0 {
		t.Errorf("audit verify after: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	records := allAudit(t, data)
	for _, want := range []string{`"tenant.create"`, `"user.create"`, userID, `"secret.set"`, "DEPLOY_TOKEN", `"key.rotate_master"`, cliTask, api.ID, `"cli"`} {
		if !strings.Contains(records, want) {
			t.Errorf("the audit chains lack %s", want)
		}
	}
}

// TestServerStartLeavesCLITaskRunning: a server started while `bulwark
// run` runs a task on the same folder does not mark that task
// interrupted; the task ends as the CLI ends it.
func TestServerStartLeavesCLITaskRunning(t *testing.T) {
	_, extra := sharedFolder(t)
	res := runBulwark(t, extra, "tenants", "create", "acme")
	if res.code != 0 {
		t.Fatalf("tenants create: %d %s", res.code, res.stderr)
	}
	key := strings.TrimSpace(res.stdout)

	cli := bulwarkCmd(t, extra, "run", "--tenant", "acme", "--model", "openai:m", "long")
	stdout, err := cli.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Process.Kill() })
	ids := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := taskLine.FindStringSubmatch(sc.Text()); m != nil {
				ids <- m[1]
			}
		}
	}()
	var id string
	select {
	case id = <-ids:
	case <-time.After(60 * time.Second): // a hang guard
		t.Fatal("run never printed its task")
	}

	srv := startServe(t, extra, "--model", "openai:x")
	if st := srv.task(t, key, id); st.Status != "running" {
		t.Fatalf("the CLI task is %s once a server started, want running", st.Status)
	}
	cli.Process.Signal(syscall.SIGINT)
	cli.Wait()
	if st := srv.task(t, key, id); st.Status != "canceled" {
		t.Errorf("the CLI task is %s after its run was interrupted, want canceled", st.Status)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	if res := runBulwark(t, extra, "audit", "verify"); res.code != 0 {
		t.Errorf("audit verify: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}
