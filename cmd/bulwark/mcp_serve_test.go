package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/internal/mcptest"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// inspector runs the official MCP inspector in CLI mode with args and
// returns its stdout, stderr and exit status.
func inspector(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	bin := mcptest.Bin(t, "mcp-inspector")
	home := t.TempDir()
	cmd := exec.Command(bin, append([]string{"--cli"}, args...)...)
	cmd.Dir = home
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "MCP_CATALOG_PATH=" + filepath.Join(home, "mcp.json")}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running the inspector: %v", err)
	}
	return out.String(), errb.String(), code
}

// inspectorJSON runs the inspector and decodes its JSON answer, failing
// the test when it fails.
func inspectorJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	inspectorAnswer(t, v, 0, args...)
}

// inspectorToolError runs a tools/call the tool answers with an error
// (the inspector then exits 5) and decodes the result.
func inspectorToolError(t *testing.T, v any, args ...string) {
	t.Helper()
	inspectorAnswer(t, v, 5, args...)
}

func inspectorAnswer(t *testing.T, v any, want int, args ...string) {
	t.Helper()
	out, errs, code := inspector(t, args...)
	if code != want {
		t.Fatalf("inspector %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, want, out, errs)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("inspector %v: %v in\n%s", args, err, out)
	}
}

// toolResult is a tools/call answer as the inspector prints it.
type toolResult struct {
	Content []struct {
		Text string `json:"text"`
	} `json:"content"`
	Structured struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Answer string `json:"answer"`
	} `json:"structuredContent"`
	IsError bool `json:"isError"`
}

type toolList struct {
	Tools []struct {
		Name string `json:"name"`
	} `json:"tools"`
}

func (l toolList) has(names ...string) bool {
	for _, n := range names {
		found := false
		for _, tl := range l.Tools {
			found = found || tl.Name == n
		}
		if !found {
			return false
		}
	}
	return true
}

var bulwarkTools = []string{"create_task", "get_task", "list_tasks", "cancel_task", "send_message", "list_approvals", "decide_approval"}

