package web_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/server"
	"github.com/bulwark-agents/bulwark/sqlite"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
	"github.com/bulwark-agents/bulwark/tool/delegate"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/workspace"
)

// The end-to-end server: the real server (every route, its middleware,
// sessions, CSRF protection, the UI) over a real SQLite store, a real task
// runtime and audit log, with the fake model server as the default model.
// Tasks get the file tools, ask_user and finish (no sandbox: no test here
// runs a command).

const (
	testEmail    = "owner@e2e.test"
	testPassword = "correct horse battery staple"
)

// scripts are the fake model's conversations, chosen by a word of the
// task's input: each request plays the next turn of its task's script.
var scripts = map[string][]llmtest.Turn{
	"LIVE": {
		{Delay: 2500 * time.Millisecond, Quirks: llmtest.SmallChunks, Content: "I will write the report now.",
			ToolCalls: []llmtest.ToolCall{call("write_file", `{"path":"out/report.md","content":"# Report\nAll good."}`)}},
		{Content: "Done.", ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"The report is in out/report.md."}`)}},
	},
	"APPROVAL": {
		{Content: "This write needs a person's approval.",
			ToolCalls: []llmtest.ToolCall{call("write_file", `{"path":"approved/ok.txt","content":"written after approval"}`)}},
		{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"Wrote approved/ok.txt once it was allowed."}`)}},
	},
	"CANCEL": {
		// Deltas are sent live only: the delay lets the view connect first.
		// The stream holds back a reply's last 512 bytes until they are
		// checked for the canary (agent/withhold.go), so the reply goes
		// on past them before the model hangs: its start is shown.
		{Delay: 1500 * time.Millisecond, Content: cancelReply, Hang: true},
	},
	"ASK": {
		{ToolCalls: []llmtest.ToolCall{call("ask_user", `{"question":"Which colour should the chart be?"}`)}},
		{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"Drew it in the colour you chose."}`)}},
	},
	"USAGE": {
		{Usage: bulwark.Usage{InputTokens: 1200, OutputTokens: 34, Cost: 0.0125}, Content: "Counting.",
			ToolCalls: []llmtest.ToolCall{call("write_file", `{"path":"count.txt","content":"1 2 3"}`)}},
		{Usage: bulwark.Usage{InputTokens: 1500, OutputTokens: 20, Cost: 0.0075},
			ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"Counted to three."}`)}},
	},
	"DELEGATE": {
		{ToolCalls: []llmtest.ToolCall{call("delegate", `{"task":"SUBAGENT: write child.txt"}`)}},
		{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"The sub-agent wrote child.txt."}`)}},
	},
	"SUBAGENT": {
		{ToolCalls: []llmtest.ToolCall{call("write_file", `{"path":"child.txt","content":"from the child"}`)}},
		{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"child.txt written"}`)}},
	},
	"ONCE": {
		{Content: "Finishing now.", ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"The distinctive answer 4711."}`)}},
	},
	"SLOW": {
		{ToolCalls: []llmtest.ToolCall{call("run_shell", `{"command":"slow job"}`)}},
		{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"The slow job ran."}`)}},
	},
	"STREAM": {
		{ToolCalls: []llmtest.ToolCall{call("run_shell", `{"command":"gated job"}`)}},
		{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"The gated job ran."}`)}},
	},
	"FOREVER": {
		{ToolCalls: []llmtest.ToolCall{call("run_shell", `{"command":"job forever"}`)}},
	},
	"HANG": {
		{Content: "Waiting", Hang: true},
	},
	"FILES": {
		// The delay lets the page upload input.txt before the first call.
		{Delay: 2 * time.Second, ToolCalls: []llmtest.ToolCall{call("read_file", `{"path":"input.txt"}`)}},
		{ToolCalls: []llmtest.ToolCall{call("write_file", `{"path":"output.txt","content":"PROCESSED: hello from the upload"}`)}},
		{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"output.txt holds the result."}`)}},
	},
	"CHAT": { // a conversation: one turn, then a second one after a message
		{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"first answer"}`)}},
		{ToolCalls: []llmtest.ToolCall{call("write_file", `{"path":"notes.txt","content":"from the second turn"}`)}},
		{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"second answer"}`)}},
	},
	"SPOOF": { // a name with a right-to-left override: "reportexe.pdf" as shown raw
		{ToolCalls: []llmtest.ToolCall{call("write_file", `{"path":"docs/report\u202efdp.exe","content":"not a PDF"}`)}},
		{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"Wrote the file."}`)}},
	},
	"XSS": {
		{Content: xssText, ToolCalls: []llmtest.ToolCall{call("write_file", `{"path":"x.html","content":"<script>window.__pwned=3</script>"}`)}},
		{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"<img src=x onerror=\"window.__pwned=4\">answer"}`)}},
	},
}

