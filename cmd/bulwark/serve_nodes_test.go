package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// blockingModel answers its first request (a write_file call) only once
// released, after closing started; the next request finishes the task.
type blockingModel struct {
	started, release chan struct{}
	once, freed      sync.Once
	mu               sync.Mutex
	seen             []string // the text of every request's messages
}

// free lets the first request be answered.
func (m *blockingModel) free() { m.freed.Do(func() { close(m.release) }) }

func (m *blockingModel) handle(r *llmtest.Request) llmtest.Turn {
	var b strings.Builder
	for _, msg := range r.Messages {
		b.WriteString(msg.Content + "\n")
	}
	m.mu.Lock()
	m.seen = append(m.seen, b.String())
	m.mu.Unlock()
	if r.N == 1 {
		m.once.Do(func() { close(m.started) })
		<-m.release
	}
	if r.N == 1 { // a step, after which the task reads its messages
		args, _ := json.Marshal(map[string]string{"path": "note.txt", "content": "a note\n"})
		return llmtest.Turn{Content: "step", ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: args}}}
	}
	args, _ := json.Marshal(map[string]string{"answer": "done"})
	return llmtest.Turn{Content: "step", ToolCalls: []llmtest.ToolCall{{Name: "finish", Arguments: args}}}
}

// twoNodesOneTask starts node A on a fresh PostgreSQL database, runs a
// task on it whose first model request blocks, then starts node B on the
// same database (another data folder): the task runs on A, not B.
func twoNodesOneTask(t *testing.T) (a, b *served, key, id string, m *blockingModel, extra []string) {
	t.Helper()
	e := newPGAuditEnv(t)
	m = &blockingModel{started: make(chan struct{}), release: make(chan struct{})}
	model := llmtest.NewServer(m.handle)
	t.Cleanup(model.Close)
	t.Cleanup(m.free)
	extra = e.env(e.key, "BULWARK_RATE_LIMIT=off", "OPENAI_API_KEY=sk-test", "BULWARK_SHARED_PROVIDER_KEYS=on", "OPENAI_BASE_URL="+model.URL+"/v1")
	res := runBulwark(t, extra, "tenants", "create", "acme")
	if res.code != 0 {
		t.Fatalf("tenants create: %d %s", res.code, res.stderr)
	}
	key = strings.TrimSpace(res.stdout)
	a = startServe(t, extra, "--model", "openai:x")
	var task crashTask
	if code := a.call(t, key, "POST", "/api/v1/tasks", `{"input":"work"}`, &task); code != 201 {
		t.Fatalf("POST task = %d", code)
	}
	select {
	case <-m.started:
	case <-time.After(30 * time.Second):
		t.Fatalf("the task did not start on node A\n%s", a.log)
	}
	b = startServe(t, append(extra, "BULWARK_DATA="+t.TempDir()), "--model", "openai:x")
	return a, b, key, task.ID, m, extra
}

