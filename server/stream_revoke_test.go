package server

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// TestStreamEndsWhenItsCredentialDoes opens a task's event stream, then
// takes its credential away (a key revoked, a session logged out, the
// user a key carries the rights of deleted) while the task still runs:
// the stream must end, not keep sending the task's events to a caller
// who may no longer read them.
func TestStreamEndsWhenItsCredentialDoes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		// open returns the headers of a stream, and a func that takes
		// its credential away.
		open func(te *taskEnv) (map[string]string, func())
	}{
		{"key revoked", func(te *taskEnv) (map[string]string, func()) {
			w := te.do(req{method: "POST", path: "/api/v1/keys", key: te.key, body: `{"name":"watcher","role":"viewer"}`})
			k := decode[createKeyResponse](te.t, w)
			return map[string]string{"Authorization": "Bearer " + k.Token}, func() {
				if w := te.do(req{method: "DELETE", path: "/api/v1/keys/" + k.Key.ID, key: te.key}); w.Code != http.StatusNoContent {
					te.t.Fatalf("revoke: %d %s", w.Code, w.Body)
				}
			}
		}},
		{"session logged out", func(te *taskEnv) (map[string]string, func()) {
			cookie := te.login(te.a.users[bulwark.RoleMember].Email)
			return map[string]string{"Authorization": "", "Cookie": sessionCookie + "=" + cookie, "Sec-Fetch-Site": "same-origin"}, func() {
				if w := te.do(req{method: "POST", path: "/api/v1/logout", cookie: cookie}); w.Code >= 300 {
					te.t.Fatalf("logout: %d %s", w.Code, w.Body)
				}
			}
		}},
		{"user of the key deleted", func(te *taskEnv) (map[string]string, func()) {
			u := te.a.users[bulwark.RoleAdmin]
			cookie := te.login(u.Email)
			w := te.do(req{method: "POST", path: "/api/v1/keys", cookie: cookie, body: `{"name":"mine","role":"member"}`, header: map[string]string{"Origin": "https://bulwark.test"}})
			if w.Code != http.StatusCreated {
				te.t.Fatalf("create key: %d %s", w.Code, w.Body)
			}
			k := decode[createKeyResponse](te.t, w)
			return map[string]string{"Authorization": "Bearer " + k.Token}, func() {
				if w := te.do(req{method: "DELETE", path: "/api/v1/users/" + u.ID, key: te.key}); w.Code != http.StatusNoContent {
					te.t.Fatalf("delete user: %d %s", w.Code, w.Body)
				}
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			te := newTaskEnv(t, func(c *Config) { c.StreamRecheck = time.Millisecond })
			ctx := context.Background()
			task, err := te.db.CreateTask(ctx, te.a.id, bulwark.Task{Input: "long", Model: "openai:test", Status: bulwark.TaskRunning})
			if err != nil {
				t.Fatal(err)
			}
			if err := te.db.AppendEvent(ctx, te.a.id, bulwark.Event{Seq: 1, TaskID: task.ID, Time: time.Now(), Type: bulwark.EventTaskStarted}); err != nil {
				t.Fatal(err)
			}
			header, takeAway := c.open(te)
			r, _ := http.NewRequest("GET", te.url+"/api/v1/tasks/"+task.ID+"/events", nil)
			for k, v := range header {
				if v != "" {
					r.Header.Set(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("GET events = %d %s", resp.StatusCode, b)
			}
			readSSE(t, resp.Body, func(e sseEvent) bool { return e.e.Seq == 1 })
			takeAway()
			ended := make(chan []sseEvent, 1)
			go func() { ended <- readSSE(t, resp.Body, nil) }()
			select {
			case rest := <-ended:
				if len(rest) != 0 {
					t.Errorf("after the credential was taken away the stream sent %d more events", len(rest))
				}
			case <-time.After(20 * time.Second): // a bound for the failure, not a measure
				t.Fatal("the stream is still open after its credential was taken away")
			}
		})
	}
}
