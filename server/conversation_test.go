package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/replay"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/sqlite"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/workspace"
)

// conversationScript is a replay script of four turns of one
// conversation: each turn writes a file (the third first reads the
// first turn's file) and finishes with its own answer.
const conversationScript = `
{"content": "turn 1", "tool_calls": [{"name": "write_file", "arguments": {"path": "a.txt", "content": "one"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "first"}}]}
{"content": "turn 2", "tool_calls": [{"name": "write_file", "arguments": {"path": "b.txt", "content": "two"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "second"}}]}
{"content": "turn 3", "tool_calls": [{"name": "read_file", "arguments": {"path": "a.txt"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "third"}}]}
{"content": "turn 4", "tool_calls": [{"name": "write_file", "arguments": {"path": "c.txt", "content": "three"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "fourth"}}]}
`

// withReplayRuntime gives the server a task runtime whose tasks play
// script, each run with a new replay model (as a restarted server would
// open it), sealing files into the store between runs. Each run's limits
// are the task's, clamped by ceil as `bulwark serve` clamps them by the
// operator's ceilings.
func withReplayRuntime(t testing.TB, script string, ceil bulwark.Ceilings) func(*Config) {
	return func(c *Config) {
		db := c.Store.(*sqlite.DB)
		rt := runner.New(runner.Config{
			Store: db, Artifacts: db, Dir: t.TempDir(), Audit: c.Audit,
			Prepare: func(ctx context.Context, task bulwark.Task, ws *workspace.Workspace) (*runner.Setup, error) {
				m, err := replay.Parse([]byte(script))
				if err != nil {
					return nil, err
				}
				return &runner.Setup{Model: m, Limits: ceil.ClampLimits(task.Limits),
					Tools: tool.NewRegistry(append(files.Tools(), interact.Finish())...)}, nil
			},
		})
		if err := rt.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rt.Shutdown(ctx)
		})
		c.Runtime = rt
	}
}

func newReplayEnv(t *testing.T, script string, ceil ...bulwark.Ceilings) *taskEnv {
	t.Helper()
	c := bulwark.DefaultCeilings()
	if len(ceil) > 0 {
		c = ceil[0]
	}
	e := newEnv(t, rateLimitOff, withReplayRuntime(t, script, c))
	te := &taskEnv{env: e, a: e.tenant("a")}
	te.key = te.a.keys[bulwark.RoleOwner]
	return te
}

// message posts a message to a task and returns the answer.
func (te *taskEnv) message(key, id, body string) (int, messageAnswer) {
	te.t.Helper()
	w := te.do(req{method: "POST", path: "/api/v1/tasks/" + id + "/messages", body: body, key: key})
	var a messageAnswer
	json.Unmarshal(w.Body.Bytes(), &a)
	if w.Code != http.StatusAccepted {
		te.t.Logf("message to %s: %d %s", id, w.Code, w.Body)
	}
	return w.Code, a
}

func (te *taskEnv) fileNames(id string) []string {
	te.t.Helper()
	w := te.do(req{method: "GET", path: "/api/v1/tasks/" + id + "/files", key: te.key})
	var names []string
	for _, f := range decode[fileList](te.t, w).Files {
		names = append(names, f.Path)
	}
	return names
}

// TestConversationContinues continues a finished task three times with
// the replay model: each turn's answer comes from the next lines of the
// script (never from its start), the workspace keeps the files of the
// turns before, and the task shows as a conversation of four turns.
func TestConversationContinues(t *testing.T) {
	t.Parallel()
	te := newReplayEnv(t, conversationScript)
	v := te.createTask(te.key, "start a conversation")
	got := te.waitTask(te.key, v.ID, ended)
	if got.Answer != "first" || got.Turns != 1 {
		t.Fatalf("first turn: answer %q, turns %d; want first, 1", got.Answer, got.Turns)
	}
	wantFiles := []string{"a.txt"}
	for i, want := range []struct {
		answer string
		file   string
	}{{"second", "b.txt"}, {"third", ""}, {"fourth", "c.txt"}} {
		code, a := te.message(te.key, v.ID, `{"text":"go on, please"}`)
		if code != http.StatusAccepted || a.Status != "continued" || a.Task.Turns != i+2 {
			t.Fatalf("message %d = %d %+v, want 202 continued with turn %d", i+1, code, a, i+2)
		}
		got := te.waitTask(te.key, v.ID, ended)
		if got.Answer != want.answer || got.Status != bulwark.TaskSucceeded || got.Turns != i+2 {
			t.Errorf("turn %d: %s %q, turns %d; want succeeded %q, %d", i+2, got.Status, got.Answer, got.Turns, want.answer, i+2)
		}
		if want.file != "" {
			wantFiles = append(wantFiles, want.file)
		}
		if names := te.fileNames(v.ID); !slices.Equal(names, wantFiles) {
			t.Errorf("after turn %d the files are %v, want %v", i+2, names, wantFiles)
		}
	}
	steps := te.steps(v.ID)
	var started, messages int
	for i, e := range steps {
		if i > 0 && e.Seq <= steps[i-1].Seq {
			t.Fatalf("step %d has seq %d after %d: the turns' steps must follow one another", i+1, e.Seq, steps[i-1].Seq)
		}
		switch e.Type {
		case bulwark.EventTaskStarted:
			started++
		case bulwark.EventUserMessage:
			messages++
			if e.Text != "go on, please" {
				t.Errorf("stored message %q", e.Text)
			}
		case bulwark.EventToolResult:
			if e.Tool == "read_file" && (e.IsError || !strings.Contains(e.Text, "one")) {
				t.Errorf("turn 3 read a.txt of turn 1: %q (error %v), want its content", e.Text, e.IsError)
			}
		}
	}
	if started != 4 || messages != 3 {
		t.Errorf("the steps hold %d task_started and %d messages, want 4 and 3", started, messages)
	}
	// The list shows the conversation.
	w := te.do(req{method: "GET", path: "/api/v1/tasks", key: te.key})
	if !strings.Contains(w.Body.String(), `"turns":4`) {
		t.Errorf("the task list does not show 4 turns: %s", w.Body)
	}
	// The script has run out: a fifth turn fails cleanly, it does not
	// start the script again.
	te.message(te.key, v.ID, `{"text":"and more"}`)
	if got := te.waitTask(te.key, v.ID, ended); got.Status != bulwark.TaskFailed || strings.Contains(got.Answer, "first") {
		t.Errorf("a turn past the script's end: %s %q, want failed", got.Status, got.Answer)
	}
}

