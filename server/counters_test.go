package server

import (
	"net/http"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/metrics"
)

// TestForbiddenRouteCounted: a route outside the caller's role counts as
// forbidden_route, once per refusal; an allowed one does not.
func TestForbiddenRouteCounted(t *testing.T) {
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	before := e.counter(metrics.ForbiddenRoute)
	if w := e.do(req{method: "GET", path: "/api/v1/settings", key: a.keys[bulwark.RoleViewer]}); w.Code != http.StatusOK {
		t.Fatalf("a viewer reading the settings = %d", w.Code)
	}
	if got := e.counter(metrics.ForbiddenRoute) - before; got != 0 {
		t.Errorf("an allowed route counted %v forbidden_route", got)
	}
	w := e.do(req{method: "POST", path: "/api/v1/keys", body: `{"name":"x","role":"viewer"}`, key: a.keys[bulwark.RoleViewer]})
	if w.Code != http.StatusForbidden {
		t.Fatalf("a viewer creating a key = %d, want 403", w.Code)
	}
	if got := e.counter(metrics.ForbiddenRoute) - before; got != 1 {
		t.Errorf("a route outside the role counted %v forbidden_route, want 1", got)
	}
}

// TestAuditFailureCounted: a change whose audit record cannot be written
// counts as audit_failure.
func TestAuditFailureCounted(t *testing.T) {
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	before := e.counter(metrics.AuditFailure)
	if err := e.srv.cfg.Audit.Close(); err != nil {
		t.Fatal(err)
	}
	w := e.do(req{method: "POST", path: "/api/v1/keys", body: `{"name":"x","role":"viewer"}`, key: a.keys[bulwark.RoleOwner]})
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("a change that cannot be audited = %d %s, want 503", w.Code, w.Body)
	}
	if got := e.counter(metrics.AuditFailure) - before; got < 1 {
		t.Errorf("audit_failure +%v after an unwritable audit record, want at least 1", got)
	}
}
