package main

import (
	"bufio"
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// waitServed polls a served task until cond holds; it fails the test
// after a hang guard.
func waitServed(t *testing.T, srv *served, key, id string, cond func(crashTask) bool) crashTask {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second) // a hang guard, not a speed assertion
	for {
		st := srv.task(t, key, id)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s stayed %+v", id, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// acmeServe starts a server on a shared folder with the tenant acme and
// returns it, its API key and the folder's environment.
func acmeServe(t *testing.T) (srv *served, key string, data string, extra []string) {
	t.Helper()
	data, extra = sharedFolder(t)
	srv = startServe(t, extra, "--model", "openai:x")
	res := runBulwark(t, extra, "tenants", "create", "acme")
	if res.code != 0 {
		t.Fatalf("tenants create: %d %s", res.code, res.stderr)
	}
	return srv, strings.TrimSpace(res.stdout), data, extra
}

// TestTasksCancelOfAServedTask: `bulwark tasks cancel` stops a task that
// a `bulwark serve` on the same folder runs (through the store), and says
// so once the task has ended.
func TestTasksCancelOfAServedTask(t *testing.T) {
	srv, key, data, extra := acmeServe(t)
	if !servedNow(data) {
		t.Fatal("the folder is not marked as served while bulwark serve runs")
	}
	var task crashTask
	if code := srv.call(t, key, "POST", "/api/v1/tasks", `{"input":"long"}`, &task); code != 201 {
		t.Fatalf("POST task = %d", code)
	}
	waitServed(t, srv, key, task.ID, func(c crashTask) bool { return c.Status == "running" })
	res := runBulwark(t, extra, "tasks", "cancel", "--tenant", "acme", task.ID)
	if res.code != 0 || !strings.Contains(res.stdout, "task "+task.ID+" canceled") {
		t.Fatalf("tasks cancel of a served task: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if st := srv.task(t, key, task.ID); st.Status != "canceled" {
		t.Errorf("the served task is %s after tasks cancel, want canceled", st.Status)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	<-srv.done
	if servedNow(data) {
		t.Error("the folder is still marked as served after bulwark serve stopped")
	}
}

// TestMessageThroughTheStoreToAServedTask: a message sent from the
// terminal (`bulwark tasks message`, through the store) reaches a task
// that a `bulwark serve` runs: here it answers the task's question.
func TestMessageThroughTheStoreToAServedTask(t *testing.T) {
	srv, key, data, extra := acmeServe(t)
	var task crashTask
	if code := srv.call(t, key, "POST", "/api/v1/tasks", `{"input":"ask"}`, &task); code != 201 {
		t.Fatalf("POST task = %d", code)
	}
	db, _ := openTestStore(t, data)
	ctx := context.Background()
	acme, err := db.TenantByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second) // a hang guard
	for asked := false; !asked; {
		evs, err := db.Events(ctx, acme.ID, task.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			asked = asked || e.Type == bulwark.EventAskUser
		}
		if time.Now().After(deadline) {
			t.Fatal("the task never asked its question")
		}
		time.Sleep(50 * time.Millisecond)
	}
	res := runBulwark(t, extra, "tasks", "message", "--tenant", "acme", task.ID, "teal")
	if res.code != 0 || !strings.Contains(res.stdout, "message sent to task "+task.ID) {
		t.Fatalf("tasks message: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	st := waitServed(t, srv, key, task.ID, func(c crashTask) bool { return c.Status != "running" && c.Status != "queued" && c.Status != "waiting" })
	if st.Status != "succeeded" || !strings.Contains(st.Answer, "teal") {
		t.Errorf("the task ended %s with %q, want it to have heard the answer teal", st.Status, st.Answer)
	}
}

// TestServerCancelsACLITask: the API's cancel stops a task that `bulwark
// run` runs on the same folder: the request goes through the store, and
// the terminal's run ends canceled.
func TestServerCancelsACLITask(t *testing.T) {
	srv, key, _, extra := acmeServe(t)
	cli := bulwarkCmd(t, extra, "run", "--tenant", "acme", "--model", "openai:m", "long")
	stdout, err := cli.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Process.Kill() })
	ids := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := taskLine.FindStringSubmatch(sc.Text()); m != nil {
				ids <- m[1]
			}
		}
	}()
	var id string
	select {
	case id = <-ids:
	case <-time.After(60 * time.Second): // a hang guard
		t.Fatal("run never printed its task")
	}
	var v crashTask
	if code := srv.call(t, key, "POST", "/api/v1/tasks/"+id+"/cancel", "", &v); code != 202 {
		t.Fatalf("POST cancel of the CLI task = %d", code)
	}
	done := make(chan error, 1)
	go func() { done <- cli.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second): // a hang guard
		t.Fatal("the CLI's run did not stop after the API's cancel")
	}
	if st := srv.task(t, key, id); st.Status != "canceled" {
		t.Errorf("the CLI task is %s after the API's cancel, want canceled", st.Status)
	}
}

