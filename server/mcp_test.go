package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/mcpserver"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bearer adds an API key to each request of an MCP client.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

// mcpClient connects an MCP client with key to the fixture's server over
// real HTTP.
func mcpClient(t *testing.T, f *fixture, key string, progress func(context.Context, *mcp.ProgressNotificationClientRequest)) *mcp.ClientSession {
	t.Helper()
	hs := httptest.NewServer(f.e.srv.Handler())
	t.Cleanup(hs.Close)
	return mcpClientAt(t, hs.URL, key, progress)
}

// mcpClientAt connects an MCP client with key to the server at base.
func mcpClientAt(t *testing.T, base, key string, progress func(context.Context, *mcp.ProgressNotificationClientRequest)) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, &mcp.ClientOptions{ProgressNotificationHandler: progress})
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: base + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{key}}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect to /mcp: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func mcpCall(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s(%v): %v", name, args, err)
	}
	return res
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

func structured[T any](t *testing.T, name string, res *mcp.CallToolResult) T {
	t.Helper()
	var v T
	if res.IsError {
		t.Fatalf("%s: error %q", name, resultText(res))
	}
	b, _ := json.Marshal(res.StructuredContent)
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v in %s", name, err, b)
	}
	return v
}

const mcpInit = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`

// TestMCPNeedsKey: /mcp answers 401 to a request without a key, with a
// bad key, and with only a session cookie (it is an API route: cookies
// are not read, so no cross-site request can ride on one).
func TestMCPNeedsKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	e := f.e
	accept := map[string]string{"Accept": "application/json, text/event-stream"}
	for name, rq := range map[string]req{
		"no key":     {method: "POST", path: "/mcp", body: mcpInit, header: accept},
		"bad key":    {method: "POST", path: "/mcp", body: mcpInit, header: accept, key: "bwk_notakey0000000000000000000000"},
		"cookie":     {method: "POST", path: "/mcp", body: mcpInit, header: accept, cookie: f.session(f.a, bulwark.RoleOwner)},
		"GET no key": {method: "GET", path: "/mcp", header: map[string]string{"Accept": "text/event-stream"}},
	} {
		if w := e.do(rq); w.Code != http.StatusUnauthorized || strings.Contains(w.Body.String(), "tools") {
			t.Errorf("/mcp with %s = %d %s, want 401", name, w.Code, w.Body)
		}
	}
	if w := e.do(req{method: "POST", path: "/mcp", body: mcpInit, header: accept, key: f.a.keys[bulwark.RoleViewer]}); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "create_task") {
		t.Errorf("/mcp tools/list with a viewer's key = %d %s, want 200 with the tools", w.Code, w.Body)
	}
}

// TestMCPRefusesBatches: a JSON-RPC batch is refused, so that one
// request, which the rate limits count, is one call.
func TestMCPRefusesBatches(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	call := `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"create_task","arguments":{"input":"hello"}}}`
	batch := "  [" + fmt.Sprintf(call, 1) + "," + fmt.Sprintf(call, 2) + "]"
	w := f.e.do(req{method: "POST", path: "/mcp", body: batch, key: f.a.keys[bulwark.RoleOwner],
		header: map[string]string{"Accept": "application/json, text/event-stream"}})
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "batch") {
		t.Errorf("a batch to /mcp = %d %s, want 400", w.Code, w.Body)
	}
	if n := e2eTasks(t, f, f.a.keys[bulwark.RoleOwner]); n != 0 {
		t.Errorf("a refused batch made %d tasks", n)
	}
}

// TestMCPToolsListed: an MCP client with a key lists Bulwark's tools.
func TestMCPToolsListed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cs := mcpClient(t, f, f.a.keys[bulwark.RoleViewer], nil)
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, tl := range res.Tools {
		got[tl.Name] = true
	}
	for _, want := range []string{"create_task", "get_task", "list_tasks", "cancel_task", "send_message", "list_approvals", "decide_approval"} {
		if !got[want] {
			t.Errorf("tools/list lacks %s: %v", want, got)
		}
	}
}

// TestMCPViewerCannotChange: a viewer's key reads but cannot create,
// cancel, message or decide, as on the task API.
func TestMCPViewerCannotChange(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.waitingTask()
	cs := mcpClient(t, f, f.a.keys[bulwark.RoleViewer], nil)
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"create_task", map[string]any{"input": "hello"}},
		{"cancel_task", map[string]any{"id": id}},
		{"send_message", map[string]any{"id": id, "text": "hi"}},
		{"decide_approval", map[string]any{"id": id, "approval_id": f.approval, "decision": "allow"}},
	} {
		res := mcpCall(t, cs, c.tool, c.args)
		if !res.IsError || !strings.HasPrefix(resultText(res), "permission denied") {
			t.Errorf("%s as a viewer = %v %q, want permission denied", c.tool, res.IsError, resultText(res))
		}
	}
	if got := structured[mcpserver.TaskOut](t, "get_task", mcpCall(t, cs, "get_task", map[string]any{"id": id})); got.Status != "waiting" {
		t.Errorf("get_task as a viewer = %+v, want the waiting task", got)
	}
	if aps := mcpCall(t, cs, "list_approvals", map[string]any{"id": id}); aps.IsError || !strings.Contains(resultText(aps), f.approval) {
		t.Errorf("list_approvals as a viewer = %q, want the approval", resultText(aps))
	}
	page := e2eTasks(t, f, f.a.keys[bulwark.RoleOwner])
	if page != 1 {
		t.Errorf("A has %d tasks after the viewer's calls, want 1 (no task created)", page)
	}
}

// e2eTasks counts a tenant's tasks through the task API.
func e2eTasks(t *testing.T, f *fixture, key string) int {
	w := f.e.do(req{method: "GET", path: "/api/v1/tasks", key: key})
	return len(decode[taskList](t, w).Tasks)
}

// TestMCPOtherTenantNotFound: tenant B's key gets "not found" for A's
// task from every tool and resource, and never sees A's data; A's task
// is left as it was.
func TestMCPOtherTenantNotFound(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	done, waiting := f.doneTask(), f.waitingTask()
	cs := mcpClient(t, f, f.b.keys[bulwark.RoleOwner], nil)
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"get_task", map[string]any{"id": done}},
		{"cancel_task", map[string]any{"id": waiting}},
		{"send_message", map[string]any{"id": waiting, "text": "hi"}},
		{"send_message", map[string]any{"id": done, "text": "a new turn"}},
		{"list_approvals", map[string]any{"id": waiting}},
		{"decide_approval", map[string]any{"id": waiting, "approval_id": f.approval, "decision": "allow"}},
	} {
		res := mcpCall(t, cs, c.tool, c.args)
		if !res.IsError || !strings.HasPrefix(resultText(res), "not found") {
			t.Errorf("%s of A's task as B = %v %q, want not found", c.tool, res.IsError, resultText(res))
		}
		for _, m := range f.markers() {
			if m != done && m != waiting && m != f.approval && strings.Contains(resultText(res), m) {
				t.Errorf("%s as B shows A's %q", c.tool, m)
			}
		}
	}
	list := structured[struct{ Tasks []mcpserver.TaskOut }](t, "list_tasks", mcpCall(t, cs, "list_tasks", nil))
	if len(list.Tasks) != 0 {
		t.Errorf("list_tasks as B = %+v, want none of A's", list.Tasks)
	}
	for _, uri := range []string{mcpserver.TranscriptURI(done), "bulwark://tasks/" + done + "/files", mcpserver.FileURI(done, "out.txt")} {
		res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: uri})
		if err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("read %s as B = %v, %v; want not found", uri, res, err)
		}
	}
	w := f.e.do(req{method: "GET", path: "/api/v1/tasks/" + waiting, key: f.a.keys[bulwark.RoleOwner]})
	if v := decode[taskView](t, w); v.Status != bulwark.TaskWaiting {
		t.Errorf("A's waiting task after B's calls = %s, want still waiting", v.Status)
	}
	// A's own key reaches them.
	own := mcpClient(t, f, f.a.keys[bulwark.RoleOwner], nil)
	if got := structured[mcpserver.TaskOut](t, "get_task", mcpCall(t, own, "get_task", map[string]any{"id": done})); got.ID != done {
		t.Errorf("get_task as A = %+v", got)
	}
	res, err := own.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: mcpserver.FileURI(done, "out.txt")})
	if err != nil || res.Contents[0].Text != aFile {
		t.Errorf("read A's out.txt as A = %v, %v; want its text", res, err)
	}
}

// TestMCPCreateAndWait: a member's create_task with wait runs the task
// through the runtime and answers with its answer, after progress
// notifications; the task is audited as created through MCP.
func TestMCPCreateAndWait(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var mu sync.Mutex
	var progress []string
	cs := mcpClient(t, f, f.a.keys[bulwark.RoleMember], func(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
		mu.Lock()
		progress = append(progress, r.Params.Message)
		mu.Unlock()
	})
	params := &mcp.CallToolParams{Name: "create_task", Arguments: map[string]any{"input": "write:from mcp", "wait": true}}
	params.SetProgressToken("tok")
	res, err := cs.CallTool(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	out := structured[mcpserver.TaskOut](t, "create_task", res)
	if out.Status != "succeeded" || out.Answer != "wrote out.txt" {
		t.Errorf("create_task wait = %+v, want succeeded with its answer", out)
	}
	seen := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(strings.Join(progress, "|"), "write_file")
	}
	for deadline := time.Now().Add(10 * time.Second); !seen() && time.Now().Before(deadline); { // notifications may trail the result
		time.Sleep(10 * time.Millisecond)
	}
	if !seen() {
		mu.Lock()
		t.Errorf("progress = %q, want the write_file step", progress)
		mu.Unlock()
	}
	r, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: mcpserver.FileURI(out.ID, "out.txt")})
	if err != nil || r.Contents[0].Text != "from mcp" {
		t.Errorf("read out.txt = %v, %v", r, err)
	}
	w := f.e.do(req{method: "GET", path: "/api/v1/audit", key: f.a.keys[bulwark.RoleOwner]})
	if !strings.Contains(w.Body.String(), `"via":"mcp"`) || !strings.Contains(w.Body.String(), out.ID) {
		t.Errorf("the audit log lacks the task's creation through MCP: %s", w.Body)
	}
	// A bad model is refused as by the task API, naming the field.
	bad := mcpCall(t, cs, "create_task", map[string]any{"input": "x", "model": "replay:/etc/passwd"})
	if !bad.IsError || !strings.Contains(resultText(bad), "model") || strings.Contains(resultText(bad), "server.") {
		t.Errorf("create_task with a replay model = %q, want a refusal naming the model", resultText(bad))
	}
}

// TestMCPRateLimited: /mcp counts against the key's rate limit as every
// API route does.
func TestMCPRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withRuntime(t, ""), func(c *Config) { c.RateLimits = bulwark.RateLimitSettings{PerKey: 1, PerTenant: 100, Burst: 3} })
	key := e.tenant("a").keys[bulwark.RoleViewer]
	accept := map[string]string{"Accept": "application/json, text/event-stream"}
	for i := range 3 {
		if w := e.do(req{method: "POST", path: "/mcp", body: mcpInit, header: accept, key: key}); w.Code != 200 {
			t.Fatalf("request %d within the burst = %d %s", i+1, w.Code, w.Body)
		}
	}
	if w := e.do(req{method: "POST", path: "/mcp", body: mcpInit, header: accept, key: key}); w.Code != http.StatusTooManyRequests {
		t.Errorf("/mcp past the burst = %d %s, want 429", w.Code, w.Body)
	}
}

// TestMCPFilesMasked: with MaskDownloads, a task's file read as an MCP
// resource is masked with the tenant's secrets, as its download is.
func TestMCPFilesMasked(t *testing.T) {
	t.Parallel()
	const value = "mcp-secret-value-3b7d1f"
	te := newTaskEnv(t, func(c *Config) { c.MaskDownloads = true })
	v := te.createTask(te.key, "hang")
	defer te.do(req{method: "POST", path: "/api/v1/tasks/" + v.ID + "/cancel", key: te.key})
	if w := te.do(req{method: "PUT", path: "/api/v1/tasks/" + v.ID + "/files/leak.txt", body: "token=" + value, key: te.key,
		header: map[string]string{"Content-Type": "application/octet-stream"}}); w.Code != 201 {
		t.Fatalf("PUT file = %d %s", w.Code, w.Body)
	}
	// The value is set after the upload: an upload holding it is refused.
	if w := te.do(req{method: "PUT", path: "/api/v1/secrets/TOKEN", key: te.key, body: `{"value":"` + value + `"}`}); w.Code != 204 {
		t.Fatalf("PUT secret after the file = %d %s", w.Code, w.Body)
	}
	cs := mcpClientAt(t, te.url, te.key, nil)
	res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: mcpserver.FileURI(v.ID, "leak.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Contents[0].Text; strings.Contains(got, value) || !strings.HasPrefix(got, "token=") {
		t.Errorf("leak.txt through MCP = %q, want the secret masked", got)
	}
}

// TestMCPScopesAndPaths: a key whose scopes leave out tasks is refused
// at /mcp, the operator's key (of no tenant) too; a file path that leads
// out of the workspace reads nothing and is not repeated.
func TestMCPScopesAndPaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tok, _, err := IssueKey(context.Background(), f.e.db, f.a.id, KeySpec{Name: "keys only", Role: bulwark.RoleOwner, Scopes: []string{"keys"}, CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	accept := map[string]string{"Accept": "application/json, text/event-stream"}
	for name, key := range map[string]string{"a key scoped to keys": tok, "the operator's key": f.operator} {
		if w := f.e.do(req{method: "POST", path: "/mcp", body: mcpInit, header: accept, key: key}); w.Code != http.StatusForbidden {
			t.Errorf("/mcp with %s = %d %s, want 403", name, w.Code, w.Body)
		}
	}
	done := f.doneTask()
	cs := mcpClient(t, f, f.a.keys[bulwark.RoleOwner], nil)
	for _, p := range []string{"../../../../etc/passwd", "/etc/passwd", "..%2F..%2Fetc%2Fpasswd"} {
		uri := "bulwark://tasks/" + done + "/files/" + p
		res, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: uri})
		if err == nil {
			t.Errorf("read %s = %+v, want an error", uri, res.Contents)
			continue
		}
		t.Logf("read %s: %v", uri, err)
		if strings.Contains(err.Error(), "root:") || strings.Contains(err.Error(), "passwd") && !strings.Contains(err.Error(), "uri") {
			t.Errorf("read %s: %v, which shows or repeats the path", uri, err)
		}
	}
}

// TestMCPWaitsCountAsStreams: a create_task that waits holds one of the
// key's open streams, so a client cannot pile up waiting requests beyond
// the stream limits (429 past them).
func TestMCPWaitsCountAsStreams(t *testing.T) {
	t.Parallel()
	te := newTaskEnv(t, func(c *Config) { c.StreamLimits = StreamLimits{PerKey: 1, PerClient: 10, Total: 10} })
	// Without the client's standalone event stream (a GET that would hold
	// the key's one stream if it came first, and have create_task refused).
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: te.url + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{te.key}}, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatalf("connect to /mcp: %v", err)
	}
	defer cs.Close()
	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error, 1)
	params := &mcp.CallToolParams{Name: "create_task", Arguments: map[string]any{"input": "hang", "wait": true}}
	params.SetProgressToken("p")
	call := func() {
		go func() {
			_, err := cs.CallTool(ctx, params)
			waited <- err
		}()
	}
	call()
	// Once the task runs, the wait holds the key's one stream. The
	// client reads a reply from its event stream before the server's
	// handler has returned, so its next request can still find the
	// stream taken (429): that one is tried again.
	var id string
	for deadline := time.Now().Add(20 * time.Second); id == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case err := <-waited:
			if err == nil || !strings.Contains(err.Error(), "Too Many Requests") {
				t.Fatalf("create_task returned before its task ran: %v", err)
			}
			call()
		default:
		}
		w := te.do(req{method: "GET", path: "/api/v1/tasks?status=running", key: te.key})
		if l := decode[taskList](t, w); len(l.Tasks) == 1 {
			id = l.Tasks[0].ID
		}
	}
	if id == "" {
		t.Fatal("the task did not start")
	}
	accept := map[string]string{"Accept": "application/json, text/event-stream"}
	w := te.do(req{method: "POST", path: "/mcp", body: mcpInit, header: accept, key: te.key})
	if w.Code != http.StatusTooManyRequests {
		t.Errorf("/mcp beside a waiting create_task with PerKey 1 = %d %s, want 429", w.Code, w.Body)
	}
	te.do(req{method: "POST", path: "/api/v1/tasks/" + id + "/cancel", key: te.key})
	cancel()
	<-waited
}
