package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/mcpserver"
)

// TestSecretAddedLaterMaskedWhereShown: a value a task stored before it
// was a secret (its input, a message into it, its answer, its calls'
// arguments, a sub-agent's input) is masked by every route that shows the
// task once the value is registered as a secret: the task and its list,
// its steps and its event stream, the Agent Protocol's task, list and
// steps, and the MCP server's tools and transcript. The task's answer was
// read (and kept by the answer cache) before the secret was set.
func TestSecretAddedLaterMaskedWhereShown(t *testing.T) {
	t.Parallel()
	const value = "late-secret-value-5b1e9d3a"
	te := newTaskEnv(t) // this runtime masks nothing as it stores
	// A task that asks, is answered with the value, and finishes with it;
	// a parent whose sub-agent writes it to a file.
	q := te.createTask(te.key, "question: "+value)
	te.waitTask(te.key, q.ID, func(taskView) bool {
		return slices.ContainsFunc(te.steps(q.ID), func(e bulwark.Event) bool { return e.Type == bulwark.EventAskUser })
	})
	if code, _ := te.message(te.key, q.ID, `{"text":"`+value+`"}`); code != 202 {
		t.Fatalf("message = %d", code)
	}
	if got := te.waitTask(te.key, q.ID, ended); !strings.Contains(got.Answer, value) {
		t.Fatalf("answer %q: the script should finish with the value", got.Answer)
	}
	p := te.createTask(te.key, "delegate:write:"+value)
	if got := te.waitTask(te.key, p.ID, ended); len(got.Children) != 1 || !strings.Contains(got.Children[0].Input, value) {
		t.Fatalf("parent %+v: want one child whose input holds the value", got)
	}
	child := te.waitTask(te.key, p.ID, ended).Children[0].ID
	// The value in another spelling the masker knows: base64.
	b64 := base64.StdEncoding.EncodeToString([]byte(value))
	enc := te.createTask(te.key, "write:"+b64)
	te.waitTask(te.key, enc.ID, ended)
	before := te.do(req{method: "GET", path: "/api/v1/tasks/" + q.ID, key: te.key}).Body.String()
	if !strings.Contains(before, value) {
		t.Fatal("before the secret the task shows the value: the test would prove nothing")
	}

	if w := te.do(req{method: "PUT", path: "/api/v1/secrets/LATE", key: te.key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
		t.Fatalf("PUT secret = %d %s", w.Code, w.Body)
	}

	shown := map[string]string{}
	for _, path := range []string{
		"/api/v1/tasks/" + q.ID, "/api/v1/tasks/" + p.ID, "/api/v1/tasks/" + child, "/api/v1/tasks",
		"/api/v1/tasks/" + q.ID + "/steps", "/api/v1/tasks/" + child + "/steps",
		"/ap/v1/agent/tasks/" + q.ID, "/ap/v1/agent/tasks", "/ap/v1/agent/tasks/" + q.ID + "/steps",
		"/ap/v1/agent/tasks/" + child + "/steps", "/api/v1/tasks/" + enc.ID + "/steps",
	} {
		w := te.do(req{method: "GET", path: path, key: te.key})
		if w.Code != 200 {
			t.Fatalf("GET %s = %d %s", path, w.Code, w.Body)
		}
		shown[path] = w.Body.String()
	}
	for _, id := range []string{q.ID, child} {
		resp := te.stream(id, "", nil)
		body, _ := io.ReadAll(resp.Body) // ended tasks: the stream ends after task_finished
		resp.Body.Close()
		shown["events of "+id] = string(body)
	}
	cs := mcpClientAt(t, te.url, te.key, nil)
	for _, c := range []struct {
		tool string
		args map[string]any
	}{{"get_task", map[string]any{"id": q.ID}}, {"list_tasks", map[string]any{}}} {
		res := mcpCall(t, cs, c.tool, c.args)
		sc, _ := json.Marshal(res.StructuredContent)
		shown["mcp "+c.tool] = resultText(res) + string(sc)
	}
	for _, id := range []string{q.ID, child} {
		res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: mcpserver.TranscriptURI(id)})
		if err != nil {
			t.Fatal(err)
		}
		shown["mcp transcript of "+id] = res.Contents[0].Text
	}

	for where, text := range shown {
		if strings.Contains(text, value) || strings.Contains(text, b64) {
			t.Errorf("%s shows the secret's value registered after it was stored:\n%.600s", where, text)
		}
	}
	for _, where := range []string{"/api/v1/tasks/" + q.ID, "/api/v1/tasks/" + q.ID + "/steps", "events of " + q.ID, "mcp transcript of " + q.ID} {
		if !strings.Contains(shown[where], "[REDACTED:LATE]") {
			t.Errorf("%s does not show the secret's mask:\n%.600s", where, shown[where])
		}
	}
	var tv taskView
	if err := json.Unmarshal([]byte(shown["/api/v1/tasks/"+q.ID]), &tv); err != nil || tv.Answer == "" || tv.Input == "" {
		t.Errorf("the masked task lost its texts: %+v %v", tv, err)
	}
}

