package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/mcpclient"
)

// TestServedTaskMasksASecretAddedWhileItRuns: a served task (prepareTask)
// masks a secret put into the store while it runs, as another node or
// `bulwark secrets set` puts it (not through this server), once its
// watcher has read the store's version again, in what its model is sent
// and what it shows (Setup.Mask) and in the process's log.
func TestServedTaskMasksASecretAddedWhileItRuns(t *testing.T) {
	const value = "added-while-running-4d9e2b"
	e := newKeysEnv(t)
	withEnv(t, map[string]string{"OPENAI_BASE_URL": e.srv.URL + "/v1", "BULWARK_SANDBOX": "off"})
	lim, err := readTenantLimits()
	if err != nil {
		t.Fatal(err)
	}
	setup, err := prepareTask(e.db, "", lim, false, nil, mcpclient.Config{}, nil, injectionSettings{})(context.Background(),
		bulwark.Task{ID: "t_watch", TenantID: string(e.own), Model: "openai:m"}, e.ws)
	if err != nil {
		t.Fatal(err)
	}
	defer setup.Close()
	if got := setup.Mask("x " + value); got != "x "+value {
		t.Fatalf("before the secret the task masks %q: the test would prove nothing", got)
	}
	if err := e.db.SetSecret(context.Background(), e.own, "LATER", value); err != nil {
		t.Fatal(err)
	}
	for range 1000 { // a hang guard, not a speed assertion
		if setup.Mask("x "+value) == "x [REDACTED:LATER]" && redactor.String(value) != value {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("10 s after the secret was added the running task masks %q, the log %q", setup.Mask("x "+value), redactor.String(value))
}

// TestRunMasksASecretSetWhileItRuns: `bulwark run` masks a secret that
// `bulwark secrets set` adds in another process while the task runs: once
// its watcher has seen the store's version move, a tool result holding the
// value reaches the model masked, and so do the later ones.
func TestRunMasksASecretSetWhileItRuns(t *testing.T) {
	const value = "set-mid-run-value-7c41e9"
	data := t.TempDir()
	base := []string{"BULWARK_DATA=" + data, "BULWARK_SANDBOX=off"}
	call := func(name string, args map[string]string) llmtest.ToolCall {
		b, _ := json.Marshal(args)
		return llmtest.ToolCall{Name: name, Arguments: b}
	}
	var once sync.Once
	srv := llmtest.NewServer(func(r *llmtest.Request) llmtest.Turn {
		var tools []string
		for _, m := range r.Messages {
			if m.Role == "tool" {
				tools = append(tools, m.Content)
			}
		}
		switch {
		case len(tools) == 0:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "note.txt", "content": value})}}
		case len(tools) == 1:
			once.Do(func() {
				cmd := bulwarkCmd(t, base, "secrets", "set", "LATER")
				cmd.Stdin = strings.NewReader(value + "\n")
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("secrets set: %v\n%s", err, out)
				}
			})
		case strings.Contains(tools[len(tools)-1], "[REDACTED:LATER]") || len(tools) > 40:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "done"})}}
		default:
			time.Sleep(250 * time.Millisecond) // reads again until the task masks it: a hang guard bounds it
		}
		// Another spelling each time: the same call repeated ends the task.
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("read_file", map[string]string{"path": strings.Repeat("./", len(tools)) + "note.txt"})}}
	})
	defer srv.Close()
	r := runBulwark(t, append(base, "OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL="+srv.URL+"/v1"),
		"run", "--json", "--approve=auto", "--max-steps", "60", "--model", "openai:m", "--workspace", filepath.Join(t.TempDir(), "ws"), "read the note")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	reqs := srv.Requests()
	var results []string
	for _, m := range reqs[len(reqs)-1].Messages {
		if m.Role == "tool" {
			results = append(results, m.Content)
		}
	}
	masked := slices.IndexFunc(results, func(s string) bool { return strings.Contains(s, "[REDACTED:LATER]") })
	if masked < 0 {
		t.Fatalf("after %d reads the model still got the value set while the task ran:\n%q", len(results), results)
	}
	for _, s := range results[masked:] {
		if strings.Contains(s, value) {
			t.Errorf("a read after the first masked one reached the model with the value: %q", s)
		}
	}
}
