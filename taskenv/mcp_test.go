package taskenv

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/mcptest"
	"github.com/bulwark-agents/bulwark/internal/testfamily"
	"github.com/bulwark-agents/bulwark/mcpclient"
	"github.com/bulwark-agents/bulwark/sandbox"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/workspace"
)

// TestMCPExec: a server's command is resolved to the file that runs
// (a name on PATH, never a relative path), and may run with its
// interpreters and the operator's extra commands, nothing else.
func TestMCPExec(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	argv, allow, err := mcpExec(mcpclient.Process{Server: "s", Argv: []string{"sh", "-c", "true"}, AllowExec: []string{"/usr/bin/extra"}})
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(argv[0]) || !slices.Equal(argv[1:], []string{"-c", "true"}) {
		t.Errorf("argv = %q, want sh resolved and its arguments", argv)
	}
	if !slices.Contains(allow, argv[0]) || !slices.Contains(allow, "/usr/bin/extra") {
		t.Errorf("allow = %q, want the command and the operator's", allow)
	}
	if real, _ := filepath.EvalSymlinks(sh); !slices.Contains(allow, real) {
		t.Errorf("allow = %q lacks the file %s names", allow, sh)
	}
	for _, bad := range [][]string{nil, {""}, {"./server"}, {"bin/server"}, {"no-such-mcp-server-7f3a"}} {
		_, _, err := mcpExec(mcpclient.Process{Server: "bad-one", Argv: bad})
		if err == nil || !strings.Contains(bulwark.ErrorMessage(err), "bad-one") {
			t.Errorf("command %q: %v, want an error naming the server", bad, err)
		}
	}
}

// TestNotificationsWaitForTheRun: log messages sent before a run attaches
// reach it (up to a bound), progress before it does not, and nothing is
// sent after it detached.
func TestNotificationsWaitForTheRun(t *testing.T) {
	n := &notifications{}
	for i := 0; i < maxEarlyNotes+10; i++ {
		n.send(bulwark.Event{Type: bulwark.EventMCPLog, Text: "early"})
	}
	n.send(bulwark.Event{Type: bulwark.EventToolProgress, Text: "1/2"})
	var got []bulwark.Event
	stop := n.attach(func(e bulwark.Event) { got = append(got, e) })
	if len(got) != maxEarlyNotes {
		t.Errorf("%d early events reached the run, want %d", len(got), maxEarlyNotes)
	}
	n.send(bulwark.Event{Type: bulwark.EventToolProgress, Text: "2/2"})
	stop()
	n.send(bulwark.Event{Type: bulwark.EventMCPLog, Text: "late"})
	if len(got) != maxEarlyNotes+1 || got[len(got)-1].Text != "2/2" {
		t.Errorf("events after attach: %v", got[maxEarlyNotes:])
	}
}

// TestRegistryReplacesMCPTools: the MCP tools of a task are one group of
// its registry, replaced whole when a server changes its list.
func TestRegistryReplacesMCPTools(t *testing.T) {
	reg, err := Tools(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := len(reg.Names())
	if err := setMCPTools(reg, []tool.Tool{fakeMCP("mcp__a__x"), fakeMCP("mcp__a__y")}); err != nil {
		t.Fatal(err)
	}
	if err := setMCPTools(reg, []tool.Tool{fakeMCP("mcp__a__z")}); err != nil {
		t.Fatal(err)
	}
	names := reg.Names()
	if len(names) != before+1 || !slices.Contains(names, "mcp__a__z") || slices.Contains(names, "mcp__a__x") {
		t.Errorf("tools %q, want the built-in ones and mcp__a__z", names)
	}
	if err := setMCPTools(reg, []tool.Tool{fakeMCP("read_file")}); err == nil {
		t.Error("an MCP tool named like a built-in one was taken")
	}
}

type fakeMCP string

func (f fakeMCP) Name() string         { return string(f) }
func (f fakeMCP) Description() string  { return "" }
func (f fakeMCP) Schema() *tool.Schema { return &tool.Schema{Type: "object"} }
func (f fakeMCP) Run(context.Context, *tool.Env, json.RawMessage) (tool.Result, error) {
	return tool.Result{}, nil
}
func (f fakeMCP) Effects(json.RawMessage) (tool.Effects, error) { return tool.Effects{}, nil }

// TestStdioServersRefusedWithoutASandbox: where the host cannot sandbox,
// a task with a stdio MCP server is not assembled: the error names the
// server and says why, and the server never ran.
func TestStdioServersRefusedWithoutASandbox(t *testing.T) {
	old := sandboxCheck
	sandboxCheck = func() sandbox.Report {
		return sandbox.Report{Missing: []string{"user namespaces are disabled (test)"}}
	}
	defer func() { sandboxCheck = old }()
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	marker := filepath.Join(t.TempDir(), "ran")
	cfg, err := mcpclient.Parse([]byte(`{"mcpServers": {"local": {"command": "sh", "args": ["-c", "touch `+marker+`"]}}}`), true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), Options{Tenant: "tn_1", TaskID: "t_1", Model: nopModel{}, Workspace: ws, MCP: cfg})
	if err == nil {
		t.Fatal("a stdio server was started without a sandbox")
	}
	if msg := bulwark.ErrorMessage(err); !strings.Contains(msg, "local") || !strings.Contains(msg, "user namespaces are disabled (test)") {
		t.Errorf("error %q, want the server's name and the sandbox's problem", msg)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the server ran")
	}
}

