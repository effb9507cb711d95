package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// ranTask runs the example task in a new data folder and returns the
// folder and the task's ID.
func ranTask(t *testing.T) (data, id string) {
	t.Helper()
	data = t.TempDir()
	r := runBulwark(t, nil, "run", "--data", data, "--model", "replay:"+example(t), "Write a greeting program")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if v, ok := strings.CutPrefix(line, "task "); ok {
			return data, v
		}
	}
	t.Fatalf("run printed no task ID:\n%s", r.stdout)
	return "", ""
}

// openTestStore opens the store of the data folder a test binary wrote,
// in this process, as a second process on the same folder.
func openTestStore(t *testing.T, data string) (store, bulwark.TenantID) {
	t.Helper()
	db, tenant, _, err := openLocalStore(context.Background(), storeFlags{data: data}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, tenant.ID
}

func TestTasksOfARun(t *testing.T) {
	data, id := ranTask(t)
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"list"}, []string{id, "succeeded", "Write a greeting program"}},
		{[]string{"list", "--status", "succeeded,failed"}, []string{id}},
		{[]string{"list", "--status", "running"}, []string{"no tasks"}},
		{[]string{"show", id}, []string{"status   succeeded", "tokens", "time", "answer:", "I wrote greet.py"}},
		{[]string{"logs", id}, []string{"» Write a greeting program", "→ write_file", "✔ done", "tasks logs --full " + id, "[untrusted: read_file: greet.py]"}},
		{[]string{"logs", "--full", id}, []string{`print(count_words("the quick brown fox"), "words")`}},
	}
	for _, c := range cases {
		args := append([]string{"tasks"}, c.args...)
		r := runBulwark(t, nil, append(args, "--data", data)...)
		if r.code != 0 {
			t.Errorf("bulwark %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
			continue
		}
		for _, want := range c.want {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("bulwark %s: stdout lacks %q:\n%s", strings.Join(args, " "), want, r.stdout)
			}
		}
		if strings.Contains(r.stdout, "<<untrusted") || strings.Contains(r.stdout, "<</untrusted") {
			t.Errorf("bulwark %s shows the model's untrusted markers:\n%s", strings.Join(args, " "), r.stdout)
		}
	}
	// --full shows what the short view cuts.
	if r := runBulwark(t, nil, "tasks", "logs", id, "--data", data); strings.Contains(r.stdout, `"words")`) {
		t.Errorf("tasks logs without --full shows the whole file:\n%s", r.stdout)
	}

	r := runBulwark(t, nil, "tasks", "list", "--json", "--data", data)
	var got bulwark.Task
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || got.ID != id || got.Status != bulwark.TaskSucceeded {
		t.Errorf("tasks list --json = %q (%v), want the task as JSON", r.stdout, err)
	}
	r = runBulwark(t, nil, "tasks", "show", "--json", id, "--data", data)
	var sum struct {
		Usage bulwark.Usage `json:"usage"`
		Steps int           `json:"steps"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum.Usage.Tokens() == 0 || sum.Steps == 0 {
		t.Errorf("tasks show --json = %q (%v), want usage and steps", r.stdout, err)
	}

	r = runBulwark(t, nil, "tasks", "show", "t_0000000000000000", "--data", data)
	if r.code != exitFailed || !strings.Contains(r.stderr, "no task") {
		t.Errorf("tasks show of an unknown task: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runBulwark(t, nil, "tasks", "list", "--tenant", "nobody", "--data", data)
	if r.code == 0 || !strings.Contains(r.stderr, `no tenant is named "nobody"`) {
		t.Errorf("tasks list --tenant nobody: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestTasksFiles(t *testing.T) {
	data, id := ranTask(t)
	out := filepath.Join(t.TempDir(), "out")
	r := runBulwark(t, nil, "tasks", "files", id, "--out", out, "--data", data)
	if r.code != 0 {
		t.Fatalf("tasks files: exit %d\n%s", r.code, r.stderr)
	}
	for _, name := range []string{"greet.py", "README.md"} {
		want, err := os.ReadFile(filepath.Join(data, "workspaces", id, name))
		if err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(filepath.Join(out, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("tasks files wrote %s = %q, %v; want the workspace's copy", name, got, err)
		}
	}

	// Files sealed into the store (as a server keeps those of stopped
	// tasks) are written out too.
	db, tenant := openTestStore(t, data)
	sealed, err := db.CreateTask(context.Background(), tenant, bulwark.Task{Input: "sealed", Model: "replay:x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.PutArtifact(context.Background(), tenant, bulwark.Artifact{TaskID: sealed.ID, Path: "docs/notes.txt"}, []byte("kept\n")); err != nil {
		t.Fatal(err)
	}
	// A name the agent chose is written as it is, and shown with its
	// invisible characters spelled out: a right-to-left override does not
	// show "report\u202efdp.exe" as "reportexe.pdf". (Workspaces refuse
	// control characters in names.)
	const hostile = "report\u202efdp\u200b.exe"
	if _, err := db.PutArtifact(context.Background(), tenant, bulwark.Artifact{TaskID: sealed.ID, Path: hostile}, []byte("x")); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(t.TempDir(), "out2")
	r = runBulwark(t, nil, "tasks", "files", sealed.ID, "--out", out2, "--data", data)
	if got, err := os.ReadFile(filepath.Join(out2, "docs", "notes.txt")); r.code != 0 || err != nil || string(got) != "kept\n" {
		t.Errorf("tasks files of a sealed task: exit %d (%s), file %q, %v", r.code, r.stderr, got, err)
	}
	if got, err := os.ReadFile(filepath.Join(out2, hostile)); err != nil || string(got) != "x" {
		t.Errorf("tasks files wrote %+q = %q, %v; want it under its name", hostile, got, err)
	}
	if want := filepath.Join(out2, `report\u202efdp\u200b.exe`) + "\n"; !strings.Contains(r.stdout, want) || strings.ContainsAny(r.stdout, "\u202e\u200b") {
		t.Errorf("tasks files printed %+q, want the line %+q", r.stdout, want)
	}
}

func TestTasksCancel(t *testing.T) {
	data, id := ranTask(t)
	ctx := context.Background()
	db, tenant := openTestStore(t, data)

	r := runBulwark(t, nil, "tasks", "cancel", id, "--data", data)
	if r.code != exitFailed || !strings.Contains(r.stderr, "already ended (succeeded)") {
		t.Errorf("cancel of a finished task: exit %d, stderr %q", r.code, r.stderr)
	}

	// A task stored as running that no process runs (no server on the
	// folder, no run holding it) is ended here.
	running, err := db.CreateTask(ctx, tenant, bulwark.Task{Input: "long", Model: "replay:x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvent(ctx, tenant, bulwark.Event{Seq: 1, TaskID: running.ID, Type: bulwark.EventTaskStarted, Text: "long"}); err != nil {
		t.Fatal(err)
	}
	r = runBulwark(t, nil, "tasks", "cancel", running.ID, "--data", data)
	if r.code != 0 || !strings.Contains(r.stdout, "canceled") {
		t.Errorf("cancel of a task no process runs: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got, _ := db.Task(ctx, tenant, running.ID); got.Status != bulwark.TaskCanceled {
		t.Errorf("after cancel the orphaned task is %s, want canceled", got.Status)
	}

	// An interrupted one, which nothing runs, is ended here.
	interrupted, err := db.CreateTask(ctx, tenant, bulwark.Task{Input: "long", Model: "replay:x"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetTaskStatus(ctx, tenant, interrupted.ID, bulwark.TaskInterrupted); err != nil {
		t.Fatal(err)
	}
	r = runBulwark(t, nil, "tasks", "cancel", interrupted.ID, "--data", data)
	if r.code != 0 {
		t.Fatalf("cancel of an interrupted task: exit %d, stderr %q", r.code, r.stderr)
	}
	if got, _ := db.Task(ctx, tenant, interrupted.ID); got.Status != bulwark.TaskCanceled {
		t.Errorf("after cancel the task is %s, want canceled", got.Status)
	}
	// The cancel is in the tenant's audit chain, which still verifies.
	b, err := os.ReadFile(tenantAuditLog(t, data))
	if err != nil || !bytes.Contains(b, []byte(`"action":"task.cancel"`)) || !bytes.Contains(b, []byte(`"target":"`+running.ID+`"`)) {
		t.Errorf("the tenant's audit chain has no task.cancel record of %s (%v)", running.ID, err)
	}
	if r := runBulwark(t, nil, "audit", "verify", "--data", data); r.code != 0 {
		t.Errorf("audit verify after cancel: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestTasksLogsFollow follows a task that another process runs: the steps
// it stores appear as they come; when its turn ends logs says so and
// goes on with the next turn a message opens, until Ctrl-C.
// eventAppender returns a function that stores an event of the task id,
// as the runtime does (e.Seq given; its TaskID and Time set).
func eventAppender(t *testing.T, db store, tenant bulwark.TenantID, id string) func(bulwark.Event) {
	return func(e bulwark.Event) {
		t.Helper()
		e.TaskID, e.Time = id, time.Now()
		if err := db.AppendEvent(context.Background(), tenant, e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTasksLogsFollow(t *testing.T) {
	data, _ := ranTask(t)
	ctx := context.Background()
	db, tenant := openTestStore(t, data)
	task, err := db.CreateTask(ctx, tenant, bulwark.Task{Input: "follow me", Model: "replay:x"})
	if err != nil {
		t.Fatal(err)
	}
	appendEvent := eventAppender(t, db, tenant, task.ID)
	appendEvent(bulwark.Event{Seq: 1, Type: bulwark.EventTaskStarted, Text: "follow me"})

	cmd := bulwarkCmd(t, nil, "tasks", "logs", "--follow", task.ID, "--data", data)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	waitFor(t, &out, "» follow me")
	appendEvent(bulwark.Event{Seq: 2, Step: 1, Type: bulwark.EventModelText, Text: "first step"})
	waitFor(t, &out, "first step")
	appendEvent(bulwark.Event{Seq: 3, Step: 1, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "all done"})
	waitFor(t, &out, "all done")
	waitFor(t, &out, "following the conversation")
	// A message continues it: the new turn shows too.
	if _, err := db.ContinueTask(ctx, tenant, task.ID, nil); err != nil {
		t.Fatal(err)
	}
	appendEvent(bulwark.Event{Seq: 4, Step: 1, Type: bulwark.EventUserMessage, Text: "and one more thing"})
	appendEvent(bulwark.Event{Seq: 5, Step: 2, Type: bulwark.EventTaskStarted})
	appendEvent(bulwark.Event{Seq: 6, Step: 2, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "second answer"})
	waitFor(t, &out, "second answer")
	waitFor(t, &out, "» and one more thing")
	waitFor(t, &out, "second answer\n\n… following the conversation") // and after each turn
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tasks logs --follow after Ctrl-C: %v\n%s", err, out.String())
		}
	case <-time.After(10 * time.Second): // a hang guard
		cmd.Process.Kill()
		t.Fatalf("tasks logs --follow did not stop at Ctrl-C:\n%s", out.String())
	}
	if n := strings.Count(out.String(), "all done"); n != 1 {
		t.Errorf("the first turn's end is shown %d times, want once:\n%s", n, out.String())
	}
}

func waitFor(t *testing.T, out *syncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("waited for %q; output so far:\n%s", want, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// syncBuffer is a bytes.Buffer a process writes to while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestTaskSummaryOfAConversation: a task's time is the time its turns
// ran, not the hours a conversation waited between messages; its model,
// when it names none, reads as the default, and its turns are shown.
func TestTaskSummaryOfAConversation(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	events := []bulwark.Event{
		{Type: bulwark.EventTaskStarted, Time: t0, Step: 0},
		{Type: bulwark.EventTaskFinished, Time: t0.Add(2 * time.Second), Step: 2},
		{Type: bulwark.EventUserMessage, Time: t0.Add(3 * time.Hour), Step: 2},
		{Type: bulwark.EventTaskStarted, Time: t0.Add(3 * time.Hour), Step: 2},
		{Type: bulwark.EventTaskFinished, Time: t0.Add(3*time.Hour + 3*time.Second), Step: 3},
	}
	sum := summarize(bulwark.Task{Turns: 2}, events)
	if sum.Duration != 5*time.Second || sum.Steps != 3 {
		t.Errorf("summary = %v over %d steps, want 5s over 3", sum.Duration, sum.Steps)
	}
	if got := modelShown(""); got != "(default)" {
		t.Errorf("modelShown(\"\") = %q", got)
	}
	if got := turnsShown(2); got != " (2 turns)" {
		t.Errorf("turnsShown(2) = %q", got)
	}
}
