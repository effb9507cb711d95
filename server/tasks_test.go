package server

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// taskEnv is a server with a task runtime, a tenant, and the server
// behind a real listener for streams.
type taskEnv struct {
	*env
	a   *tenant
	key string // A's owner
	url string
}

func newTaskEnv(t *testing.T, opts ...func(*Config)) *taskEnv {
	t.Helper()
	e := newEnv(t, append([]func(*Config){rateLimitOff, withRuntime(t, "")}, opts...)...)
	te := &taskEnv{env: e, a: e.tenant("a")}
	te.key = te.a.keys[bulwark.RoleOwner]
	hs := httptest.NewServer(e.srv.Handler())
	t.Cleanup(hs.Close)
	te.url = hs.URL
	return te
}

// stream opens the event stream of a task with extra headers and query.
func (te *taskEnv) stream(id, query string, header map[string]string) *http.Response {
	te.t.Helper()
	r, _ := http.NewRequest("GET", te.url+"/api/v1/tasks/"+id+"/events"+query, nil)
	r.Header.Set("Authorization", "Bearer "+te.key)
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		te.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		te.t.Fatalf("GET events = %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp
}

// steps returns the stored events of a task through GET .../steps,
// following its pages.
func (te *taskEnv) steps(id string) []bulwark.Event {
	te.t.Helper()
	var out []bulwark.Event
	after := int64(0)
	for {
		w := te.do(req{method: "GET", path: "/api/v1/tasks/" + id + "/steps?limit=3&after=" + strconv.FormatInt(after, 10), key: te.key})
		page := decode[stepList](te.t, w)
		out = append(out, page.Steps...)
		if page.NextAfter == 0 {
			return out
		}
		after = page.NextAfter
	}
}

func stored(evs []sseEvent) []bulwark.Event {
	var out []bulwark.Event
	for _, e := range evs {
		if e.e.Type != bulwark.EventModelDelta {
			out = append(out, e.e)
		}
	}
	return out
}

func seqs(evs []bulwark.Event) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// TestTaskLifecycle creates a task over HTTP, follows it over SSE to its
// end, and finds the same events in /steps and its file in /files.
func TestTaskLifecycle(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	v := te.createTask(te.key, "write:hello file")
	if v.ID == "" || v.Status != bulwark.TaskQueued && v.Status != bulwark.TaskRunning {
		t.Fatalf("created task = %+v", v)
	}
	resp := te.stream(v.ID, "", nil)
	evs := readSSE(t, resp.Body, nil)
	resp.Body.Close()
	if len(evs) == 0 || evs[len(evs)-1].typ != "task_finished" || evs[len(evs)-1].e.Text != "wrote out.txt" {
		t.Fatalf("the stream ends with %+v, want task_finished with the answer", evs[len(evs)-1:])
	}
	for _, e := range evs {
		if e.id != strconv.FormatInt(e.e.Seq, 10) || e.typ != string(e.e.Type) {
			t.Errorf("event id %q type %q carries seq %d type %s", e.id, e.typ, e.e.Seq, e.e.Type)
		}
	}
	got := te.waitTask(te.key, v.ID, ended)
	if got.Status != bulwark.TaskSucceeded || got.Answer != "wrote out.txt" {
		t.Errorf("task after its end = %+v", got)
	}
	if want, have := seqs(stored(evs)), seqs(te.steps(v.ID)); !slices.Equal(want, have) {
		t.Errorf("/steps has seqs %v, the stream had %v", have, want)
	}
	files := decode[fileList](t, te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files", key: te.key})).Files
	if len(files) != 1 || files[0].Path != "out.txt" || files[0].Size == nil || *files[0].Size != int64(len("hello file")) {
		t.Errorf("files = %+v, want out.txt", files)
	}
	w := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files/out.txt", key: te.key})
	if w.Code != 200 || w.Body.String() != "hello file" {
		t.Errorf("download = %d %q", w.Code, w.Body)
	}
	// A stream of an ended task replays it and ends.
	resp = te.stream(v.ID, "?after=2", nil)
	again := readSSE(t, resp.Body, nil)
	resp.Body.Close()
	if len(again) == 0 || again[0].e.Seq != 3 || again[len(again)-1].typ != "task_finished" {
		t.Errorf("replay after 2 = %d events starting at %+v", len(again), again)
	}
}

// TestSSEResume reads a running task's stream halfway, drops it, and
// reconnects with Last-Event-ID: together the two streams hold every
// stored event once, in order, as /steps does.
func TestSSEResume(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	v := te.createTask(te.key, "turns:6")
	resp := te.stream(v.ID, "", nil)
	first := readSSE(t, resp.Body, func(e sseEvent) bool { return e.e.Type == bulwark.EventToolResult && e.e.Step == 3 })
	resp.Body.Close()
	last := first[len(first)-1]
	if last.e.Type != bulwark.EventToolResult {
		t.Fatalf("the first stream ended early: %+v", last)
	}
	resp = te.stream(v.ID, "?after=1", map[string]string{"Last-Event-ID": last.id}) // the header wins
	second := readSSE(t, resp.Body, nil)
	resp.Body.Close()
	all := append(stored(first), stored(second)...)
	for i := 1; i < len(all); i++ {
		if all[i].Seq <= all[i-1].Seq {
			t.Fatalf("seq %d after %d across the reconnect: repeated or out of order", all[i].Seq, all[i-1].Seq)
		}
	}
	if want := seqs(te.steps(v.ID)); !slices.Equal(seqs(all), want) {
		t.Errorf("the two streams have seqs %v, /steps %v", seqs(all), want)
	}
	if all[len(all)-1].Type != bulwark.EventTaskFinished {
		t.Errorf("the resumed stream ends with %s", all[len(all)-1].Type)
	}
	for _, bad := range []string{"x", "-1"} {
		w := te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/events", key: te.key, header: map[string]string{"Last-Event-ID": bad}})
		if w.Code != 400 {
			t.Errorf("Last-Event-ID %q = %d, want 400", bad, w.Code)
		}
	}
}

func TestCancelOverHTTP(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	v := te.createTask(te.key, "hang")
	te.waitTask(te.key, v.ID, func(v taskView) bool { return v.Status == bulwark.TaskRunning })
	if w := te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key}); w.Code != 202 {
		t.Fatalf("cancel = %d %s", w.Code, w.Body)
	}
	if got := te.waitTask(te.key, v.ID, ended); got.Status != bulwark.TaskCanceled {
		t.Errorf("after cancel the task is %s", got.Status)
	}
	if w := te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key}); w.Code != 409 {
		t.Errorf("cancel of an ended task = %d, want 409", w.Code)
	}
	// A viewer may not cancel.
	v2 := te.createTask(te.key, "hang")
	if w := te.do(req{method: "POST", path: "/api/v1/tasks/" + v2.ID + "/cancel", key: te.a.keys[bulwark.RoleViewer]}); w.Code != 403 {
		t.Errorf("cancel by a viewer = %d, want 403", w.Code)
	}
	te.do(req{method: "POST", path: "/api/v1/tasks/" + v2.ID + "/cancel", key: te.key})
}

