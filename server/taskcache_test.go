package server

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/racetest"
	"github.com/bulwark-agents/bulwark/secret"
)

// TestTaskViewSeesChanges: GET /api/v1/tasks/{id} answers what the store
// holds after every change of the task or of its children, made by the
// same server, by another process on the same SQLite file or by another
// node on the same PostgreSQL database, at the first request after the
// change returned, although the unchanged answer is kept (on SQLite) in
// between; the answer kept for one tenant is never served to another.
func TestTaskViewSeesChanges(t *testing.T) {
	for _, n := range cacheNodes {
		t.Run(n.name, func(t *testing.T) {
			t.Parallel()
			changer, cacher := n.nodes(t, rateLimitOff, withRuntime(t, ""))
			ctx := context.Background()
			db := changer.db
			acme := changer.tenant("acme")
			key := acme.keys[bulwark.RoleViewer]
			get := func(id string) taskView {
				t.Helper()
				w := cacher.do(req{method: "GET", path: "/api/v1/tasks/" + id, key: key})
				if w.Code != http.StatusOK {
					t.Fatalf("GET task %s = %d %s", id, w.Code, w.Body)
				}
				return decode[taskView](t, w)
			}
			parent, err := db.CreateTask(ctx, acme.id, bulwark.Task{Input: "the parent", Status: bulwark.TaskRunning})
			if err != nil {
				t.Fatal(err)
			}
			if v := get(parent.ID); v.Status != bulwark.TaskRunning || v.Input != "the parent" {
				t.Fatalf("GET = %s %q, want running %q", v.Status, v.Input, "the parent")
			}
			if v := get(parent.ID); v.Status != bulwark.TaskRunning {
				t.Fatalf("GET again = %s, want running", v.Status)
			}
			if _, ok := cacher.db.(bulwark.TaskVersioner); ok && cacher.srv.views.len() != 1 {
				t.Fatalf("the store keeps task versions but the server keeps %d answers, want 1: the test would not test the cache", cacher.srv.views.len())
			}

			seq := int64(0)
			event := func(id string, e bulwark.Event) {
				t.Helper()
				seq++
				e.TaskID, e.Seq = id, seq
				if err := db.AppendEvent(ctx, acme.id, e); err != nil {
					t.Fatal(err)
				}
			}
			var child bulwark.Task
			steps := []struct {
				change string
				do     func()
				check  func(v taskView) string // "" when v shows the change
			}{
				{"usage counted", func() {
					event(parent.ID, bulwark.Event{Type: bulwark.EventModelText, Text: "x", Usage: &bulwark.Usage{InputTokens: 7, OutputTokens: 3}})
				}, func(v taskView) string {
					return want(v.Usage.InputTokens == 7 && v.Usage.OutputTokens == 3, "usage %+v, want 7 and 3 tokens", v.Usage)
				}},
				{"status set", func() {
					if err := db.SetTaskStatus(ctx, acme.id, parent.ID, bulwark.TaskWaiting); err != nil {
						t.Fatal(err)
					}
				}, func(v taskView) string {
					return want(v.Status == bulwark.TaskWaiting, "status %s, want waiting", v.Status)
				}},
				{"a child made", func() {
					if child, err = db.CreateTask(ctx, acme.id, bulwark.Task{Input: "the child", Status: bulwark.TaskRunning, ParentID: parent.ID}); err != nil {
						t.Fatal(err)
					}
				}, func(v taskView) string {
					return want(len(v.Children) == 1 && v.Children[0].ID == child.ID && v.Children[0].Status == bulwark.TaskRunning,
						"children %+v, want the child, running", v.Children)
				}},
				{"the child finished", func() {
					event(child.ID, bulwark.Event{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "child done"})
				}, func(v taskView) string {
					return want(len(v.Children) == 1 && v.Children[0].Status == bulwark.TaskSucceeded, "children %+v, want the child succeeded", v.Children)
				}},
				{"the task finished", func() {
					event(parent.ID, bulwark.Event{Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "the answer"})
				}, func(v taskView) string {
					return want(v.Status == bulwark.TaskSucceeded && v.Answer == "the answer", "%s %q, want succeeded %q", v.Status, v.Answer, "the answer")
				}},
				{"the task continued", func() {
					if _, err := db.ContinueTask(ctx, acme.id, parent.ID, nil); err != nil {
						t.Fatal(err)
					}
				}, func(v taskView) string {
					return want(v.Status == bulwark.TaskQueued && v.Turns == 2 && v.Answer == "", "%s, turn %d, answer %q; want queued, turn 2, no answer", v.Status, v.Turns, v.Answer)
				}},
				{"the task stopped again", func() {
					if err := db.SetTaskStatus(ctx, acme.id, parent.ID, bulwark.TaskInterrupted); err != nil {
						t.Fatal(err)
					}
				}, func(v taskView) string {
					return want(v.Status == bulwark.TaskInterrupted, "status %s, want interrupted", v.Status)
				}},
			}
			for _, s := range steps {
				get(parent.ID) // what is kept before the change
				if child.ID != "" {
					get(child.ID)
				}
				s.do()
				if msg := s.check(get(parent.ID)); msg != "" {
					t.Errorf("after %s: the next GET shows %s", s.change, msg)
				}
			}

			// Another tenant asks for the kept task by its id: unknown
			// there, as without a cache; the task's own tenant still gets it.
			other := changer.tenant("other")
			for _, id := range []string{parent.ID, child.ID} {
				if w := cacher.do(req{method: "GET", path: "/api/v1/tasks/" + id, key: other.keys[bulwark.RoleOwner]}); w.Code != http.StatusNotFound {
					t.Errorf("another tenant's GET of a kept task = %d %s, want 404", w.Code, w.Body)
				}
			}
			if v := get(child.ID); v.ID != child.ID || v.TenantID != string(acme.id) {
				t.Errorf("GET child = %s of %s, want %s of %s", v.ID, v.TenantID, child.ID, acme.id)
			}
			if w := cacher.do(req{method: "GET", path: "/api/v1/tasks/t_" + strings.Repeat("0", 20), key: key}); w.Code != http.StatusNotFound {
				t.Errorf("GET of a task that does not exist = %d, want 404", w.Code)
			}
		})
	}
}

