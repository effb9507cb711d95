package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// resumeScript writes files over several steps, runs a command that writes
// s.txt and then sleeps (the first kill comes while it sleeps), asks a
// person (the second kill comes while it waits), then writes and reads
// more and finishes.
const resumeScript = `{"content": "first", "tool_calls": [{"name": "write_file", "arguments": {"path": "a.txt", "content": "A1"}}]}
{"tool_calls": [{"name": "write_file", "arguments": {"path": "b.txt", "content": "B1"}}]}
{"tool_calls": [{"name": "run_shell", "arguments": {"command": "echo S > s.txt && sleep 20"}}]}
{"tool_calls": [{"name": "ask_user", "arguments": {"question": "go on?"}}]}
{"tool_calls": [{"name": "write_file", "arguments": {"path": "c.txt", "content": "C1"}}]}
{"tool_calls": [{"name": "read_file", "arguments": {"path": "a.txt"}}]}
{"tool_calls": [{"name": "finish", "arguments": {"answer": "done"}}]}
`

// TestServeResumesAfterKill kills a real `bulwark serve` (SIGKILL) twice
// in the middle of a task, once while a command runs and once while the
// task waits for a person, and starts it again each time: the task
// resumes by itself, no tool call runs twice (the cut-off command is
// reported to the model as interrupted, and what it wrote is undone with
// the workspace put back as the last committed step left it), the
// question is asked again, the replay script goes on where it stopped,
// and the task succeeds with its files intact, a file uploaded while it
// waited included.
func TestServeResumesAfterKill(t *testing.T) {
	data := t.TempDir()
	if _, err := secret.CreateKeyFile(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), "script.jsonl")
	if err := os.WriteFile(script, []byte(resumeScript), 0o600); err != nil {
		t.Fatal(err)
	}
	extra := []string{"BULWARK_DATA=" + data, "BULWARK_RATE_LIMIT=off", "BULWARK_SANDBOX=off", "BULWARK_MAX_EXECUTION_TIME=60s"}
	args := []string{"--model", "replay:" + script}
	srv := startServe(t, extra, args...)
	res := runBulwark(t, extra, "tenants", "create", "resume")
	if res.code != 0 {
		t.Fatalf("tenants create: %d %s", res.code, res.stderr)
	}
	key := strings.TrimSpace(res.stdout)
	var task crashTask
	if code := srv.call(t, key, "POST", "/api/v1/tasks", `{"input":"write the files"}`, &task); code != 201 {
		t.Fatalf("POST task = %d", code)
	}
	id := task.ID
	events := func(s *served) []bulwark.Event {
		var out struct {
			Steps []bulwark.Event `json:"steps"`
		}
		if code := s.call(t, key, "GET", "/api/v1/tasks/"+id+"/steps?limit=1000", "", &out); code != 200 {
			t.Fatalf("GET steps = %d", code)
		}
		return out.Steps
	}
	waitEvents := func(s *served, what string, ok func([]bulwark.Event) bool) []bulwark.Event {
		t.Helper()
		for i := 0; ; i++ {
			evs := events(s)
			if ok(evs) {
				return evs
			}
			if i > 3000 { // a hang guard, not a speed assertion
				t.Fatalf("never %s; task %+v, events %+v\nserve log:\n%s", what, s.task(t, key, id), evs, s.log)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	count := func(evs []bulwark.Event, typ bulwark.EventType, callID string) int {
		n := 0
		for _, e := range evs {
			if e.Type == typ && (callID == "" || e.CallID == callID) {
				n++
			}
		}
		return n
	}
	kill := func(s *served) {
		s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}

	// First kill: while the command runs, after it wrote s.txt.
	waitEvents(srv, "ran the command", func(evs []bulwark.Event) bool { return count(evs, bulwark.EventToolCall, "call_3_1") == 1 })
	for i := 0; ; i++ {
		if left, _ := filepath.Glob(filepath.Join(data, "workspaces", "*", id, "s.txt")); len(left) == 1 {
			break
		}
		if i > 3000 {
			t.Fatal("the command never wrote s.txt")
		}
		time.Sleep(10 * time.Millisecond)
	}
	kill(srv)

	// The next start resumes the task by itself: the command is not run
	// again but reported interrupted, what it wrote is undone, and the
	// script goes on to its question.
	srv = startServe(t, extra, args...)
	evs := waitEvents(srv, "asked after the first restart", func(evs []bulwark.Event) bool { return count(evs, bulwark.EventAskUser, "") == 1 })
	for _, e := range evs {
		if e.Type == bulwark.EventToolResult && e.CallID == "call_3_1" &&
			(!e.IsError || !strings.Contains(e.Text, "interrupted by a restart and was not retried")) {
			t.Errorf("the cut-off command's result = %+v, want it reported interrupted", e)
		}
	}
	if n := count(evs, bulwark.EventToolResult, "call_3_1"); n != 1 {
		t.Errorf("the cut-off command has %d results, want 1", n)
	}
	if left, _ := filepath.Glob(filepath.Join(data, "workspaces", "*", id, "s.txt")); len(left) != 0 {
		t.Errorf("s.txt, written after the last committed step, is still in the workspace: %v", left)
	}

	// Second kill: while the task waits for a person, who has uploaded a
	// file meanwhile. It asks again, and keeps the upload.
	if code := srv.upload(t, key, id, "up.txt", "U"); code != 201 && code != 200 {
		t.Fatalf("upload = %d", code)
	}
	kill(srv)
	srv = startServe(t, extra, args...)
	waitEvents(srv, "asked again after the second restart", func(evs []bulwark.Event) bool { return count(evs, bulwark.EventAskUser, "") == 2 })
	answered := func(evs []bulwark.Event) bool {
		last := -1
		for i, e := range evs {
			if e.Type == bulwark.EventAskUser {
				last = i
			}
		}
		for _, e := range evs[last+1:] {
			if e.Type == bulwark.EventUserMessage {
				return true
			}
		}
		return false
	}
	for i := 0; !answered(events(srv)); i++ {
		// The question may be stored a moment before it waits for its
		// answer; an answer sent in between is read as a message, so send
		// again until it is taken as the answer.
		if i%100 == 0 {
			if code := srv.call(t, key, "POST", "/api/v1/tasks/"+id+"/messages", `{"text":"yes"}`, nil); code != 202 {
				t.Fatalf("POST the answer = %d", code)
			}
		}
		if i > 3000 {
			t.Fatalf("the answer was never taken: %+v", events(srv))
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := 0; ; i++ {
		st := srv.task(t, key, id)
		if st.Status == "succeeded" {
			if st.Answer != "done" {
				t.Errorf("the task answered %q, want done", st.Answer)
			}
			break
		}
		if st.Status == "failed" || st.Status == "canceled" || i > 3000 {
			t.Fatalf("the task is %s: %+v\nevents %+v\nserve log:\n%s", st.Status, st, events(srv), srv.log)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Every step exactly once: one tool_call and one result per call of
	// the script, three runs, and the script played on, never from the
	// start.
	evs = events(srv)
	for n := 1; n <= 7; n++ {
		id := "call_" + string(rune('0'+n)) + "_1"
		if c, r := count(evs, bulwark.EventToolCall, id), count(evs, bulwark.EventToolResult, id); c != 1 || r != 1 {
			t.Errorf("%s has %d tool_call and %d tool_result events, want 1 and 1", id, c, r)
		}
	}
	if n := count(evs, bulwark.EventToolCall, ""); n != 7 {
		t.Errorf("%d tool_call events in all, want 7", n)
	}
	if n := count(evs, bulwark.EventTaskStarted, ""); n != 3 {
		t.Errorf("%d task_started events, want 3 (the first run and two resumed ones)", n)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Seq <= evs[i-1].Seq {
			t.Fatalf("event %d has seq %d after %d: a seq repeated", i+1, evs[i].Seq, evs[i-1].Seq)
		}
	}
	for _, e := range evs {
		if e.Type == bulwark.EventToolResult && e.CallID == "call_6_1" && !strings.Contains(e.Text, "A1") {
			t.Errorf("read_file a.txt after the restarts = %q, want A1", e.Text)
		}
	}
	if n := count(evs, bulwark.EventModelText, ""); n != 1 {
		t.Errorf("%d model_text events, want 1: the script's first turn played again", n)
	}

	// Its files are intact, and s.txt is not among them.
	var files struct {
		Files []struct {
			Path string `json:"path"`
		} `json:"files"`
	}
	srv.call(t, key, "GET", "/api/v1/tasks/"+id+"/files", "", &files)
	var paths []string
	for _, f := range files.Files {
		paths = append(paths, f.Path)
	}
	if got := strings.Join(paths, " "); got != "a.txt b.txt c.txt up.txt" {
		t.Errorf("the task's files are %q, want a.txt b.txt c.txt up.txt", got)
	}
	for name, want := range map[string]string{"a.txt": "A1", "b.txt": "B1", "c.txt": "C1", "up.txt": "U"} {
		r, _ := http.NewRequest("GET", srv.base+"/api/v1/tasks/"+id+"/files/"+name, nil)
		r.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Errorf("%s = %q, want %q", name, body, want)
		}
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	if res := runBulwark(t, extra, "audit", "verify"); res.code != 0 {
		t.Errorf("audit verify after the kills: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}
