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
	e := newEnv(t, rateLimitOff, func(c *Config) { c.StreamLimits = StreamLimits{PerKey: 2, PerClient: 3, PerTenant: 5, Total: 5} })
	a := e.tenant("a")
	h := newStreamHarness(t, e)
	defer h.close()
	viewer, member, admin, owner := a.keys[bulwark.RoleViewer], a.keys[bulwark.RoleMember], a.keys[bulwark.RoleAdmin], a.keys[bulwark.RoleOwner]
	h.open(viewer, "192.0.2.1:1")
	h.open(viewer, "192.0.2.2:1")
	h.refused("a third stream of one key", viewer, "192.0.2.3:1")
	h.open(member, "192.0.2.1:1")
	h.open(admin, "192.0.2.1:1")
	h.refused("a fourth stream from one address", owner, "192.0.2.1:1")
	h.open(member, "192.0.2.4:1")
	h.refused("a sixth stream in all", owner, "192.0.2.5:1")
	h.close()
	if w := e.do(req{method: "GET", path: "/test/stream", key: viewer, remote: "192.0.2.1:1"}); w.Code != http.StatusOK {
		t.Errorf("a stream after the others ended = %d, want 200", w.Code)
	}
}

// TestStreamCapPerTenant: one tenant cannot take every stream of the
// node by spreading its streams over many keys and addresses (an admin
// makes keys at will, a client may hold many addresses): by default a
// tenant holds at most half of them, and another tenant still opens one.
func TestStreamCapPerTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff, func(c *Config) { c.StreamLimits = StreamLimits{PerKey: 2, PerClient: 2, Total: 6} })
	a, b := e.tenant("a"), e.tenant("b")
	h := newStreamHarness(t, e)
	defer h.close()
	h.open(a.keys[bulwark.RoleViewer], "192.0.2.1:1")
	h.open(a.keys[bulwark.RoleViewer], "192.0.2.2:1")
	h.open(a.keys[bulwark.RoleMember], "192.0.2.3:1")
	h.refused("a fourth stream of one tenant, of another key from another address", a.keys[bulwark.RoleAdmin], "192.0.2.4:1")
	h.open(b.keys[bulwark.RoleViewer], "192.0.2.5:1")
}

// streamHarness serves a test route that holds each request open until
// close, so that tests can fill the stream caps.
type streamHarness struct {
	t       *testing.T
	e       *env
	release chan struct{}
	started chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

func newStreamHarness(t *testing.T, e *env) *streamHarness {
	t.Helper()
	h := &streamHarness{t: t, e: e, release: make(chan struct{}), started: make(chan struct{}, 64)}
	if err := e.srv.Handle(Route{Method: "GET", Pattern: "/test/stream", Side: BrowserOrAPI, Role: bulwark.RoleViewer, Stream: true,
		Handler: func(w http.ResponseWriter, r *http.Request) error {
			h.started <- struct{}{}
			<-h.release
			return nil
		}}); err != nil {
		t.Fatal(err)
	}
	return h
}

// close ends the open streams and waits for them.
func (h *streamHarness) close() {
	h.once.Do(func() { close(h.release) })
	h.wg.Wait()
}

// open opens a stream that stays open, or fails the test.
func (h *streamHarness) open(key, remote string) {
	h.t.Helper()
	refused := make(chan int, 1)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		if w := h.e.do(req{method: "GET", path: "/test/stream", key: key, remote: remote}); w.Code != http.StatusOK {
			refused <- w.Code
		}
	}()
	select {
	case <-h.started:
	case code := <-refused:
		h.t.Fatalf("opening a stream of %s from %s = %d, want it open", key[:8], remote, code)
	case <-time.After(10 * time.Second):
		h.t.Fatal("a stream neither opened nor was refused")
	}
}

// refused checks that a stream is refused with 429 and Retry-After.
func (h *streamHarness) refused(what, key, remote string) {
	h.t.Helper()
	answer := make(chan *httptest.ResponseRecorder, 1)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		answer <- h.e.do(req{method: "GET", path: "/test/stream", key: key, remote: remote})
	}()
	select {
	case w := <-answer:
		if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
			h.t.Errorf("%s = %d (Retry-After %q), want 429 with Retry-After", what, w.Code, w.Header().Get("Retry-After"))
		}
	case <-h.started:
		h.t.Errorf("%s was let through, want 429", what)
	}
}