// fakeExec stands in for the sandbox (no test here needs a real one):
// run_shell's commands print a line (handed over at once, as the sandbox
// does, to the context's tool.OutputFunc), then take 2s ("slow"), wait
// for the test to release them ("gated", from gate), or run until the
// task is canceled ("forever"), which hands back what they printed with
// the Canceled error, as the sandbox does; then print a second line.
func fakeExec(gate <-chan struct{}) func(ctx context.Context, cmd []string) (*tool.ExecResult, error) {
	return func(ctx context.Context, cmd []string) (*tool.ExecResult, error) {
		return runFake(ctx, cmd, gate)
	}
}

func runFake(ctx context.Context, cmd []string, gate <-chan struct{}) (*tool.ExecResult, error) {
	start := time.Now()
	out := tool.OutputOf(ctx)
	if out == nil {
		out = func(bool, []byte) {}
	}
	// The first line, and more than the 512 bytes the canary check holds
	// back of a command's live output (agent/live_output.go), as a
	// command that goes on printing would: the first line shows while the
	// command waits.
	out(false, []byte(firstLines))
	var wait <-chan time.Time
	var release <-chan struct{}
	switch line := strings.Join(cmd, " "); {
	case strings.Contains(line, "forever"):
	case strings.Contains(line, "gated"):
		release = gate
	default:
		wait = time.After(2 * time.Second)
	}
	select {
	case <-wait:
	case <-release:
	case <-ctx.Done():
		return &tool.ExecResult{ExitCode: -1, Stdout: []byte(firstLines), Duration: time.Since(start)},
			bulwark.E(bulwark.Canceled, "sandbox.Run", "sandbox: canceled", ctx.Err())
	}
	out(false, []byte("second line\n"))
	return &tool.ExecResult{Stdout: []byte(firstLines + "second line\n"), Duration: time.Since(start)}, nil
}

// firstLines is what the fake command prints before it waits.
var firstLines = "first line\n" + strings.Repeat("working .\n", 60)

// manySteps is how many tool calls the long task makes: two stored
// events each, more than the task view keeps in its DOM.
const manySteps = 220

// xssText is a model reply that would run script if it became markup.
const xssText = `Here: <script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> and <b>bold</b>`

func call(name, args string) llmtest.ToolCall {
	return llmtest.ToolCall{Name: name, Arguments: json.RawMessage(args)}
}

