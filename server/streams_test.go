package server

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// TestStreamCaps: long-lived requests are capped per key, per client
// address and in all; one beyond a cap is a 429 with Retry-After, and a
// place is free again once a stream ends.
func TestStreamCaps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff, func(c *Config) { c.StreamLimits = StreamLimits{PerKey: 2, PerClient: 3, Total: 5} })
	a := e.tenant("a")
	release := make(chan struct{})
	started := make(chan struct{}, 64)
	if err := e.srv.Handle(Route{Method: "GET", Pattern: "/test/stream", Side: BrowserOrAPI, Role: bulwark.RoleViewer, Stream: true,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			started <- struct{}{}
			<-release
			return nil
		}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	var once sync.Once
	defer once.Do(func() { close(release) })
	// open opens a stream that stays open, or fails the test.
	open := func(key, remote string) {
		t.Helper()
		refused := make(chan int, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w := e.do(req{method: "GET", path: "/test/stream", key: key, remote: remote}); w.Code != http.StatusOK {
				refused <- w.Code
			}
		}()
		select {
		case <-started:
		case code := <-refused:
			t.Fatalf("opening a stream of %s from %s = %d, want it open", key[:8], remote, code)
		case <-time.After(10 * time.Second):
			t.Fatal("a stream neither opened nor was refused")
		}
	}
	refused := func(what, key, remote string) {
		t.Helper()
		answer := make(chan *httptest.ResponseRecorder, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			answer <- e.do(req{method: "GET", path: "/test/stream", key: key, remote: remote})
		}()
		select {
		case w := <-answer:
			if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
				t.Errorf("%s = %d (Retry-After %q), want 429 with Retry-After", what, w.Code, w.Header().Get("Retry-After"))
			}
		case <-started:
			t.Errorf("%s was let through, want 429", what)
		}
	}
	viewer, member, admin, owner := a.keys[bulwark.RoleViewer], a.keys[bulwark.RoleMember], a.keys[bulwark.RoleAdmin], a.keys[bulwark.RoleOwner]
	open(viewer, "192.0.2.1:1")
	open(viewer, "192.0.2.2:1")
	refused("a third stream of one key", viewer, "192.0.2.3:1")
	open(member, "192.0.2.1:1")
	open(admin, "192.0.2.1:1")
	refused("a fourth stream from one address", owner, "192.0.2.1:1")
	open(member, "192.0.2.4:1")
	refused("a sixth stream in all", owner, "192.0.2.5:1")
	once.Do(func() { close(release) })
	wg.Wait()
	if w := e.do(req{method: "GET", path: "/test/stream", key: viewer, remote: "192.0.2.1:1"}); w.Code != http.StatusOK {
		t.Errorf("a stream after the others ended = %d, want 200", w.Code)
	}
}