// want returns "" when ok, else the message.
func want(ok bool, format string, args ...any) string {
	if ok {
		return ""
	}
	return fmt.Sprintf(format, args...)
}

// TestTaskCacheBounded: the cache of task answers keeps at most its
// number of answers and of bytes, dropping the least recently used, and
// an answer is only served at the version it was kept at and for its
// tenant.
func TestTaskCacheBounded(t *testing.T) {
	t.Parallel()
	c := newTaskCache()
	body := []byte(`{"id":"x"}` + "\n")
	for i := range taskCacheEntries + 10 {
		c.put("acme", fmt.Sprint("t_", i), 1, nil, body)
	}
	if c.len() != taskCacheEntries {
		t.Errorf("after %d answers the cache keeps %d, want %d", taskCacheEntries+10, c.len(), taskCacheEntries)
	}
	if c.get("acme", "t_0", 1, nil) != nil {
		t.Error("the least recently used answer is still kept")
	}
	last := fmt.Sprint("t_", taskCacheEntries+9)
	if c.get("acme", last, 1, nil) == nil {
		t.Error("the newest answer is not kept")
	}
	if c.get("other", last, 1, nil) != nil {
		t.Error("an answer kept for acme was served to another tenant")
	}
	if c.get("acme", last, 1, secret.NewRedactor()) != nil {
		t.Error("an answer masked with one redactor was served for another (the tenant's secrets changed)")
	}
	c.put("acme", last, 1, nil, body)
	if c.get("acme", last, 2, nil) != nil {
		t.Error("an answer kept at version 1 was served at version 2")
	}
	if c.get("acme", last, 1, nil) != nil {
		t.Error("an answer found at another version is still kept")
	}

	big := make([]byte, taskCacheMaxBody)
	for i := range 2 * taskCacheBytes / taskCacheMaxBody {
		c.put("acme", fmt.Sprint("big_", i), 1, nil, big)
	}
	if c.bytes > taskCacheBytes {
		t.Errorf("the cache keeps %d bytes, more than %d", c.bytes, taskCacheBytes)
	}
	c.put("acme", "huge", 1, nil, make([]byte, taskCacheMaxBody+1))
	if c.get("acme", "huge", 1, nil) != nil {
		t.Error("an answer larger than taskCacheMaxBody was kept")
	}
}