func TestMessagesOverHTTP(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	v := te.createTask(te.key, "question: who")
	te.waitTask(te.key, v.ID, func(tv taskView) bool {
		return slices.ContainsFunc(te.steps(v.ID), func(e bulwark.Event) bool { return e.Type == bulwark.EventAskUser })
	})
	for _, body := range []string{`{"text":""}`, `{"text":"   "}`, `{"text":"\xff"}`, `{"text":"` + strings.Repeat("x", MaxInputBytes+1) + `"}`, `{"txt":"a"}`} {
		if w := te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/messages", body: body, key: te.key}); w.Code != 400 {
			t.Errorf("message %.40q = %d, want 400", body, w.Code)
		}
	}
	if w := te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/messages", body: `{"text":"Ada\u0000 Lovelace"}`, key: te.key}); w.Code != 202 {
		t.Fatalf("message = %d %s", w.Code, w.Body)
	}
	got := te.waitTask(te.key, v.ID, ended)
	if got.Answer != "hello Ada Lovelace" {
		t.Errorf("answer %q, want the message (cleaned of its NUL) to reach the model", got.Answer)
	}
	if len(te.audited("task.message")) != 1 {
		t.Errorf("messages audited: %d, want 1", len(te.audited("task.message")))
	}
}

// TestApprovalsOverHTTP sets an ask rule through PUT /api/v1/settings,
// then allows one task's write and denies another's.
func TestApprovalsOverHTTP(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	policy := `{"policy":{"rules":[{"tool":"write_file","pattern":"notes/*","decision":"ask"}]}}`
	if w := te.do(req{method: "PUT", path: "/api/v1/settings", body: policy, key: te.key}); w.Code != 200 {
		t.Fatalf("PUT settings = %d %s", w.Code, w.Body)
	}
	for _, decision := range []string{"allow", "deny"} {
		v := te.createTask(te.key, "ask: "+decision)
		ap := te.waitApproval(te.key, v.ID)
		if ap.Tool != "write_file" || ap.Target != "notes/x.txt" {
			t.Errorf("approval = %+v", ap)
		}
		path := "/api/v1/tasks/" + v.ID + "/approvals/" + ap.ID
		if w := te.do(req{method: "POST", path: path, body: `{"decision":"maybe"}`, key: te.key}); w.Code != 400 {
			t.Errorf("decision maybe = %d, want 400", w.Code)
		}
		if w := te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/approvals/ap_nope", body: `{"decision":"allow"}`, key: te.key}); w.Code != 404 {
			t.Errorf("an unknown approval = %d, want 404", w.Code)
		}
		if w := te.do(req{method: "POST", path: path, body: `{"decision":"` + decision + `"}`, key: te.key}); w.Code != 200 {
			t.Fatalf("decide %s = %d %s", decision, w.Code, w.Body)
		}
		got := te.waitTask(te.key, v.ID, ended)
		wrote := strings.Contains(got.Answer, "notes/x.txt") && !strings.Contains(got.Answer, "denied")
		files := decode[fileList](t, te.do(req{method: "GET", path: "/api/v1/tasks/" + v.ID + "/files", key: te.key})).Files
		if written := len(files) == 1; written != (decision == "allow") {
			t.Errorf("%s: files %+v (answer %q, wrote %v)", decision, files, got.Answer, wrote)
		}
		if w := te.do(req{method: "POST", path: path, body: `{"decision":"allow"}`, key: te.key}); w.Code != 409 {
			t.Errorf("deciding on an ended task = %d, want 409", w.Code)
		}
	}
}

