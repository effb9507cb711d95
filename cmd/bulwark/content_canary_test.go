package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/secret"
)

// Canaries of task content: what a task writes into a file, and a command
// line it runs. Neither is a secret, so no redactor masks them.
const (
	fileCanary  = "FileCanary7Qz3Lm9XwContent"
	cmdCanary   = "CmdCanary4Hv8Np2RtArgument"
	inputCanary = "InputCanary5Jd6Ks1Task"
	// And what people send: a file uploaded into the workspace, a message
	// that continues the conversation, a secret's value, a password tried
	// at login.
	uploadCanary   = "UploadCanary3Wp8Rb6Body"
	messageCanary  = "MessageCanary9Tc2Gf4Turn"
	secretCanary   = "SecretCanary6Yh1Dm7Value"
	passwordCanary = "PasswordCanary2Lx5Vn8Tried"
)

// contentModel writes fileCanary into notes.txt, runs a command holding
// cmdCanary, and finishes.
func contentModel(r *llmtest.Request) llmtest.Turn {
	results := 0
	for _, m := range r.Messages {
		if m.Role == llm.Role("tool") {
			results++
		}
	}
	call := func(name string, args map[string]string) llmtest.Turn {
		b, _ := json.Marshal(args)
		return llmtest.Turn{Content: "step", ToolCalls: []llmtest.ToolCall{{Name: name, Arguments: b}}}
	}
	switch results {
	case 0:
		return call("write_file", map[string]string{"path": "notes.txt", "content": "the note: " + fileCanary + "\n"})
	case 1:
		return call("run_shell", map[string]string{"command": "echo " + cmdCanary + " > cmd-out.txt"})
	}
	return call("finish", map[string]string{"answer": "wrote " + fileCanary})
}

// assertNoCanaries fails for each file under dir that holds a canary in
// clear, base64 or hex.
func assertNoCanaries(t *testing.T, dir string) {
	t.Helper()
	var forms []string
	for _, v := range []string{fileCanary, cmdCanary, inputCanary, uploadCanary, messageCanary, secretCanary, passwordCanary} {
		forms = append(forms, v, base64.StdEncoding.EncodeToString([]byte(v)), hex.EncodeToString([]byte(v)))
	}
	assertNoLeakUnder(t, dir, forms, true)
}