// TestTaskViewSeesAnotherProcess: a change of a task made by another
// operating-system process on the same SQLite file (as the CLI makes
// them) is seen by the server's next GET, although the server kept the
// answer before it.
func TestTaskViewSeesAnotherProcess(t *testing.T) {
	t.Parallel()
	e, acme, task, get := cachedRunningTask(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessSetsStatus$")
	cmd.Env = append(os.Environ(), "BULWARK_TEST_HELPER_TASK="+e.dir+"|"+string(acme.id)+"|"+task.ID)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the other process: %v\n%s", err, out)
	}
	if v := get(); v.Status != bulwark.TaskWaiting {
		t.Errorf("after another process set the task waiting, GET shows %s", v.Status)
	}
}

// cachedRunningTask makes a running task of tenant acme whose answer the
// server keeps (asked twice: one answer kept), for the tests of changes
// made outside the server. get asks for it again as a viewer.
func cachedRunningTask(t *testing.T) (*env, *tenant, bulwark.Task, func() taskView) {
	t.Helper()
	e := newEnv(t, rateLimitOff, withRuntime(t, ""))
	ctx := context.Background()
	acme := e.tenant("acme")
	task, err := e.db.CreateTask(ctx, acme.id, bulwark.Task{Input: "x", Status: bulwark.TaskRunning})
	if err != nil {
		t.Fatal(err)
	}
	get := func() taskView {
		t.Helper()
		w := e.do(req{method: "GET", path: "/api/v1/tasks/" + task.ID, key: acme.keys[bulwark.RoleViewer]})
		if w.Code != http.StatusOK {
			t.Fatalf("GET = %d %s", w.Code, w.Body)
		}
		return decode[taskView](t, w)
	}
	get()
	if v := get(); v.Status != bulwark.TaskRunning || e.srv.views.len() != 1 {
		t.Fatalf("GET = %s with %d answers kept, want running and 1", v.Status, e.srv.views.len())
	}
	return e, acme, task, get
}

// TestHelperProcessSetsStatus is the other process of
// TestTaskViewSeesAnotherProcess: it sets a task waiting through its own
// opening of the store. It does nothing when run with the others.
func TestHelperProcessSetsStatus(t *testing.T) {
	arg := os.Getenv("BULWARK_TEST_HELPER_TASK")
	if arg == "" {
		t.Skip("run by TestTaskViewSeesAnotherProcess")
	}
	dir, rest, _ := strings.Cut(arg, "|")
	tenant, id, _ := strings.Cut(rest, "|")
	kr, err := secret.ReadKeyFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	db := openSQLite(t, dir, kr)
	if err := db.SetTaskStatus(context.Background(), bulwark.TenantID(tenant), id, bulwark.TaskWaiting); err != nil {
		t.Fatal(err)
	}
}

// TestTaskViewUnderLoad: while clients keep asking for a task, each
// change of it, made by another process, is seen by the first request
// sent after the change returned.
func TestTaskViewUnderLoad(t *testing.T) {
	t.Parallel()
	changer := newEnv(t, rateLimitOff, withRuntime(t, ""))
	cacher := changer.otherNode(rateLimitOff, withRuntime(t, ""))
	ctx := context.Background()
	acme := changer.tenant("acme")
	key := acme.keys[bulwark.RoleViewer]
	task, err := changer.db.CreateTask(ctx, acme.id, bulwark.Task{Input: "x", Status: bulwark.TaskRunning})
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/tasks/" + task.ID
	cacher.do(req{method: "GET", path: path, key: key}) // builds the handler before the clients share it
	stop := racetest.Loop(4, func(int) { cacher.do(req{method: "GET", path: path, key: key}) })
	statuses := []bulwark.TaskStatus{bulwark.TaskWaiting, bulwark.TaskRunning}
	for i := range 30 {
		s := statuses[i%2]
		if err := changer.db.SetTaskStatus(ctx, acme.id, task.ID, s); err != nil {
			t.Fatal(err)
		}
		if v := decode[taskView](t, cacher.do(req{method: "GET", path: path, key: key})); v.Status != s {
			t.Errorf("change %d: GET after the status was set %s shows %s", i+1, s, v.Status)
		}
	}
	stop()
}