// TestClusterMessageReachesTheNodeThatRuns: a message sent to node B for
// a task that node A runs goes to A through the store. B took the task for
// one left by a process that stopped (its data folder holds no lock of a
// `bulwark run` for it) and marked it interrupted while A ran it.
func TestClusterMessageReachesTheNodeThatRuns(t *testing.T) {
	a, b, key, id, m, _ := twoNodesOneTask(t)
	code := b.call(t, key, "POST", "/api/v1/tasks/"+id+"/messages", `{"text":"MessageFromNodeB"}`, nil)
	if code != 202 && code != 200 {
		t.Fatalf("POST message on node B = %d", code)
	}
	if st := a.task(t, key, id); st.Status != "running" {
		t.Errorf("after a message sent to node B, the task that node A runs is %q, want running", st.Status)
	}
	time.Sleep(time.Second) // A polls the store for requests (DefaultControlEvery)
	m.free()
	for i := 0; ; i++ {
		st := a.task(t, key, id)
		if st.Status == "succeeded" || st.Status == "failed" || st.Status == "canceled" || st.Status == "interrupted" {
			if st.Status != "succeeded" {
				t.Errorf("the task ended %q, want succeeded", st.Status)
			}
			break
		}
		if i > 1000 {
			t.Fatalf("the task did not end: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !strings.Contains(strings.Join(m.seen, ""), "MessageFromNodeB") {
		t.Errorf("the message sent to node B never reached the model (%d requests)", len(m.seen))
	}
}

// TestClusterCancelReachesTheNodeThatRuns: a cancel sent to node B for a
// task that node A runs stops A's run; B did not end the task in the store
// by itself while A went on running it.
func TestClusterCancelReachesTheNodeThatRuns(t *testing.T) {
	a, b, key, id, m, _ := twoNodesOneTask(t)
	if code := b.call(t, key, "POST", "/api/v1/tasks/"+id+"/cancel", "", nil); code != 202 {
		t.Fatalf("POST cancel on node B = %d", code)
	}
	if st := a.task(t, key, id); st.Status != "running" && st.Status != "canceled" {
		t.Errorf("after a cancel sent to node B, the task is %q", st.Status)
	}
	// A's run must have been told: it ends canceled without the model's
	// first answer being acted on.
	for i := 0; ; i++ {
		st := a.task(t, key, id)
		if st.Status == "canceled" {
			break
		}
		if i > 1000 {
			t.Fatalf("the task was not canceled: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	m.free()
	time.Sleep(2 * time.Second) // A's run, if it was not stopped, goes on now
	if st := a.task(t, key, id); st.Status != "canceled" {
		t.Errorf("the canceled task is now %q: node A ran it on", st.Status)
	}
	m.mu.Lock()
	n := len(m.seen)
	m.mu.Unlock()
	if n > 1 {
		t.Errorf("the model was asked %d times after the task was canceled on node B: node A ran it on", n-1)
	}
}

// TestClusterStaleFolderDoesNotRevertFiles: a node killed mid-task leaves
// the task's workspace folder behind (as it was when the node died);
// another node goes on with the task and finishes it. When the first
// node starts again, what it left behind must not replace the files the
// task ended with. The folder is made here as a kill -9 leaves it.
func TestClusterStaleFolderDoesNotRevertFiles(t *testing.T) {
	e := newPGAuditEnv(t)
	model := llmtest.NewServer(func(r *llmtest.Request) llmtest.Turn {
		if r.N == 1 {
			args, _ := json.Marshal(map[string]string{"path": "note.txt", "content": "final\n"})
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: args}}}
		}
		args, _ := json.Marshal(map[string]string{"answer": "done"})
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "finish", Arguments: args}}}
	})
	defer model.Close()
	extra := e.env(e.key, "BULWARK_RATE_LIMIT=off", "OPENAI_API_KEY=sk-test", "BULWARK_SHARED_PROVIDER_KEYS=on", "OPENAI_BASE_URL="+model.URL+"/v1")
	res := runBulwark(t, extra, "tenants", "create", "acme")
	if res.code != 0 {
		t.Fatalf("tenants create: %d %s", res.code, res.stderr)
	}
	key := strings.TrimSpace(res.stdout)
	bData := t.TempDir()
	b := startServe(t, append(extra, "BULWARK_DATA="+bData), "--model", "openai:x")
	var task struct {
		crashTask
		TenantID string `json:"tenant_id"`
	}
	if code := b.call(t, key, "POST", "/api/v1/tasks", `{"input":"write"}`, &task); code != 201 {
		t.Fatalf("POST task = %d", code)
	}
	for i := 0; b.task(t, key, task.ID).Status != "succeeded"; i++ {
		if i > 1000 {
			t.Fatalf("the task did not succeed: %+v\n%s", b.task(t, key, task.ID), b.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Node A's data folder, as a kill -9 in the task's first run left it.
	stale := filepath.Join(e.data, "workspaces", task.TenantID, task.ID)
	if err := os.MkdirAll(stale, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(stale, "note.txt"), []byte("stale\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Written by node A before it died, so before node B went on.
	before := time.Now().Add(-time.Minute)
	if err := os.Chtimes(filepath.Join(stale, "note.txt"), before, before); err != nil {
		t.Fatal(err)
	}
	a := startServe(t, extra, "--model", "openai:x")
	for _, n := range []*served{a, b} {
		got := n.download(t, key, task.ID, "note.txt")
		if got != "final\n" {
			t.Errorf("note.txt of the finished task = %q, want %q: a restarted node's stale folder replaced it", got, "final\n")
		}
	}
}

// download returns the content of a task's file.
func (s *served) download(t *testing.T, key, id, name string) string {
	t.Helper()
	r, _ := http.NewRequest("GET", s.base+"/api/v1/tasks/"+id+"/files/"+name, nil)
	r.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET file %s = %d %s", name, resp.StatusCode, b)
	}
	return string(b)
}

// TestTasksCancelOnPostgresReachesTheNode: `bulwark tasks cancel` run on a
// machine where no node serves (another data folder) for a task a node
// runs stops the node's run through the store. It took the task for one
// no process runs, ended it in the store, and the node ran on.
func TestTasksCancelOnPostgresReachesTheNode(t *testing.T) {
	a, _, key, id, m, extra := twoNodesOneTask(t)
	admin := append(extra, "BULWARK_DATA="+t.TempDir())
	res := runBulwark(t, admin, "tasks", "cancel", "--tenant", "acme", id)
	if res.code != 0 {
		t.Fatalf("tasks cancel: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	m.free()
	time.Sleep(2 * time.Second) // the node's run, if it was not stopped, goes on now
	m.mu.Lock()
	n := len(m.seen)
	m.mu.Unlock()
	if n > 1 {
		t.Errorf("the model was asked %d more times after tasks cancel: the node ran the task on", n-1)
	}
	if st := a.task(t, key, id); st.Status != "canceled" {
		t.Errorf("after tasks cancel the task is %q, want canceled", st.Status)
	}
}