// TestShownApprovalsMasked: an approval's target, reason and arguments
// are masked with the tenant's secrets as they are shown.
func TestShownApprovalsMasked(t *testing.T) {
	t.Parallel()
	const value = "approval-secret-7d2c41e0"
	te := newTaskEnv(t)
	if w := te.do(req{method: "PUT", path: "/api/v1/secrets/AP", key: te.key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
		t.Fatalf("PUT secret = %d %s", w.Code, w.Body)
	}
	aps := []bulwark.Approval{{ID: "ap_1", Tool: "fetch", Target: "https://x.test/?k=" + value,
		Args: json.RawMessage(`{"url":"https://x.test/?k=` + value + `"}`), Reason: "it names " + value}}
	if err := te.srv.shownApprovals(context.Background(), te.a.id, aps); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(aps)
	if strings.Contains(string(b), value) || !json.Valid(aps[0].Args) {
		t.Errorf("approval shown as %s: want the value masked and its arguments still JSON", b)
	}

	// Through the routes: a task waits for an approval of its write to
	// notes/x.txt, a path that is then registered as a secret's value.
	policy := `{"policy":{"rules":[{"tool":"write_file","pattern":"notes/*","decision":"ask"}]}}`
	if w := te.do(req{method: "PUT", path: "/api/v1/settings", body: policy, key: te.key}); w.Code != 200 {
		t.Fatalf("PUT settings = %d %s", w.Code, w.Body)
	}
	v := te.createTask(te.key, "ask: masked")
	if ap := te.waitApproval(te.key, v.ID); ap.Target != "notes/x.txt" {
		t.Fatalf("approval %+v: the test would prove nothing", ap)
	}
	if w := te.do(req{method: "PUT", path: "/api/v1/secrets/PATH", key: te.key, body: `{"value":"notes/x.txt"}`}); w.Code != 204 {
		t.Fatalf("PUT secret = %d %s", w.Code, w.Body)
	}
	w := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/approvals", key: te.key})
	res := mcpCall(t, mcpClientAt(t, te.url, te.key, nil), "list_approvals", map[string]any{"id": v.ID})
	sc, _ := json.Marshal(res.StructuredContent)
	for where, got := range map[string]string{"GET approvals": w.Body.String(), "mcp list_approvals": resultText(res) + string(sc)} {
		if strings.Contains(got, "notes/x.txt") || !strings.Contains(got, "[REDACTED:PATH]") {
			t.Errorf("%s = %s, want the path masked", where, got)
		}
	}
	te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
}

// TestSecretSetElsewhereMaskedAtTheNextRequest: a secret put into the
// store by another node or process (`bulwark secrets set`), not through
// this server, which would drop its redactor at once, is masked by this
// server at its next request, over an API key and over a session, though
// the tenant's redactor was built a moment before.
func TestSecretSetElsewhereMaskedAtTheNextRequest(t *testing.T) {
	t.Parallel()
	const value = "elsewhere-secret-value-93f0aa1c"
	te := newTaskEnv(t)
	v := te.createTask(te.key, "write:"+value)
	te.waitTask(te.key, v.ID, ended)
	cookie := te.login(te.a.users[bulwark.RoleOwner].Email)
	get := func(path string) map[string]string {
		t.Helper()
		out := map[string]string{}
		// The session first: what the key's request reads, the session's
		// could then use.
		for _, who := range []string{"session", "key"} {
			r := req{method: "GET", path: path, key: te.key}
			if who == "session" {
				r = req{method: "GET", path: path, cookie: cookie}
			}
			w := te.do(r)
			if w.Code != 200 {
				t.Fatalf("GET %s by %s = %d %s", path, who, w.Code, w.Body)
			}
			out[who] = w.Body.String()
		}
		return out
	}
	paths := []string{"/api/v1/tasks/" + v.ID, "/api/v1/tasks/" + v.ID + "/steps"}
	for _, p := range paths {
		for who, body := range get(p) {
			if !strings.Contains(body, value) {
				t.Fatalf("before the secret, GET %s by %s does not show the value: the test would prove nothing", p, who)
			}
		}
	}
	if err := te.db.SetSecret(context.Background(), te.a.id, "ELSEWHERE", value); err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		for who, body := range get(p) {
			if strings.Contains(body, value) {
				t.Errorf("GET %s by %s, right after the secret was set elsewhere, shows its value:\n%.400s", p, who, body)
			}
		}
	}
}

