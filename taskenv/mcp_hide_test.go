package taskenv

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/mcptest"
	"github.com/bulwark-agents/bulwark/mcpclient"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

// mcpCanary is the content of the files the policy hides in these tests:
// it must never come back from an MCP server, in an answer or an event.
const mcpCanary = "canary-3f9a-MCP-HIDDEN"

// readerServer is a stdio MCP server in Python whose tool read returns
// the content of the file it is given, and writes it to stderr too (which
// becomes the task's mcp_log events).
const readerServer = `
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if 'id' not in msg or 'method' not in msg:
        continue
    m = msg['method']
    if m == 'initialize':
        r = {'protocolVersion': msg['params']['protocolVersion'], 'capabilities': {'tools': {}}, 'serverInfo': {'name': 'reader', 'version': '1'}}
    elif m == 'tools/list':
        r = {'tools': [{'name': 'read', 'description': 'Reads a file.', 'inputSchema': {'type': 'object', 'properties': {'path': {'type': 'string'}}, 'required': ['path']}}]}
    elif m == 'tools/call':
        p = msg['params']['arguments']['path']
        try:
            with open(p) as f:
                text = f.read()
        except OSError as e:
            text = 'error %d' % e.errno
        sys.stderr.write('read %s: %s\n' % (p, text))
        sys.stderr.flush()
        r = {'content': [{'type': 'text', 'text': text}]}
    else:
        r = {}
    print(json.dumps({'jsonrpc': '2.0', 'id': msg['id'], 'result': r}), flush=True)
`

// systemPython is the system's python3, which the sandbox can run (the
// one PATH finds may be a user's shim).
func systemPython(t *testing.T) string {
	t.Helper()
	const p = "/usr/bin/python3"
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no %s", p)
	}
	return p
}

// mcpHidePolicy hides secrets/* and *.env from every tool.
func mcpHidePolicy(t *testing.T) bulwark.Policy {
	t.Helper()
	rules, err := bulwark.ParseRules("*(secrets/*)=deny; *(*.env)=deny")
	if err != nil {
		t.Fatal(err)
	}
	return bulwark.Policy{Rules: rules}
}

// newMCPHideEnv makes a workspace holding files (name: content), then a
// task with the MCP servers of doc under policy, its events collected.
func newMCPHideEnv(t *testing.T, doc map[string]any, policy bulwark.Policy, files map[string]string) (*Env, *workspace.Workspace, *events, error) {
	t.Helper()
	return newMCPHideEnvWith(t, doc, policy, files, nil)
}

// newMCPHideEnvWith is newMCPHideEnv, prepare (if not nil) run on the
// workspace's folder once the files are made, before the task starts.
func newMCPHideEnvWith(t *testing.T, doc map[string]any, policy bulwark.Policy, files map[string]string, prepare func(dir string)) (*Env, *workspace.Workspace, *events, error) {
	t.Helper()
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	for name, content := range files {
		p := filepath.Join(ws.Path(), name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if prepare != nil {
		prepare(ws.Path())
	}
	b, _ := json.Marshal(map[string]any{"mcpServers": doc})
	cfg, err := mcpclient.Parse(b, true)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(context.Background(), Options{Tenant: "tn_mcphide", TaskID: "t_1", Model: nopModel{}, Workspace: ws, MCP: cfg, Policy: policy})
	if err != nil {
		return nil, ws, nil, err
	}
	t.Cleanup(e.Close)
	ev := &events{}
	t.Cleanup(e.Notifications(ev.add))
	return e, ws, ev, nil
}

type events struct {
	mu   sync.Mutex
	list []bulwark.Event
}

func (ev *events) add(e bulwark.Event) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.list = append(ev.list, e)
}

func (ev *events) text() string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	var b strings.Builder
	for _, e := range ev.list {
		fmt.Fprintf(&b, "%s %s %s\n", e.Type, e.Tool, e.Text)
	}
	return b.String()
}