var createTaskTests = []struct {
	body string
	code int
}{
	{`{"input":""}`, 400},
	{`{"input":" \n\t "}`, 400},
	{`{"input":"` + strings.Repeat("x", MaxInputBytes+1) + `"}`, 400},
	{`{"input":"x","model":"gpt-4o"}`, 400},
	{`{"input":"x","model":"acme:m"}`, 400},
	{`{"input":"x","model":"openai:"}`, 400},
	{`{"input":"x","model":"openai:m?x=1"}`, 400},
	{`{"input":"x","model":"replay:/etc/passwd"}`, 403},
	{`{"input":"x","limits":{"max_steps":-1}}`, 400},
	{`{"input":"x","limits":{"max_steps":100000}}`, 400},
	{`{"input":"x","limits":{"max_cost":-0.5}}`, 400},
	{`{"input":"x","limits":{"max_duration":"48h"}}`, 400},
	{`{"input":"x","limits":{"max_duration":"soon"}}`, 400},
	{`{"input":"x","limits":{"max_duration":1.5}}`, 400},
	{`{"input":"x","limits":{"max_output":-3}}`, 400},
	{`{"input":"x","limits":{"max_minutes":3}}`, 400},
	{`{"input":"x","tenant_id":"other"}`, 400},
	{`{"input":1}`, 400},
	{`{"input":"x","model":"openai:gpt-4o","limits":{"max_steps":3,"max_duration":60000000000,"max_cost":1.5}}`, 201},
	{`{"input":"x","model":"replay:demo.jsonl"}`, 201}, // the operator's default
}

func TestCreateTaskValidation(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t, func(c *Config) { c.DefaultModel = "replay:demo.jsonl" })
	for _, tt := range createTaskTests {
		w := te.do(req{method: "POST", path: "/api/v1/tasks", body: tt.body, key: te.key})
		if w.Code != tt.code {
			t.Errorf("POST /api/v1/tasks %.80s = %d %s, want %d", tt.body, w.Code, w.Body, tt.code)
		}
	}
	v := te.createTask(te.key, "x")
	if v.Limits != (bulwark.Limits{}) {
		t.Errorf("limits of a task that set none: %+v", v.Limits)
	}
	w := te.do(req{method: "POST", path: "/api/v1/tasks", body: `{"input":"y","limits":{"max_duration":"90s"}}`, key: te.key})
	if got := decode[taskView](t, w); got.Limits.MaxDuration.Seconds() != 90 {
		t.Errorf("max_duration \"90s\" stored as %v", got.Limits.MaxDuration)
	}
}