// TestTaskContentNeverAtRest runs a task through `bulwark serve` (and one
// through `bulwark run` with its workspace elsewhere) that writes a canary
// into a file and runs a command holding another, stops the server, and
// reads every byte of the data folder (store, audit chains, sealed
// workspaces): no canary is there in clear. The audit records still say
// what the task did.
func TestTaskContentNeverAtRest(t *testing.T) {
	data := t.TempDir()
	if _, err := secret.CreateKeyFile(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	contentWorkload(t, []string{"BULWARK_DATA=" + data, "BULWARK_RATE_LIMIT=off"})
	assertNoCanaries(t, data)
}

// contentWorkload runs the workload of TestTaskContentNeverAtRest with the
// environment extra (which chooses the store): a served task that writes
// and runs canaries, asks for an approval, gets an upload and a message;
// a secret set, a failed login, and a task run by `bulwark run`. The
// server has stopped when it returns.
func contentWorkload(t *testing.T, extra []string) {
	model := llmtest.NewServer(contentModel)
	defer model.Close()
	extra = append(extra, "OPENAI_API_KEY=sk-test", "BULWARK_SHARED_PROVIDER_KEYS=on", "OPENAI_BASE_URL="+model.URL+"/v1")
	srv := startServe(t, extra, "--model", "openai:x")
	res := runBulwark(t, extra, "tenants", "create", "canary")
	if res.code != 0 {
		t.Fatalf("tenants create: %d %s", res.code, res.stderr)
	}
	key := strings.TrimSpace(res.stdout)
	// A person approves the command (its approval shows it in full).
	if code := srv.call(t, key, "PUT", "/api/v1/settings", `{"policy":{"rules":[{"tool":"run_shell","decision":"ask"}]}}`, nil); code != 200 {
		t.Fatalf("PUT settings = %d", code)
	}
	var task crashTask
	if code := srv.call(t, key, "POST", "/api/v1/tasks", `{"input":"take a note `+inputCanary+`"}`, &task); code != 201 {
		t.Fatalf("POST task = %d", code)
	}
	approved := 0
	waitTurns := func(turns int) {
		for i := 0; ; i++ {
			st := srv.task(t, key, task.ID)
			if st.Status == "succeeded" && st.Turns >= turns {
				break
			}
			if st.Status == "waiting" {
				var ap struct {
					Approvals []struct {
						ID     string `json:"id"`
						Target string `json:"target"`
					} `json:"approvals"`
				}
				srv.call(t, key, "GET", "/api/v1/tasks/"+task.ID+"/approvals", "", &ap)
				for _, a := range ap.Approvals {
					if !strings.Contains(a.Target, cmdCanary) {
						t.Errorf("the approval shows %q, not the command", a.Target)
					}
					if code := srv.call(t, key, "POST", "/api/v1/tasks/"+task.ID+"/approvals/"+a.ID, `{"decision":"allow"}`, nil); code/100 == 2 {
						approved++
					}
				}
			}
			if i > 3000 || st.Status == "failed" {
				t.Fatalf("the task did not succeed: %+v\n%s", st, srv.log)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitTurns(1)
	if approved == 0 {
		t.Fatal("no approval was asked for: the test proves less than it says")
	}
	// An upload into the workspace, and a message that continues the
	// conversation in a second turn.
	if code := srv.upload(t, key, task.ID, "upload.txt", "uploaded: "+uploadCanary+"\n"); code != 201 && code != 200 {
		t.Fatalf("PUT file = %d", code)
	}
	if code := srv.call(t, key, "POST", "/api/v1/tasks/"+task.ID+"/messages", `{"text":"and then `+messageCanary+`"}`, nil); code != 200 && code != 202 {
		t.Fatalf("POST message = %d", code)
	}
	waitTurns(2)
	// A secret's value, and a failed login's password.
	if code := srv.call(t, key, "PUT", "/api/v1/secrets/CANARY_TOKEN", `{"value":"`+secretCanary+`"}`, nil); code/100 != 2 {
		t.Fatalf("PUT secret = %d", code)
	}
	if code := srv.call(t, "", "POST", "/api/v1/login", `{"email":"nobody@canary.test","password":"`+passwordCanary+`"}`, nil); code != 401 {
		t.Errorf("a failed login = %d, want 401", code)
	}
	var audit struct {
		Records []struct {
			Action  string            `json:"action"`
			Details map[string]string `json:"details"`
		} `json:"records"`
	}
	if code := srv.call(t, key, "GET", "/api/v1/audit?action=tool.call", "", &audit); code != 200 {
		t.Fatalf("GET audit = %d", code)
	}
	targets := map[string]bool{}
	for _, r := range audit.Records {
		targets[r.Details["tool"]+" "+r.Details["target"]] = len(r.Details["args_sha256"]) == 64
	}
	if !targets["write_file notes.txt"] || !targets["run_shell echo"] {
		t.Errorf("the audit records do not say what the task did: %v", audit.Records)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.done:
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}

	ws := filepath.Join(t.TempDir(), "ws") // the CLI's workspace: the user's own folder
	if r := runBulwark(t, extra, "run", "--model", "openai:x", "--workspace", ws, "take a note "+inputCanary); r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "notes.txt")); !strings.Contains(string(b), fileCanary) {
		t.Fatalf("the task did not write its note (notes.txt = %q): the test proves nothing", b)
	}
	if r := runBulwark(t, extra, "audit", "verify"); r.code != 0 {
		t.Errorf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