// waitFor waits until the events hold s (the server's stderr comes apart
// from its answers).
func (ev *events) waitFor(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(ev.text(), s) {
			return
		}
	}
	t.Fatalf("no event holds %q; events:\n%s", s, ev.text())
}

// mcpCall calls an MCP tool of e as the agent does, after checking that
// the policy allows it: the sandbox, not the rules, must be what stops it.
func mcpCall(t *testing.T, e *Env, ws *workspace.Workspace, policy bulwark.Policy, name, args string) (tool.Result, error) {
	t.Helper()
	tl, a, err := e.Tools.Prepare(name, json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s %s: %v", name, args, err)
	}
	eff, err := tl.Effects(a)
	if err != nil {
		t.Fatal(err)
	}
	if v := policy.Decide(tool.PolicyCall(tl, a, eff)); v.Decision != bulwark.Allow {
		t.Fatalf("%s %s: the policy says %s (%s); want it allowed", name, args, v.Decision, v.Rule)
	}
	return e.Tools.Call(context.Background(), &tool.Env{Workspace: ws}, name, a)
}

// TestDeniedFilesHiddenFromMCPServers: under *(secrets/*)=deny and
// *(*.env)=deny, a stdio MCP server of the task (bound to the workspace,
// in its sandbox) finds the files hidden, as the task's commands do: the
// canary never comes back in a call's output or an event. A file given a
// hidden name after the server started, which its sandbox cannot cover,
// stops the server: its calls are refused from then on, even once the
// file is gone.
func TestDeniedFilesHiddenFromMCPServers(t *testing.T) {
	requireSandbox(t)
	policy := mcpHidePolicy(t)
	doc := map[string]any{"reader": map[string]any{"command": systemPython(t), "args": []string{"-c", readerServer}}}
	e, ws, ev, err := newMCPHideEnv(t, doc, policy, map[string]string{
		"secrets/k": mcpCanary, "prod.env": mcpCanary, "conf/x.env": mcpCanary, "notes.txt": "visible"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"secrets/k", "/workspace/prod.env", "conf/x.env", "notes.txt"} {
		res, err := mcpCall(t, e, ws, policy, "mcp__reader__read", `{"path":"`+p+`"}`)
		if err != nil {
			t.Fatalf("read %s: %v", p, err)
		}
		if strings.Contains(res.Output, mcpCanary) {
			t.Errorf("read %s: the server read a hidden file: %q", p, res.Output)
		}
		if p == "notes.txt" && !strings.Contains(res.Output, "visible") {
			t.Errorf("read notes.txt, not hidden = %q, want its content", res.Output)
		}
	}
	ev.waitFor(t, "read notes.txt: visible")

	// A file named so after the server started (by a person, a command,
	// a checkout): the server is stopped before it can be asked.
	if err := os.WriteFile(filepath.Join(ws.Path(), "secrets/late"), []byte(mcpCanary), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := mcpCall(t, e, ws, policy, "mcp__reader__read", `{"path":"secrets/late"}`)
	if bulwark.ErrorKind(err) != bulwark.PermissionDenied || !strings.Contains(bulwark.ErrorMessage(err), "secrets/late") ||
		!strings.Contains(bulwark.ErrorMessage(err), "reader") || strings.Contains(res.Output, mcpCanary) {
		t.Errorf("read secrets/late, made after the start = %+v, %v; want a refusal naming the server and the file", res, err)
	}
	os.Remove(filepath.Join(ws.Path(), "secrets/late"))
	res, err = mcpCall(t, e, ws, policy, "mcp__reader__read", `{"path":"notes.txt"}`)
	if bulwark.ErrorKind(err) != bulwark.PermissionDenied || strings.Contains(res.Output, "visible") {
		t.Errorf("read notes.txt once the server was stopped = %+v, %v; want it refused", res, err)
	}
	time.Sleep(100 * time.Millisecond) // the server's last stderr, if any
	if strings.Contains(ev.text(), mcpCanary) {
		t.Errorf("a hidden file reached the events:\n%s", ev.text())
	}
}

// TestFilesystemServerFindsDeniedFilesHidden: the reference filesystem
// server, given the workspace, reads, lists and searches it with the
// files the policy denies hidden; once it wrote a file under a hidden
// name, it is stopped.
func TestFilesystemServerFindsDeniedFilesHidden(t *testing.T) {
	needSandboxTests(t)
	node, bin := mcptest.Node(t), mcptest.Bin(t, "mcp-server-filesystem")
	policy := mcpHidePolicy(t)
	doc := map[string]any{"files": map[string]any{"command": node, "args": []string{bin, "/workspace"},
		"readOnlyPaths": []string{mcptest.Dir(t)}}}
	e, ws, ev, err := newMCPHideEnv(t, doc, policy, map[string]string{
		"secrets/k": mcpCanary, "prod.env": mcpCanary, "conf/x.env": mcpCanary, "notes.txt": "visible"})
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct{ tool, args string }{
		{"read_text_file", `{"path":"/workspace/secrets/k"}`},
		{"read_text_file", `{"path":"/workspace/prod.env"}`},
		{"read_multiple_files", `{"paths":["/workspace/conf/x.env","/workspace/secrets/k","/workspace/notes.txt"]}`},
		{"search_files", `{"path":"/workspace","pattern":"*"}`},
		{"directory_tree", `{"path":"/workspace"}`},
	}
	var all strings.Builder
	for _, c := range calls {
		res, err := mcpCall(t, e, ws, policy, "mcp__files__"+c.tool, c.args)
		if err != nil {
			t.Fatalf("%s %s: %v", c.tool, c.args, err)
		}
		all.WriteString(res.Output)
		if strings.Contains(res.Output, mcpCanary) {
			t.Errorf("%s %s read a hidden file:\n%s", c.tool, c.args, res.Output)
		}
	}
	if !strings.Contains(all.String(), "visible") {
		t.Errorf("notes.txt, not hidden, was not read:\n%s", all.String())
	}
	// A file the server writes under a hidden name is out of its
	// sandbox's covers too: the answer is withheld, the server stopped.
	res, err := mcpCall(t, e, ws, policy, "mcp__files__write_file", `{"path":"/workspace/late.env","content":"x"}`)
	if bulwark.ErrorKind(err) != bulwark.PermissionDenied || !strings.Contains(bulwark.ErrorMessage(err), "late.env") {
		t.Errorf("write_file late.env = %+v, %v; want the answer withheld, naming the file", res, err)
	}
	if res, err := mcpCall(t, e, ws, policy, "mcp__files__read_text_file", `{"path":"/workspace/notes.txt"}`); bulwark.ErrorKind(err) != bulwark.PermissionDenied {
		t.Errorf("read_text_file notes.txt once the server was stopped = %+v, %v; want it refused", res, err)
	}
	if strings.Contains(ev.text(), mcpCanary) {
		t.Errorf("a hidden file reached the events:\n%s", ev.text())
	}
}

// TestMCPServerRefusedWhenHidingFails: a server whose sandbox cannot hide
// what the policy denies (here more files than one start may cover) does
// not start, and the task is not assembled: fail closed.
func TestMCPServerRefusedWhenHidingFails(t *testing.T) {
	requireSandbox(t)
	files := map[string]string{}
	for i := range 1100 {
		files[fmt.Sprintf("secrets/%d", i)] = mcpCanary
	}
	doc := map[string]any{"reader": map[string]any{"command": systemPython(t), "args": []string{"-c", readerServer}}}
	_, _, _, err := newMCPHideEnv(t, doc, mcpHidePolicy(t), files)
	if err == nil || !strings.Contains(bulwark.ErrorMessage(err), "reader") || !strings.Contains(bulwark.ErrorMessage(err), "hide") {
		t.Errorf("New = %v, want the server refused, saying that the files cannot be hidden", err)
	}
}