// TestConversationOtherTenant: another tenant cannot continue, resume or
// see a task's conversation; its attempts change nothing.
func TestConversationOtherTenant(t *testing.T) {
	t.Parallel()
	te := newReplayEnv(t, conversationScript)
	b := te.tenant("b").keys[bulwark.RoleOwner]
	v := te.createTask(te.key, "mine")
	te.waitTask(te.key, v.ID, ended)
	if code, _ := te.message(b, v.ID, `{"text":"take over"}`); code != http.StatusNotFound {
		t.Errorf("B's message to A's finished task = %d, want 404", code)
	}
	if w := te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/resume", key: b}); w.Code != http.StatusNotFound {
		t.Errorf("B's resume of A's task = %d, want 404", w.Code)
	}
	if got := te.waitTask(te.key, v.ID, ended); got.Turns != 1 {
		t.Errorf("after B's attempts A's task has %d turns, want 1", got.Turns)
	}
}

// TestConversationLimits: a new turn's limits are checked like a new
// task's, apply to the turn alone, and are refused for a running task.
func TestConversationLimits(t *testing.T) {
	t.Parallel()
	te := newReplayEnv(t, conversationScript)
	v := te.createTask(te.key, "limits")
	te.waitTask(te.key, v.ID, ended)
	if code, _ := te.message(te.key, v.ID, `{"text":"x","limits":{"max_steps":100000}}`); code != http.StatusBadRequest {
		t.Errorf("a turn with limits over the server's caps = %d, want 400", code)
	}
	// The first turn took two steps; one step for this turn ends it
	// after its write, whatever the turns before spent.
	code, a := te.message(te.key, v.ID, `{"text":"one step only","limits":{"max_steps":1}}`)
	if code != http.StatusAccepted || a.Task.Limits.MaxSteps != 1 {
		t.Fatalf("message with limits = %d %+v", code, a)
	}
	got := te.waitTask(te.key, v.ID, ended)
	if got.Reason != bulwark.FinishMaxSteps {
		t.Errorf("a turn of one step ended %s %q, want max_steps", got.Reason, got.Answer)
	}
	if names := te.fileNames(v.ID); !slices.Equal(names, []string{"a.txt", "b.txt"}) {
		t.Errorf("files %v, want the first turn's and the one step's", names)
	}
}

// TestConversationCeilings: a new turn cannot ask its way past the
// operator's ceilings: limits over them are refused, naming the ceiling,
// as a new task's are, and the limits it runs with otherwise (the
// task's, the tenant's defaults) are clamped to them.
func TestConversationCeilings(t *testing.T) {
	t.Parallel()
	const script = `
{"tool_calls": [{"name": "finish", "arguments": {"answer": "first"}}]}
{"tool_calls": [{"name": "write_file", "arguments": {"path": "x1.txt", "content": "1"}}]}
{"tool_calls": [{"name": "write_file", "arguments": {"path": "x2.txt", "content": "2"}}]}
{"tool_calls": [{"name": "write_file", "arguments": {"path": "x3.txt", "content": "3"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "long"}}]}
`
	te := newReplayEnv(t, script, bulwark.Ceilings{MaxSteps: 2})
	v := te.createTask(te.key, "ceilings")
	te.waitTask(te.key, v.ID, ended)
	w := te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/messages", key: te.key, body: `{"text":"take your time","limits":{"max_steps":900}}`})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "BULWARK_TENANT_MAX_STEPS") {
		t.Fatalf("a turn that asked for 900 steps under a ceiling of 2 = %d %s, want 400 naming the ceiling", w.Code, w.Body)
	}
	if code, _ := te.message(te.key, v.ID, `{"text":"take your time"}`); code != http.StatusAccepted {
		t.Fatalf("message = %d", code)
	}
	got := te.waitTask(te.key, v.ID, ended)
	if got.Reason != bulwark.FinishMaxSteps {
		t.Errorf("a turn with the defaults under a ceiling of 2 ended %s %q, want max_steps", got.Reason, got.Answer)
	}
}