// modelHandler plays scripts: the script named in the task's input, at
// the turn after the assistant turns the conversation already has.
func modelHandler(req *llmtest.Request) llmtest.Turn {
	input, turns := "", 0
	for _, m := range req.Messages {
		switch {
		case m.Role == llm.User && input == "":
			input = m.Content
		case m.Role == llm.Assistant:
			turns++
		}
	}
	if strings.Contains(input, "MANY") { // a long task: manySteps writes, then finish
		if turns < manySteps {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", fmt.Sprintf(`{"path":"many/%03d.txt","content":"step %d"}`, turns+1, turns+1))}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"wrote every file"}`)}}
	}
	for word, script := range scripts {
		if strings.Contains(input, word) {
			if turns < len(script) {
				return script[turns]
			}
			break
		}
	}
	return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", `{"answer":"nothing scripted"}`)}}
}

// e2eServer is a running server for the browser.
type e2eServer struct {
	URL    string // http://localhost:PORT
	db     *sqlite.DB
	tenant bulwark.TenantID
	key    string // an owner API key of the tenant
	audits *audit.MemoryDir
	srv    *server.Server
	model  *llmtest.Server
	// gate releases a "gated" command (see fakeExec), one per send.
	gate chan<- struct{}
}

func startServer(t *testing.T) *e2eServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	model := llmtest.NewServer(modelHandler)
	t.Cleanup(model.Close)

	kr, err := secret.CreateKeyFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(ctx, sqlite.Config{Path: filepath.Join(dir, "bulwark.db"), Keys: kr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	audits := audit.NewMemoryDir()
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	alog, err := audit.OpenChains(ctx, audits, audit.Options{SigningKey: priv, CheckpointEvery: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alog.Close() })

	env := map[string]string{"OPENAI_API_KEY": "sk-e2e", "OPENAI_BASE_URL": model.URL + "/v1"}
	gate := make(chan struct{})
	rt := runner.New(runner.Config{
		Store: db, Audit: alog, Dir: filepath.Join(dir, "workspaces"), Artifacts: db,
		Prepare: func(ctx context.Context, task bulwark.Task, ws *workspace.Workspace) (*runner.Setup, error) {
			st, err := db.Settings(ctx, bulwark.TenantID(task.TenantID))
			if err != nil {
				return nil, err
			}
			m, err := provider.Open("openai:fake-model", func(k string) string { return env[k] })
			if err != nil {
				return nil, err
			}
			tools := tool.NewRegistry(append(files.Tools(), code.Shell(), delegate.Tool(), interact.Finish(), interact.AskUser())...)
			red := secret.NewRedactor()
			return &runner.Setup{Model: m, Tools: tools, Policy: st.Policy, Limits: task.Limits, Exec: fakeExec(gate),
				Mask: red.String, MaskStream: func() agent.StreamMasker { return red.NewStream() }}, nil
		},
	})
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Store: db, Audit: alog, Runtime: rt,
		DefaultModel: "openai:fake-model", Password: server.PasswordParams{Memory: 64, Time: 1, Threads: 1},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rt.Shutdown(sctx)
	})

	tn, err := db.CreateTenant(ctx, "e2e")
	if err != nil {
		t.Fatal(err)
	}
	hash, err := server.HashPassword(testPassword, server.PasswordParams{Memory: 64, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateUser(ctx, tn.ID, bulwark.User{Email: testEmail, Role: bulwark.RoleOwner}, hash); err != nil {
		t.Fatal(err)
	}
	key, _, err := server.IssueKey(ctx, db, tn.ID, server.KeySpec{Name: "e2e", Role: bulwark.RoleOwner, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(hs.URL)
	// Browsers keep the __Host- Secure session cookie on http://localhost
	// only: never on http://127.0.0.1.
	return &e2eServer{URL: "http://localhost:" + u.Port(), db: db, tenant: tn.ID, key: key, audits: audits, srv: srv, model: model, gate: gate}
}

// api calls the API with the owner's key and decodes the answer into out
// (when not nil); it fails the test unless the status is want.
func (s *e2eServer) api(t *testing.T, method, path, body string, want int, out any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, resp.StatusCode, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// tasks returns the tenant's tasks, newest first.
func (s *e2eServer) tasks(t *testing.T) []bulwark.Task {
	t.Helper()
	var out struct{ Tasks []bulwark.Task }
	s.api(t, "GET", "/api/v1/tasks?limit=200", "", 200, &out)
	return out.Tasks
}

// waitTask waits until the task's status is want.
func (s *e2eServer) waitTask(t *testing.T, id string, want bulwark.TaskStatus) bulwark.Task {
	t.Helper()
	var tk bulwark.Task
	// Two minutes: a loaded CI machine needed more than 20 s for the long
	// task's 250 steps.
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		s.api(t, "GET", "/api/v1/tasks/"+id, "", 200, &tk)
		if tk.Status == want {
			return tk
		}
	}
	t.Fatalf("task %s is %s (%s: %s), want %s", id, tk.Status, tk.Reason, tk.Answer, want)
	return tk
}

// audited returns the audit records with action.
func (s *e2eServer) audited(t *testing.T, action string) []audit.Record {
	t.Helper()
	ctx := context.Background()
	s.srv.FlushAudit(ctx) // refusals of unknown clients are counted per minute
	chains, _ := s.audits.List(ctx)
	var out []audit.Record
	for _, c := range chains {
		for r, err := range s.audits.Store(c).Read(ctx, 1) {
			if err != nil {
				t.Fatal(err)
			}
			if r.Action == action {
				out = append(out, r)
			}
		}
	}
	return out
}

// evilOrigin serves, on another port of localhost (same site, another
// origin: the session cookie, SameSite=Lax, goes along), a page that
// tries to change things on the server with the user's cookie: fetches
// that create a task and a key and cancel a task, then a form posted to
// cancel the task, which leaves the page for the server's answer.
func evilOrigin(t *testing.T, target, taskID string) string {
	t.Helper()
	page := `<!doctype html><title>another origin</title>
<form id=f method=POST action="` + target + `/api/v1/tasks/` + taskID + `/cancel"><input name=x value=1></form>
<script>
const post = (path, body) => fetch('` + target + `' + path, {method: 'POST', mode: 'no-cors', credentials: 'include',
  headers: {'Content-Type': 'text/plain'}, body}).catch(() => {});
Promise.all([
  post('/api/v1/tasks', '{"input":"EVIL task from another origin"}'),
  post('/api/v1/keys', '{"name":"evil key","role":"owner"}'),
  post('/api/v1/tasks/` + taskID + `/cancel', ''),
]).then(() => document.getElementById('f').submit());
</script>`
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	}))
	t.Cleanup(hs.Close)
	u, _ := url.Parse(hs.URL)
	return "http://localhost:" + u.Port()
}