// TestScheduleInputMaskedWhenASecretIsAddedLater: a schedule saved before
// a value its input holds became a secret shows it masked, in the list
// and alone.
func TestScheduleInputMaskedWhenASecretIsAddedLater(t *testing.T) {
	t.Parallel()
	const value = "schedule-secret-value-0e6b72d9"
	te := newTaskEnv(t)
	w := te.do(req{method: "POST", path: "/api/v1/schedules", key: te.key, body: `{"cron":"@daily","input":"report with ` + value + `"}`})
	if w.Code != 201 {
		t.Fatalf("POST schedule = %d %s", w.Code, w.Body)
	}
	sc := decode[bulwark.Schedule](t, w)
	if !strings.Contains(sc.Input, value) {
		t.Fatalf("the schedule was saved as %q: the test would prove nothing", sc.Input)
	}
	if w := te.do(req{method: "PUT", path: "/api/v1/secrets/SCHED", key: te.key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
		t.Fatalf("PUT secret = %d %s", w.Code, w.Body)
	}
	for _, p := range []string{"/api/v1/schedules", "/api/v1/schedules/" + sc.ID} {
		w := te.do(req{method: "GET", path: p, key: te.key})
		if w.Code != 200 || strings.Contains(w.Body.String(), value) || !strings.Contains(w.Body.String(), "report with [REDACTED:SCHED]") {
			t.Errorf("GET %s = %d %s, want the input with the secret masked", p, w.Code, w.Body)
		}
	}
}

// TestSecretSetOnAnyNodeMaskedAtTheNextRequest: what was stored before a
// value became a secret (here a memory) is shown masked by a node that
// read the tenant's secrets a moment before, at its next request, whether
// the secret was set through the same server, another process on the
// same SQLite file, or another node on the same PostgreSQL database.
func TestSecretSetOnAnyNodeMaskedAtTheNextRequest(t *testing.T) {
	t.Parallel()
	const value = "any-node-secret-value-18d2c6"
	for _, c := range cacheNodes {
		t.Run(c.name, func(t *testing.T) {
			changer, cacher := c.nodes(t, rateLimitOff)
			tn := cacher.tenant("acme")
			key := tn.keys[bulwark.RoleOwner]
			if w := cacher.do(req{method: "POST", path: "/api/v1/memories", key: key, body: `{"text":"the note says ` + value + `"}`}); w.Code != 201 {
				t.Fatalf("POST memory = %d %s", w.Code, w.Body)
			}
			if w := cacher.do(req{method: "GET", path: "/api/v1/memories", key: key}); !strings.Contains(w.Body.String(), value) {
				t.Fatalf("before the secret the memory reads %d %s: the test would prove nothing", w.Code, w.Body)
			}
			if w := changer.do(req{method: "PUT", path: "/api/v1/secrets/NOTE", key: key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
				t.Fatalf("PUT secret = %d %s", w.Code, w.Body)
			}
			w := cacher.do(req{method: "GET", path: "/api/v1/memories", key: key})
			if w.Code != 200 || strings.Contains(w.Body.String(), value) || !strings.Contains(w.Body.String(), "[REDACTED:NOTE]") {
				t.Errorf("the next request after the secret was set = %d %s, want the value masked", w.Code, w.Body)
			}
		})
	}
}

// TestOpenStreamMasksASecretSetElsewhere: an event stream opened before a
// secret was set by another node or process (here straight into the
// store, so this server drops nothing) masks it in the events it passes
// on once it has read the store's version again (streamVersionEvery),
// though no other request rebuilt the tenant's redactor meanwhile.
func TestOpenStreamMasksASecretSetElsewhere(t *testing.T) {
	t.Parallel()
	const turns, value = 200, "f190.txt" // the task writes f1.txt ... f200.txt, 20 ms a turn
	te := newTaskEnv(t)
	w := te.do(req{method: "POST", path: "/api/v1/tasks", key: te.key,
		body: `{"input":"turns:` + strconv.Itoa(turns) + `","limits":{"max_steps":` + strconv.Itoa(turns+5) + `,"max_tokens":10000000}}`})
	if w.Code != 201 {
		t.Fatalf("POST task = %d %s", w.Code, w.Body)
	}
	v := decode[taskView](t, w)
	resp := te.stream(v.ID, "", nil)
	defer resp.Body.Close()
	set := false
	evs := readSSE(t, resp.Body, func(e sseEvent) bool {
		if !set && e.e.Type == bulwark.EventToolCall && strings.Contains(string(e.e.Args), `"f3.txt"`) {
			if err := te.db.SetSecret(context.Background(), te.a.id, "FILE", value); err != nil {
				t.Error(err)
			}
			set = true
		}
		return e.e.Type == bulwark.EventTaskFinished
	})
	if !set || evs[len(evs)-1].e.Type != bulwark.EventTaskFinished {
		t.Fatalf("the stream ended before the task did (secret set: %v)", set)
	}
	seen := false
	for _, e := range evs {
		b, _ := json.Marshal(e.e)
		seen = seen || strings.Contains(string(b), "[REDACTED:FILE]")
		if strings.Contains(string(b), value) {
			t.Errorf("the stream passed on an event with the secret's value, set %v before: %s", streamVersionEvery, b)
		}
	}
	if !seen {
		t.Error("no event of the stream shows the secret masked: the test proved nothing")
	}
}