// TestMCPInspectorOverHTTP: the official inspector lists and calls the
// tools of a real `bulwark serve` at /mcp with an API key; a task created
// with wait runs to its scripted answer; without a key, or with another
// tenant's, it gets nothing.
func TestMCPInspectorOverHTTP(t *testing.T) {
	mcptest.Bin(t, "mcp-inspector")
	data := t.TempDir()
	if _, err := secret.CreateKeyFile(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	extra := []string{"BULWARK_DATA=" + data}
	srv := startServe(t, extra, "--model", "replay:"+example(t))
	key := func(name string) string {
		res := runBulwark(t, extra, "tenants", "create", name)
		if res.code != 0 {
			t.Fatalf("tenants create %s: %d %s", name, res.code, res.stderr)
		}
		return strings.TrimSpace(res.stdout)
	}
	keyA, keyB := key("acme"), key("other")
	url := srv.base + "/mcp"
	auth := func(k string) []string {
		return []string{"--transport", "http", "--header", "Authorization: Bearer " + k}
	}

	var list toolList
	inspectorJSON(t, &list, append([]string{url, "--method", "tools/list"}, auth(keyA)...)...)
	if !list.has(bulwarkTools...) {
		t.Errorf("tools/list over HTTP = %+v, want %v", list, bulwarkTools)
	}

	var created toolResult
	inspectorJSON(t, &created, append([]string{url, "--method", "tools/call", "--tool-name", "create_task",
		"--tool-arg", "input=Write a greeting program", "wait=true"}, auth(keyA)...)...)
	if created.IsError || created.Structured.Status != "succeeded" || !strings.Contains(created.Structured.Answer, "greet.py") {
		t.Fatalf("create_task with wait over HTTP = %+v, want succeeded with the scripted answer", created)
	}
	id := created.Structured.ID

	var got toolResult
	inspectorJSON(t, &got, append([]string{url, "--method", "tools/call", "--tool-name", "get_task", "--tool-arg", "id=" + id}, auth(keyA)...)...)
	if got.Structured.ID != id || got.Structured.Status != "succeeded" {
		t.Errorf("get_task as the owner's tenant = %+v", got)
	}
	var transcript struct {
		Contents []struct{ Text string } `json:"contents"`
	}
	inspectorJSON(t, &transcript, append([]string{url, "--method", "resources/read", "--uri", "bulwark://tasks/" + id + "/transcript"}, auth(keyA)...)...)
	if len(transcript.Contents) != 1 || !strings.Contains(transcript.Contents[0].Text, "task_finished") {
		t.Errorf("the transcript = %+v, want the task's events", transcript)
	}

	// Another tenant's key: not found, for reading and for canceling.
	for _, tool := range []string{"get_task", "cancel_task"} {
		var other toolResult
		inspectorToolError(t, &other, append([]string{url, "--method", "tools/call", "--tool-name", tool, "--tool-arg", "id=" + id}, auth(keyB)...)...)
		if !other.IsError || len(other.Content) == 0 || !strings.HasPrefix(other.Content[0].Text, "not found") ||
			strings.Contains(other.Content[0].Text, "greet") {
			t.Errorf("%s of acme's task with other's key = %+v, want not found", tool, other)
		}
	}

	// No key: the inspector gets nothing, and the endpoint answers 401.
	out, _, code := inspector(t, url, "--transport", "http", "--method", "tools/list")
	if code == 0 || strings.Contains(out, "create_task") {
		t.Errorf("tools/list without a key: exit %d, %s; want a failure", code, out)
	}
	r, _ := http.NewRequest("POST", url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /mcp without a key = %d, want 401", resp.StatusCode)
	}
}

// TestMCPInspectorOverStdio: the inspector starts `bulwark mcp serve` on
// a data folder, lists its tools and runs a task to its scripted answer,
// which is then the local tenant's task, as 'bulwark tasks' shows.
func TestMCPInspectorOverStdio(t *testing.T) {
	mcptest.Bin(t, "mcp-inspector")
	data := t.TempDir()
	if _, err := secret.CreateKeyFile(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	server := []string{binary, "mcp", "serve", "--data", data, "--model", "replay:" + example(t)}
	var list toolList
	inspectorJSON(t, &list, append(server, "--method", "tools/list")...)
	if !list.has(bulwarkTools...) {
		t.Errorf("tools/list over stdio = %+v, want %v", list, bulwarkTools)
	}
	var created toolResult
	inspectorJSON(t, &created, append(server, "--method", "tools/call", "--tool-name", "create_task",
		"--tool-arg", "input=Write a greeting program", "wait=true")...)
	if created.IsError || created.Structured.Status != "succeeded" || !strings.Contains(created.Structured.Answer, "greet.py") {
		t.Fatalf("create_task with wait over stdio = %+v, want succeeded with the scripted answer", created)
	}
	res := runBulwark(t, nil, "tasks", "show", created.Structured.ID, "--data", data)
	if res.code != 0 || !strings.Contains(res.stdout, "succeeded") {
		t.Errorf("tasks show of the MCP task: %d %s %s", res.code, res.stdout, res.stderr)
	}
	var missing toolResult
	inspectorToolError(t, &missing, append(server, "--method", "tools/call", "--tool-name", "get_task", "--tool-arg", "id=t_0000000000000000")...)
	if !missing.IsError || len(missing.Content) == 0 || !strings.HasPrefix(missing.Content[0].Text, "not found") {
		t.Errorf("get_task of no task over stdio = %+v, want not found", missing)
	}
}

// TestMCPServeBesideServe: `bulwark mcp serve` refuses a data folder a
// `bulwark serve` runs on (two runtimes would take each other's tasks),
// saying to use the server's /mcp.
func TestMCPServeBesideServe(t *testing.T) {
	data := t.TempDir()
	if _, err := secret.CreateKeyFile(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	extra := []string{"BULWARK_DATA=" + data}
	startServe(t, extra, "--model", "replay:"+example(t))
	res := runBulwark(t, extra, "mcp", "serve")
	if res.code == 0 || !strings.Contains(res.stderr, "/mcp") {
		t.Errorf("mcp serve beside serve: exit %d, stderr %q; want a refusal naming /mcp", res.code, res.stderr)
	}
}

// TestMCPServeAsksAndHears: over stdio, with the provider key of its
// environment (the local tenant is the operator's, as for bulwark run),
// a task that asks a question makes create_task with wait answer with the
// question; send_message answers it, and the task finishes with what it
// heard.
func TestMCPServeAsksAndHears(t *testing.T) {
	model := llmtest.NewServer(crashModel)
	t.Cleanup(model.Close)
	data := t.TempDir()
	if _, err := secret.CreateKeyFile(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	cmd := bulwarkCmd(t, []string{"BULWARK_DATA=" + data, "OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL=" + model.URL + "/v1"},
		"mcp", "serve", "--model", "openai:test")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	ctx := context.Background()
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("connect to bulwark mcp serve: %v\n%s", err, stderr.String())
	}
	defer cs.Close()
	callJSON := func(name string, args map[string]any, v any) {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		if err != nil || res.IsError {
			t.Fatalf("%s: %v %+v\n%s", name, err, res, stderr.String())
		}
		b, _ := json.Marshal(res.StructuredContent)
		json.Unmarshal(b, v)
	}
	var asked struct{ ID, Status, Question, Note string }
	callJSON("create_task", map[string]any{"input": "ask", "wait": true}, &asked)
	if asked.Status == "succeeded" || asked.Question != "which colour?" || asked.Note == "" {
		t.Fatalf("create_task wait on a question = %+v, want waiting with the question", asked)
	}
	var sent struct{ Status string }
	callJSON("send_message", map[string]any{"id": asked.ID, "text": "blue"}, &sent)
	if sent.Status != "delivered" {
		t.Errorf("send_message = %+v, want delivered", sent)
	}
	deadline := time.Now().Add(30 * time.Second)
	var got struct{ Status, Answer string }
	for time.Now().Before(deadline) {
		callJSON("get_task", map[string]any{"id": asked.ID}, &got)
		if got.Status == "succeeded" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got.Status != "succeeded" || got.Answer != "heard: blue" {
		t.Errorf("the task after the answer = %+v, want succeeded with \"heard: blue\"", got)
	}
}
