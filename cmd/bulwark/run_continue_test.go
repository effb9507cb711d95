package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const twoTurnScript = `{"tool_calls": [{"name": "write_file", "arguments": {"path": "a.txt", "content": "one"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "first"}}]}
{"tool_calls": [{"name": "read_file", "arguments": {"path": "a.txt"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "second"}}]}
`

// lastEvent reads the JSON events of `run --json` and returns the task id
// and the last event.
func lastEvent(t *testing.T, out string) (id string, last map[string]any) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not a JSON event: %q", l)
		}
		if s, _ := e["task_id"].(string); s != "" {
			id = s
		}
		last = e
	}
	return id, last
}

// TestRunContinue continues a local task from the terminal: the replay
// plays on from the next lines of the script, in the same workspace.
func TestRunContinue(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "script.jsonl")
	if err := os.WriteFile(script, []byte(twoTurnScript), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	r := runBulwark(t, nil, "run", "--json", "--data", data, "--model", "replay:"+script, "write a")
	id, last := lastEvent(t, r.stdout)
	if r.code != 0 || last["text"] != "first" {
		t.Fatalf("first turn: exit %d, last %v\n%s", r.code, last, r.stderr)
	}
	// The model is the task's unless given.
	r = runBulwark(t, nil, "run", "--json", "--data", data, "--continue", id, "now read it")
	_, last = lastEvent(t, r.stdout)
	if r.code != 0 || last["text"] != "second" || last["type"] != "task_finished" {
		t.Fatalf("second turn: exit %d, last %v\n%s", r.code, last, r.stderr)
	}
	if !strings.Contains(r.stdout, `"tool":"read_file"`) || strings.Contains(r.stdout, `"is_error":true`) {
		t.Errorf("the second turn could not read the first turn's file:\n%s", r.stdout)
	}
	r = runBulwark(t, nil, "run", "--data", data, "--continue", "t_nosuchtask", "hello")
	if r.code != 1 || !strings.Contains(r.stderr, "no task") {
		t.Errorf("--continue of an unknown task: exit %d, %q; want 1 and no task", r.code, r.stderr)
	}
}

func TestRunContinueShowsTheTurn(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "script.jsonl")
	if err := os.WriteFile(script, []byte(twoTurnScript), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	r := runBulwark(t, nil, "run", "--json", "--data", data, "--model", "replay:"+script, "write a")
	id, _ := lastEvent(t, r.stdout)
	r = runBulwark(t, nil, "run", "--data", data, "--continue", id, "now read it")
	if r.code != 0 || !strings.Contains(r.stdout, "turn 2\n» now read it\n") || !strings.Contains(r.stdout, "second") {
		t.Errorf("the continued run shows:\n%s\n%s", r.stdout, r.stderr)
	}
	// Bad limits are bad usage, as for a new task.
	r = runBulwark(t, nil, "run", "--data", data, "--max-steps", "0", "--continue", id, "x")
	if r.code != 2 {
		t.Errorf("--max-steps 0 with --continue: exit %d, want 2", r.code)
	}
}
