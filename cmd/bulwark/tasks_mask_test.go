package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// TestTasksShownMaskASecretSetLater: what a task stored before a value
// became a secret (its input, answer and steps, a schedule's input) is
// masked by every terminal view of the data folder once the value is
// registered, as the server's routes mask it (server/shown.go); and a
// 'tasks logs --follow' masks a secret set in another process from its
// next batch of steps.
func TestTasksShownMaskASecretSetLater(t *testing.T) {
	data, _ := ranTask(t)
	ctx := context.Background()
	db, tenant := openTestStore(t, data)
	const value = "plain-words-later-a-secret-4711" // no key pattern: only its registration masks it
	task, err := db.CreateTask(ctx, tenant, bulwark.Task{Input: "use " + value + " please", Model: "replay:x"})
	if err != nil {
		t.Fatal(err)
	}
	appendEvent := eventAppender(t, db, tenant, task.ID)
	for i, e := range []bulwark.Event{
		{Type: bulwark.EventTaskStarted, Text: "use " + value + " please"},
		{Step: 1, Type: bulwark.EventToolCall, Tool: "run_shell", CallID: "c1", Args: []byte(`{"command":"echo ` + value + `"}`)},
		{Step: 1, Type: bulwark.EventToolResult, Tool: "run_shell", CallID: "c1", Text: value + "\n"},
		{Step: 1, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "the key is " + value},
	} {
		e.Seq = int64(i + 1)
		appendEvent(e)
	}
	if _, err := db.CreateSchedule(ctx, tenant, bulwark.Schedule{Cron: "0 * * * *", Timezone: "UTC", Input: "daily " + value, NextRun: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	views := [][]string{
		{"tasks", "list"}, {"tasks", "list", "--json"},
		{"tasks", "show", task.ID}, {"tasks", "show", "--json", task.ID},
		{"tasks", "logs", task.ID}, {"tasks", "logs", "--full", task.ID}, {"tasks", "logs", "--json", task.ID},
		{"schedules", "list"}, {"schedules", "list", "--json"},
	}
	run := func(args []string) string {
		t.Helper()
		r := runBulwark(t, nil, append(args, "--data", data)...)
		if r.code != 0 {
			t.Fatalf("bulwark %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
		}
		return r.stdout
	}
	// Before it is a secret, the value shows (the views do show it).
	for _, args := range views {
		if out := run(args); !strings.Contains(out, value) {
			t.Fatalf("bulwark %s does not show the value before it is a secret:\n%s", strings.Join(args, " "), out)
		}
	}
	if r := runBulwarkIn(t, nil, value, "secrets", "set", "--data", data, "LATER"); r.code != 0 {
		t.Fatalf("secrets set: exit %d\n%s", r.code, r.stderr)
	}
	for _, args := range views {
		out := run(args)
		if strings.Contains(out, value) {
			t.Errorf("bulwark %s shows a secret's value registered after it was stored:\n%s", strings.Join(args, " "), out)
		} else if !strings.Contains(out, "[REDACTED:LATER]") {
			t.Errorf("bulwark %s: the value is gone but not masked by name:\n%s", strings.Join(args, " "), out)
		}
	}

	// A follow masks a secret set while it follows.
	other, err := db.CreateTask(ctx, tenant, bulwark.Task{Input: "follow me", Model: "replay:x"})
	if err != nil {
		t.Fatal(err)
	}
	appendEvent = eventAppender(t, db, tenant, other.ID)
	appendEvent(bulwark.Event{Seq: 1, Type: bulwark.EventTaskStarted, Text: "follow me"})
	cmd := bulwarkCmd(t, nil, "tasks", "logs", "--follow", "--full", other.ID, "--data", data)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	waitFor(t, &out, "» follow me")
	const second = "plain-words-set-while-following-0815"
	if r := runBulwarkIn(t, nil, second, "secrets", "set", "--data", data, "DURING"); r.code != 0 {
		t.Fatalf("secrets set: exit %d\n%s", r.code, r.stderr)
	}
	appendEvent(bulwark.Event{Seq: 2, Step: 1, Type: bulwark.EventModelText, Text: "found " + second + " in a file"})
	appendEvent(bulwark.Event{Seq: 3, Step: 1, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "done"})
	waitFor(t, &out, "following the conversation")
	if s := out.String(); strings.Contains(s, second) || !strings.Contains(s, "found [REDACTED:DURING] in a file") {
		t.Errorf("a follow shows a secret set while it followed, or not masked by name:\n%s", s)
	}
}
