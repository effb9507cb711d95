package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/secret"
)

// served is a running `bulwark serve` of the built binary.
type served struct {
	cmd  *exec.Cmd
	base string
	done chan error
	log  *syncLog
}

// syncLog is a server's stderr as it comes, safe to read while a
// goroutine still copies into it (a failing test prints it).
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) WriteString(s string) (int, error) { return l.Write([]byte(s)) }

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe starts the built binary's serve on a free loopback port and
// waits until it says where it serves. Cleanup kills it if still running.
func startServe(t *testing.T, extra []string, args ...string) *served {
	t.Helper()
	return startServeCmd(t, bulwarkCmd(t, extra, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...)...))
}

// startServeCmd starts cmd, a prepared `bulwark serve --addr 127.0.0.1:0`,
// as startServe does.
func startServeCmd(t *testing.T, cmd *exec.Cmd) *served {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &served{cmd: cmd, done: make(chan error, 1), log: &syncLog{}}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-s.done
		}
	})
	lines := bufio.NewScanner(stderr)
	addrRE := regexp.MustCompile(`serving on (http://127\.0\.0\.1:\d+)`)
	for lines.Scan() {
		s.log.WriteString(lines.Text() + "\n")
		if m := addrRE.FindStringSubmatch(lines.Text()); m != nil {
			s.base = m[1]
			break
		}
	}
	if s.base == "" {
		t.Fatalf("serve did not say where it serves; stderr:\n%s", s.log)
	}
	go func() {
		io.Copy(s.log, stderr)
		s.done <- cmd.Wait()
	}()
	return s
}

// call makes an API request with key and decodes the JSON answer into v.
func (s *served) call(t *testing.T, key, method, path, body string, v any) int {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r, _ := http.NewRequest(method, s.base+path, rd)
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	} else {
		r.Header.Set("Sec-Fetch-Site", "same-origin") // as a browser on the site sends
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

type crashTask struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Answer string `json:"answer"`
	Turns  int    `json:"turns"`
}