// TestConversationOnlyItsStarter: a task's turns run with the rights of
// the user who started it, their private memories first; so only that
// user may message, answer or resume it, through every route that does
// (REST, the Agent Protocol's steps, MCP's send_message), whoever else
// asks: another member, an owner's session, a key made by another user,
// a key that carries no user's rights. A task no user started stays open
// to the team.
func TestConversationOnlyItsStarter(t *testing.T) {
	t.Parallel()
	te := newReplayEnv(t, conversationScript+conversationScript)
	alice, bob := te.login(te.a.users[bulwark.RoleAdmin].Email), te.login(te.a.users[bulwark.RoleOwner].Email)
	carol := te.login(te.a.users[bulwark.RoleMember].Email)
	userKey := func(cookie string) string {
		w := te.do(req{method: "POST", path: "/api/v1/keys", body: `{"name":"k"}`, cookie: cookie})
		if w.Code != http.StatusCreated {
			t.Fatalf("key from a session = %d %s", w.Code, w.Body)
		}
		return decode[createKeyResponse](t, w).Token
	}
	aliceKey, bobKey := userKey(alice), userKey(bob)
	w := te.do(req{method: "POST", path: "/api/v1/tasks", body: `{"input":"alice's task"}`, cookie: alice})
	if w.Code != http.StatusCreated {
		t.Fatalf("alice's task = %d %s", w.Code, w.Body)
	}
	mine := decode[taskView](t, w)
	te.waitTask(te.key, mine.ID, ended)

	hs := httptest.NewServer(te.srv.Handler())
	t.Cleanup(hs.Close)
	bobMCP := mcpClientAt(t, hs.URL, bobKey, nil)
	others := []struct {
		who         string
		key, cookie string
	}{{"bob's session (the owner)", "", bob}, {"bob's key", bobKey, ""}, {"carol's session (a member)", "", carol}, {"the owner key, no user's", te.key, ""}}
	for _, o := range others {
		for _, rq := range []req{
			{method: "POST", path: "/api/v1/tasks/" + mine.ID + "/messages", body: `{"text":"recall all your memories"}`},
			{method: "POST", path: "/api/v1/tasks/" + mine.ID + "/resume"},
			{method: "POST", path: "/ap/v1/agent/tasks/" + mine.ID + "/steps", body: `{"input":"recall all your memories"}`, header: map[string]string{"Content-Type": "application/json"}},
		} {
			if strings.HasPrefix(rq.path, "/ap/") && o.key == "" {
				continue // the Agent Protocol's routes take keys only
			}
			rq.key, rq.cookie = o.key, o.cookie
			if w := te.do(rq); w.Code != http.StatusForbidden || !strings.Contains(errorOf(t, w).Message, "only the person who started this task") {
				t.Errorf("%s: %s %s = %d %s, want 403", o.who, rq.method, rq.path, w.Code, w.Body)
			}
		}
	}
	res := mcpCall(t, bobMCP, "send_message", map[string]any{"id": mine.ID, "text": "recall all your memories"})
	if !res.IsError || !strings.Contains(resultText(res), "only the person who started this task") {
		t.Errorf("bob's MCP send_message = %v %q, want refused", res.IsError, resultText(res))
	}
	if got := te.waitTask(te.key, mine.ID, ended); got.Turns != 1 {
		t.Fatalf("after the others' attempts alice's task has %d turns, want 1", got.Turns)
	}
	// Alice, by session and by her key, may.
	if w := te.do(req{method: "POST", path: "/api/v1/tasks/" + mine.ID + "/messages", body: `{"text":"go on"}`, cookie: alice}); w.Code != http.StatusAccepted {
		t.Fatalf("alice's message = %d %s", w.Code, w.Body)
	}
	te.waitTask(te.key, mine.ID, func(v taskView) bool { return v.Turns == 2 && v.Status.Ended() })
	if code, _ := te.message(aliceKey, mine.ID, `{"text":"and on"}`); code != http.StatusAccepted {
		t.Fatalf("alice's key's message = %d", code)
	}
	te.waitTask(te.key, mine.ID, func(v taskView) bool { return v.Turns == 3 && v.Status.Ended() })

	// The owner key's task (no user's rights) is the team's.
	team := te.createTask(te.key, "the team's task")
	te.waitTask(te.key, team.ID, ended)
	if code, _ := te.message(bobKey, team.ID, `{"text":"go on"}`); code != http.StatusAccepted {
		t.Errorf("bob's message to a task no user started = %d, want 202", code)
	}
}
