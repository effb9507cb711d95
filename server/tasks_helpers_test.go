package server

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/delegate"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/workspace"
)

// The fake model server of the task tests, shared by every test of the
// package: what it answers depends on the task's input (see scriptFor).
var (
	modelOnce sync.Once
	modelSrv  *llmtest.Server
)

func fakeModel() *llmtest.Server {
	modelOnce.Do(func() { modelSrv = llmtest.NewServer(scriptFor) })
	return modelSrv
}

// scriptFor plays the script the task's input names:
//
//	ask:...      write notes/x.txt (a policy may ask about it), then finish
//	delegate:IN  start a sub-agent on IN, then finish with its answer
//	hang         think forever, until canceled
//	write:TEXT   write TEXT to out.txt, then finish
//	question:... ask the user, then finish with the answer
//	turns:N      N turns writing f1.txt ... fN.txt, each a little slow, then finish
//	leak:HOW:... carry the task's canary token out as HOW says (leakTurn)
//	anything else: finish at once with "done"
func scriptFor(r *llmtest.Request) llmtest.Turn {
	input, n := "", 0
	for _, m := range r.Messages {
		if m.Role == llm.User && input == "" {
			input = m.Content
		}
		if m.Role == "tool" {
			n++
		}
	}
	finish := func(answer string) llmtest.Turn {
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{callOf("finish", map[string]string{"answer": answer})}}
	}
	switch {
	case strings.HasPrefix(input, "ask:"):
		if n == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{callOf("write_file", map[string]string{"path": "notes/x.txt", "content": "x"})}}
		}
		return finish("after the approval: " + r.Messages[len(r.Messages)-1].Content)
	case strings.HasPrefix(input, "delegate:"):
		if n == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{callOf("delegate", map[string]string{"task": strings.TrimPrefix(input, "delegate:")})}}
		}
		return finish("parent done: " + r.Messages[len(r.Messages)-1].Content)
	case input == "hang":
		return llmtest.Turn{Content: "thinking", Hang: true}
	case strings.HasPrefix(input, "write:"):
		if n == 0 {
			return llmtest.Turn{Content: "writing", ToolCalls: []llmtest.ToolCall{callOf("write_file", map[string]string{"path": "out.txt", "content": strings.TrimPrefix(input, "write:")})}}
		}
		return finish("wrote out.txt")
	case strings.HasPrefix(input, "question:"):
		if n == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{callOf("ask_user", map[string]string{"question": "your name?"})}}
		}
		return finish("hello " + r.Messages[len(r.Messages)-1].Content)
	case strings.HasPrefix(input, "leak:"):
		if n == 0 {
			return leakTurn(input, r.Messages[0].Content)
		}
		return finish("done after the leak")
	case strings.HasPrefix(input, "turns:"):
		total, _ := strconv.Atoi(strings.TrimPrefix(input, "turns:"))
		if n < total {
			name := "f" + strconv.Itoa(n+1) + ".txt"
			return llmtest.Turn{Content: "turn " + strconv.Itoa(n+1), Delay: 20 * time.Millisecond,
				ToolCalls: []llmtest.ToolCall{callOf("write_file", map[string]string{"path": name, "content": name})}}
		}
		return finish("all turns done")
	}
	return finish("done")
}

func callOf(name string, args any) llmtest.ToolCall {
	b, _ := json.Marshal(args)
	return llmtest.ToolCall{Name: name, Arguments: b}
}

// withRuntime gives the server a task runtime over its store, sealing
// files into it, with its workspaces in dir ("" for a new temporary
// folder), running models of the fake model server with the tenant's
// policy.
func withRuntime(t testing.TB, dir string) func(*Config) {
	if dir == "" {
		dir = t.TempDir()
	}
	return func(c *Config) {
		db := c.Store.(testStore)
		vars := map[string]string{"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fakeModel().URL + "/v1"}
		rt := runner.New(runner.Config{
			Store: db, Artifacts: db, Dir: dir, Audit: c.Audit,
			Quota: func(tn bulwark.TenantID) int {
				if st, err := db.Settings(context.Background(), tn); err == nil && st.MaxConcurrent > 0 {
					return st.MaxConcurrent
				}
				return 4
			},
			Prepare: func(ctx context.Context, task bulwark.Task, ws *workspace.Workspace) (*runner.Setup, error) {
				st, err := db.Settings(ctx, bulwark.TenantID(task.TenantID))
				if err != nil {
					return nil, err
				}
				m, err := provider.Open("openai:test", func(k string) string { return vars[k] })
				if err != nil {
					return nil, err
				}
				return &runner.Setup{Model: m, Policy: st.Policy, Limits: task.Limits,
					Tools: tool.NewRegistry(append(files.Tools(), delegate.Tool(), interact.Finish(), interact.AskUser())...)}, nil
			},
		})
		if err := rt.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rt.Shutdown(ctx)
		})
		c.Runtime = rt
	}
}

// decode decodes a JSON answer into v, failing the test if it is not one.
func decode[T any](t testing.TB, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("the answer %d %q is not the JSON wanted: %v", w.Code, w.Body, err)
	}
	return v
}

// createTask creates a task with key and returns it.
func (e *env) createTask(key, input string) taskView {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"input": input})
	w := e.do(req{method: "POST", path: "/api/v1/tasks", body: string(body), key: key})
	if w.Code != http.StatusCreated {
		e.t.Fatalf("POST /api/v1/tasks %q = %d %s, want 201", input, w.Code, w.Body)
	}
	return decode[taskView](e.t, w)
}

// waitTask polls GET /api/v1/tasks/{id} until cond holds.
func (e *env) waitTask(key, id string, cond func(taskView) bool) taskView {
	e.t.Helper()
	for range 3000 { // a hang guard, not a speed assertion
		w := e.do(req{method: "GET", path: "/api/v1/tasks/" + id, key: key})
		if w.Code != http.StatusOK {
			e.t.Fatalf("GET task %s = %d %s", id, w.Code, w.Body)
		}
		if v := decode[taskView](e.t, w); cond(v) {
			return v
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("task %s never reached the state wanted", id)
	return taskView{}
}

func ended(v taskView) bool { return v.Status.Ended() }

// waitApproval waits until a task waits for an approval and returns it.
func (e *env) waitApproval(key, id string) bulwark.Approval {
	e.t.Helper()
	for range 3000 {
		w := e.do(req{method: "GET", path: "/api/v1/tasks/" + id + "/approvals", key: key})
		if aps := decode[approvalList](e.t, w).Approvals; len(aps) > 0 {
			return aps[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("task %s never asked for an approval", id)
	return bulwark.Approval{}
}

// sseEvent is one event read from a stream.
type sseEvent struct {
	id, typ string
	e       bulwark.Event
}

// readSSE reads events from a stream until it ends or stop says so.
func readSSE(t testing.TB, body io.Reader, stop func(sseEvent) bool) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.id != "" {
				out = append(out, cur)
				if stop != nil && stop(cur) {
					return out
				}
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.e); err != nil {
				t.Fatalf("event data %q: %v", line, err)
			}
		}
	}
	return out
}