// TestQuotaQueues: a task over the tenant's quota is accepted and waits,
// with its place in the queue.
func TestQuotaQueues(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	if w := te.do(req{method: "PUT", path: "/api/v1/settings", body: `{"max_concurrent_tasks":1}`, key: te.key}); w.Code != 200 {
		t.Fatalf("PUT settings = %d %s", w.Code, w.Body)
	}
	first := te.createTask(te.key, "hang")
	te.waitTask(te.key, first.ID, func(v taskView) bool { return v.Status == bulwark.TaskRunning })
	second := te.createTask(te.key, "hang")
	if second.Status != bulwark.TaskQueued || second.Position != 1 {
		t.Errorf("a task over the quota = %s at %d, want queued at 1", second.Status, second.Position)
	}
	got := decode[taskView](t, te.do(req{method: "GET", path: "/api/v1/tasks/" + second.ID, key: te.key}))
	if got.Position != 1 {
		t.Errorf("GET of the queued task: position %d, want 1", got.Position)
	}
	for _, id := range []string{second.ID, first.ID} {
		te.do(req{method: "POST", path: "/api/v1/tasks/" + id + "/cancel", key: te.key})
	}
}

func TestListTasksPages(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, te.createTask(te.key, "task "+strconv.Itoa(i)).ID)
	}
	for _, id := range ids {
		te.waitTask(te.key, id, ended)
	}
	hang := te.createTask(te.key, "hang")
	defer te.do(req{method: "POST", path: "/api/v1/tasks/" + hang.ID + "/cancel", key: te.key})
	seen := map[string]bool{}
	path := "/api/v1/tasks?limit=2"
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("the pages do not end")
		}
		page := decode[taskList](t, te.do(req{method: "GET", path: path, key: te.key}))
		for _, v := range page.Tasks {
			if seen[v.ID] {
				t.Errorf("task %s on two pages", v.ID)
			}
			seen[v.ID] = true
		}
		path = ""
		if page.NextCursor != "" {
			path = "/api/v1/tasks?limit=2&cursor=" + page.NextCursor
		}
	}
	if len(seen) != 6 {
		t.Errorf("the pages hold %d tasks, want 6", len(seen))
	}
	done := decode[taskList](t, te.do(req{method: "GET", path: "/api/v1/tasks?status=succeeded,failed", key: te.key}))
	if len(done.Tasks) != 5 {
		t.Errorf("status=succeeded,failed: %d tasks, want 5", len(done.Tasks))
	}
	for _, bad := range []string{"?limit=0", "?limit=x", "?status=done", "?cursor=%25%25", "?cursor=" + encodeCursor(bulwark.TaskCursor{})[:3]} {
		if w := te.do(req{method: "GET", path: "/api/v1/tasks" + bad, key: te.key}); w.Code != 400 {
			t.Errorf("GET /api/v1/tasks%s = %d, want 400", bad, w.Code)
		}
	}
	var body map[string]any
	json.Unmarshal(te.do(req{method: "GET", path: "/api/v1/tasks", key: te.key}).Body.Bytes(), &body)
	if _, ok := body["tasks"].([]any); !ok {
		t.Errorf("GET /api/v1/tasks = %v, want a tasks list", body)
	}
}

// TestShutdownEndsStreams: stopping the server ends open event streams,
// so the graceful shutdown does not wait for them until its timeout.
func TestShutdownEndsStreams(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff, withRuntime(t, ""))
	a := e.tenant("a")
	key := a.keys[bulwark.RoleOwner]
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- e.srv.ListenAndServe(ctx, ListenConfig{Addr: "127.0.0.1:0", ShutdownTimeout: 30 * time.Second}, func(a net.Addr) { addrs <- a })
	}()
	base := "http://" + (<-addrs).String()
	v := e.createTask(key, "hang")
	r, _ := http.NewRequest("GET", base+"/api/v1/tasks/"+v.ID+"/events", nil)
	r.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	readSSE(t, resp.Body, func(e sseEvent) bool { return e.e.Type == bulwark.EventTaskStarted })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ListenAndServe with an open stream: %v, want a clean shutdown", err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Errorf("the stream did not end cleanly: %v", err)
	}
}