// TestTasksMessageRefusals: a message to a stopped task says how to
// continue it; to one that no process runs, what to do; neither is
// stored for no one to take.
func TestTasksMessageRefusals(t *testing.T) {
	data, id := ranTask(t)
	r := runBulwark(t, nil, "tasks", "message", "--data", data, id, "more please")
	if r.code != exitFailed || !strings.Contains(r.stderr, "bulwark run --continue "+id+" 'more please'") {
		t.Errorf("a message to a stopped task: exit %d, stderr %q", r.code, r.stderr)
	}
	db, tenant := openTestStore(t, data)
	ctx := context.Background()
	orphan, err := db.CreateTask(ctx, tenant, bulwark.Task{Input: "x", Model: "replay:x", Status: bulwark.TaskRunning})
	if err != nil {
		t.Fatal(err)
	}
	r = runBulwark(t, nil, "tasks", "message", "--data", data, orphan.ID, "hello")
	if r.code != exitFailed || !strings.Contains(r.stderr, "no process runs the task now") {
		t.Errorf("a message to a task no process runs: exit %d, stderr %q", r.code, r.stderr)
	}
	if got, _ := db.TakeControls(ctx, []bulwark.TaskRef{{Tenant: tenant, ID: id}, {Tenant: tenant, ID: orphan.ID}}); len(got) != 0 {
		t.Errorf("refused messages were stored: %+v", got)
	}
}

// TestTasksMessageAnswersACLIQuestion: a question a `bulwark run` asks in
// its terminal is answered by a message from another process (`tasks
// message`, or a server's message box), while the terminal stays open.
func TestTasksMessageAnswersACLIQuestion(t *testing.T) {
	_, extra := sharedFolder(t)
	cli := bulwarkCmd(t, extra, "run", "--model", "openai:m", "ask")
	stdin, err := cli.StdinPipe() // open, and nothing typed
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cli.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cli.Stderr = &stderr
	if err := cli.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Process.Kill() })
	var out syncBuffer
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			out.Write([]byte(sc.Text() + "\n"))
		}
	}()
	waitFor(t, &stderr, "which colour?")
	m := taskLine.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("run printed no task id:\n%s", out.String())
	}
	res := runBulwark(t, extra, "tasks", "message", m[1], "teal")
	if res.code != 0 {
		t.Fatalf("tasks message: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	done := make(chan error, 1)
	go func() { done <- cli.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v\n%s%s", err, out.String(), stderr.String())
		}
	case <-time.After(60 * time.Second): // a hang guard
		t.Fatalf("the run did not go on after the answer:\n%s%s", out.String(), stderr.String())
	}
	if !strings.Contains(out.String(), "heard: teal") {
		t.Errorf("the task did not take the message as its answer:\n%s", out.String())
	}
}