// upload puts a file into a task's workspace and returns the status.
func (s *served) upload(t *testing.T, key, id, name, content string) int {
	t.Helper()
	r, _ := http.NewRequest("PUT", s.base+"/api/v1/tasks/"+id+"/files/"+name, strings.NewReader(content))
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

type crashStep struct {
	Seq  int64  `json:"seq"`
	Type string `json:"type"`
	Text string `json:"text"`
}

func (s *served) steps(t *testing.T, key, id string) []crashStep {
	t.Helper()
	var out struct {
		Steps []crashStep `json:"steps"`
	}
	if code := s.call(t, key, "GET", "/api/v1/tasks/"+id+"/steps?limit=1000", "", &out); code != 200 {
		t.Fatalf("GET steps of %s = %d", id, code)
	}
	return out.Steps
}

func (s *served) task(t *testing.T, key, id string) crashTask {
	t.Helper()
	var v crashTask
	if code := s.call(t, key, "GET", "/api/v1/tasks/"+id, "", &v); code != 200 {
		t.Fatalf("GET task %s = %d", id, code)
	}
	return v
}

// crashModel answers by the task's input: "long" writes two files and
// then thinks forever, until it is told the task resumes after a restart,
// having seen both writes: then it finishes with "resumed"; "ask" asks a
// question and finishes with "heard: " and the answer; anything else
// finishes at once.
func crashModel(r *llmtest.Request) llmtest.Turn {
	input, results, resumed := "", 0, false
	for _, m := range r.Messages {
		if m.Role == llm.User && input == "" {
			input = m.Content
		}
		resumed = resumed || m.Role == llm.User && strings.Contains(m.Content, "resumes now")
		if m.Role == "tool" {
			results++
		}
	}
	call := func(name string, args map[string]string) llmtest.Turn {
		b, _ := json.Marshal(args)
		return llmtest.Turn{Content: "step", ToolCalls: []llmtest.ToolCall{{Name: name, Arguments: b}}}
	}
	if input == "ask" && results == 0 {
		return call("ask_user", map[string]string{"question": "which colour?"})
	}
	if input == "ask" {
		last := r.Messages[len(r.Messages)-1]
		return call("finish", map[string]string{"answer": "heard: " + last.Content})
	}
	if input == "long" && resumed && results == 2 {
		return call("finish", map[string]string{"answer": "resumed"})
	}
	if input == "long" {
		switch results {
		case 0:
			return call("write_file", map[string]string{"path": "a.txt", "content": "A"})
		case 1:
			return call("write_file", map[string]string{"path": "b.txt", "content": "B"})
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	}
	return call("finish", map[string]string{"answer": "finished " + input})
}

// TestCrashAndRestart kills a real `bulwark serve` with SIGKILL while
// tasks run, starts it again on the same data folder with
// BULWARK_RESUME=manual, and checks that every task was resumed (the
// queued one) or marked interrupted with its
// stored steps intact and its files kept, that new tasks run, and that
// the audit log still verifies.
func TestCrashAndRestart(t *testing.T) {
	model := llmtest.NewServer(crashModel)
	defer model.Close()
	data := t.TempDir()
	if _, err := secret.CreateKeyFile(filepath.Join(data, "master.key")); err != nil {
		t.Fatal(err)
	}
	extra := []string{"BULWARK_DATA=" + data, "BULWARK_RATE_LIMIT=off", "BULWARK_SHARED_PROVIDER_KEYS=on", "OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL=" + model.URL + "/v1",
		"BULWARK_RESUME=manual"}
	srv := startServe(t, extra, "--model", "openai:x")
	res := runBulwark(t, extra, "tenants", "create", "crash")
	if res.code != 0 {
		t.Fatalf("tenants create: %d %s", res.code, res.stderr)
	}
	key := strings.TrimSpace(res.stdout)
	if code := srv.call(t, key, "PUT", "/api/v1/settings", `{"max_concurrent_tasks":3}`, nil); code != 200 {
		t.Fatalf("PUT settings = %d", code)
	}
	var ids []string
	for range 4 { // three run, one waits in the queue
		var v crashTask
		if code := srv.call(t, key, "POST", "/api/v1/tasks", `{"input":"long"}`, &v); code != 201 {
			t.Fatalf("POST task = %d", code)
		}
		ids = append(ids, v.ID)
	}
	// Wait until the running ones are mid-task: both files written.
	before := map[string][]crashStep{}
	for _, id := range ids[:3] {
		for i := 0; ; i++ {
			st := srv.steps(t, key, id)
			if n := countType(st, "tool_result"); n >= 2 {
				before[id] = st
				break
			}
			if i > 3000 { // a hang guard, not a speed assertion
				t.Fatalf("task %s never got two steps in: %+v", id, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if st := srv.task(t, key, ids[3]); st.Status != "queued" {
		t.Fatalf("the fourth task is %s, want queued", st.Status)
	}
	before[ids[3]] = nil

	srv.cmd.Process.Signal(syscall.SIGKILL)
	<-srv.done

	srv = startServe(t, extra, "--model", "openai:x")
	for id, old := range before {
		now := srv.steps(t, key, id)
		if len(now) < len(old) {
			t.Fatalf("task %s has %d steps after the restart, %d before", id, len(now), len(old))
		}
		for i := range old {
			if now[i] != old[i] {
				t.Errorf("task %s step %d changed across the crash: %+v, was %+v", id, i, now[i], old[i])
			}
		}
		st := srv.task(t, key, id)
		t.Logf("task %s after the restart: %s, %d steps (%d before)", id, st.Status, len(now), len(old))
		switch {
		case id == ids[3] && (st.Status == "queued" || st.Status == "running"):
			// resumed: it was waiting in the queue and runs now
		case id != ids[3] && st.Status == "interrupted":
			var files struct {
				Files []struct {
					Path string `json:"path"`
				} `json:"files"`
			}
			srv.call(t, key, "GET", "/api/v1/tasks/"+id+"/files", "", &files)
			if len(files.Files) != 2 {
				t.Errorf("interrupted task %s keeps files %+v, want a.txt and b.txt", id, files.Files)
			}
			if left, _ := filepath.Glob(filepath.Join(data, "workspaces", "*", id)); len(left) > 0 {
				t.Errorf("the folder of interrupted task %s is still in the clear", id)
			}
		default:
			t.Errorf("task %s is %s after the restart", id, st.Status)
		}
	}
	// An interrupted task can be resumed, where it stopped, and another
	// canceled.
	if code := srv.call(t, key, "POST", "/api/v1/tasks/"+ids[0]+"/resume", "", nil); code != 202 {
		t.Fatalf("resume of an interrupted task = %d", code)
	}
	if code := srv.call(t, key, "POST", "/api/v1/tasks/"+ids[1]+"/cancel", "", nil); code != 202 {
		t.Fatalf("cancel of an interrupted task = %d", code)
	}
	if st := srv.task(t, key, ids[1]); st.Status != "canceled" {
		t.Errorf("the canceled interrupted task is %s, want canceled", st.Status)
	}
	for i := 0; srv.task(t, key, ids[0]).Status != "succeeded"; i++ {
		if i > 3000 {
			t.Fatalf("the resumed task never finished: %+v", srv.task(t, key, ids[0]))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := srv.task(t, key, ids[0]); st.Answer != "resumed" {
		t.Errorf("the resumed task answered %q, want resumed (having seen its writes)", st.Answer)
	}
	var quick crashTask
	if code := srv.call(t, key, "POST", "/api/v1/tasks", `{"input":"quick"}`, &quick); code != 201 {
		t.Fatalf("a new task after the restart = %d", code)
	}
	for i := 0; srv.task(t, key, quick.ID).Status != "succeeded"; i++ {
		if i > 3000 {
			t.Fatalf("the new task never finished: %+v", srv.task(t, key, quick.ID))
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-srv.done:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", err, srv.log)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not stop after SIGTERM")
	}
	if res := runBulwark(t, extra, "audit", "verify"); res.code != 0 {
		t.Errorf("audit verify after the crash: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(data, "workspaces", "*", "*")); len(leftovers) > 0 {
		t.Errorf("task folders left in the clear after the stop: %v", leftovers)
	}
}

func countType(st []crashStep, typ string) int {
	n := 0
	for _, s := range st {
		if s.Type == typ {
			n++
		}
	}
	return n
}