// TestMCPToolsInTheTask: with the sandbox, a task's stdio server (the
// reference server-everything) runs sandboxed and its tools are the
// task's, named mcp__SERVER__TOOL; Close ends it.
func TestMCPToolsInTheTask(t *testing.T) {
	needSandboxTests(t)
	node, bin := mcptest.Node(t), mcptest.Bin(t, "mcp-server-everything")
	doc, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{"everything": map[string]any{
		"command": node, "args": []string{bin}, "env": map[string]string{"GREETING": "{{secret:GREETING}}"},
		"readOnlyPaths": []string{mcptest.Dir(t)},
	}}})
	cfg, err := mcpclient.Parse(doc, true)
	if err != nil {
		t.Fatal(err)
	}
	e, ws := newEnv(t, Options{MCP: cfg, Secrets: []bulwark.Secret{{Name: "GREETING", Value: "hello-secret-5e4d"}}})
	if !slices.Contains(e.Tools.Names(), "mcp__everything__get-env") {
		t.Fatalf("tools %q lack mcp__everything__get-env", e.Tools.Names())
	}
	res, err := e.Tools.Call(context.Background(), &tool.Env{Workspace: ws}, "mcp__everything__get-env", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	// The server got the value; what it says back shows the placeholder.
	if !res.Untrusted || !strings.Contains(res.Output, `"GREETING"`) || strings.Contains(res.Output, "hello-secret-5e4d") {
		t.Errorf("get-env = %+v, want untrusted output with the configured env, its secret masked", res)
	}
	if strings.Contains(res.Output, "BULWARK_") || strings.Contains(res.Output, "GOPATH") {
		t.Errorf("the server sees the host's environment:\n%s", res.Output)
	}
	if got := e.Mask("x hello-secret-5e4d"); strings.Contains(got, "hello-secret-5e4d") {
		t.Error("the task's mask leaves the secret put in the server's env")
	}
	if e.Notifications == nil {
		t.Error("no notifications for a task with MCP servers")
	}
}

func needSandboxTests(t *testing.T) {
	t.Helper()
	testfamily.Sandbox.Require(t)
}

// TestTenantServerCommandsFollowTheAllowlist: a tenant's stdio server may
// only run a command the task's commands may run; an operator's may run
// what its config says.
func TestTenantServerCommandsFollowTheAllowlist(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	m := &mcpProcs{trusted: map[string]bool{"operator": true}, allowExec: []string{"python3", "sh"}}
	if err := m.check("tenant", sh); err != nil {
		t.Errorf("a tenant's sh (allowed): %v", err)
	}
	perl := "/usr/bin/perl"
	if err := m.check("tenant", perl); bulwark.ErrorKind(err) != bulwark.PermissionDenied || !strings.Contains(bulwark.ErrorMessage(err), "tenant") {
		t.Errorf("a tenant's perl (not allowed): %v, want a refusal naming the server", err)
	}
	if err := m.check("operator", perl); err != nil {
		t.Errorf("an operator's perl: %v", err)
	}
}

// TestBoundSecretsKeepTheirHostsInMCPConfigs: a secret bound to hosts goes
// in an HTTP server's header only over HTTPS to those hosts; in a stdio
// server's env it is a stand-in token that only the egress proxy turns
// into the value, for those hosts; an unbound secret is left to the
// config; the shared config is not changed.
func TestBoundSecretsKeepTheirHostsInMCPConfigs(t *testing.T) {
	ts, err := newTaskSecrets([]bulwark.Secret{
		{Name: "TOKEN", Value: "tok-bound-77a1", Hosts: []string{"api.example.com"}},
		{Name: "FREE", Value: "free-value-2b"},
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	header := map[string]string{"Authorization": "Bearer {{secret:TOKEN}}"}
	for url, ok := range map[string]bool{
		"https://api.example.com/mcp":       true,
		"https://API.example.com/mcp":       true,
		"http://api.example.com/mcp":        false,
		"https://evil.example.net/mcp":      false,
		"https://api.example.com.evil.net/": false,
	} {
		_, _, err := bindMCPSecrets(mcpclient.Config{Servers: []mcpclient.Server{{Name: "web", URL: url, Headers: header}}}, ts)
		if ok != (err == nil) {
			t.Errorf("%s: %v, want ok=%v", url, err, ok)
		}
		if err != nil && (!strings.Contains(bulwark.ErrorMessage(err), "web") || !strings.Contains(bulwark.ErrorMessage(err), "TOKEN")) {
			t.Errorf("%s: %q does not name the server and the secret", url, bulwark.ErrorMessage(err))
		}
	}
	env := map[string]string{"GH": "x-{{secret:TOKEN}}", "OTHER": "{{secret:FREE}}", "PLAIN": "p"}
	cfg := mcpclient.Config{Servers: []mcpclient.Server{{Name: "local", Command: "node", Env: env}}}
	out, ic, err := bindMCPSecrets(cfg, ts)
	if err != nil {
		t.Fatal(err)
	}
	got := out.Servers[0].Env
	if strings.Contains(got["GH"], "tok-bound-77a1") || strings.Contains(got["GH"], "{{secret:") || !strings.HasPrefix(got["GH"], "x-bulwark-secret-TOKEN-") {
		t.Errorf("env GH = %q, want a stand-in token", got["GH"])
	}
	if got["OTHER"] != "{{secret:FREE}}" || got["PLAIN"] != "p" {
		t.Errorf("env = %v, want the unbound secret and plain values as configured", got)
	}
	if env["GH"] != "x-{{secret:TOKEN}}" {
		t.Error("the shared config was changed")
	}
	if ic == nil || len(ic.Secrets) != 1 || ic.Secrets[0].Placeholder != strings.TrimPrefix(got["GH"], "x-") ||
		ic.Secrets[0].Value != "tok-bound-77a1" || !ic.Secrets[0].Hosts.Allows("api.example.com") {
		t.Errorf("intercept %+v, want the token for the value, to the secret's hosts", ic)
	}
}
