package server

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
)

// TestAuditChainIsTheTenants: a tenant's records are numbered from 1 in
// its own chain, and neither its listing nor its verification shows how
// much other tenants, or the system, recorded.
func TestAuditChainIsTheTenants(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	for range 40 {
		e.login(b.users[bulwark.RoleMember].Email)
		e.do(req{method: "GET", path: "/api/v1/me", key: "bwk_not-a-key"})
	}
	e.login(a.users[bulwark.RoleMember].Email)
	e.login(a.users[bulwark.RoleAdmin].Email)
	w := e.do(req{method: "GET", path: "/api/v1/audit", key: a.keys[bulwark.RoleAdmin]})
	var list auditResponse
	json.Unmarshal(w.Body.Bytes(), &list)
	if w.Code != 200 || len(list.Records) != 2 || list.Records[0].Seq != 1 || list.Records[1].Seq != 2 {
		t.Fatalf("A's audit listing = %d %s, want its two records, seq 1 and 2", w.Code, w.Body)
	}
	w = e.do(req{method: "GET", path: "/api/v1/audit/verify", key: a.keys[bulwark.RoleAdmin]})
	var v verifyResponse
	json.Unmarshal(w.Body.Bytes(), &v)
	if !v.Intact || v.Records != 2 {
		t.Errorf("A's verify = %s, want intact with A's 2 records, not B's 40 or the system's", w.Body)
	}
	w = e.do(req{method: "GET", path: "/api/v1/audit?after=2", key: a.keys[bulwark.RoleAdmin]})
	json.Unmarshal(w.Body.Bytes(), &list)
	if len(list.Records) != 0 || list.Next != 0 {
		t.Errorf("A's listing after its last record = %s, want empty", w.Body)
	}
}

// TestUnauthenticatedRefusalsAreCounted: a flood of bad credentials from
// one client is one record a minute with the count, written when the
// minute ends; another client's are apart.
func TestUnauthenticatedRefusalsAreCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	for range 50 {
		e.do(req{method: "GET", path: "/api/v1/me", key: "bwk_not-a-key"})
		e.do(req{method: "POST", path: "/api/v1/login", body: loginBody("nobody@a.test", "wrong password!"), remote: "198.51.100.7:99"})
	}
	e.do(req{method: "GET", path: "/api/v1/me", key: "bwk_not-a-key", remote: "203.0.113.5:1"})
	ctx := context.Background()
	e.srv.unauth.Flush(ctx, false)
	if n, _, _ := e.srv.cfg.Audit.Head(ctx, ""); n != 0 {
		t.Errorf("%d system records before the minute ended, want 0", n)
	}
	e.clock.Advance(time.Minute)
	e.srv.unauth.Flush(ctx, false)
	counts := map[string]string{}
	for _, action := range []string{"auth.failed", "auth.login_failed"} {
		for _, r := range e.audited(action) {
			counts[action+" "+r.Details["client"]] = r.Details["count"]
		}
	}
	// (Failed logins may be throttled: their count is what got through.)
	if n, _ := strconv.Atoi(counts["auth.login_failed 198.51.100.7"]); n < 2 {
		t.Errorf("failed logins of 198.51.100.7 counted %d in one record, want them all in one", n)
	}
	delete(counts, "auth.login_failed 198.51.100.7")
	want := map[string]string{"auth.failed 192.0.2.1": "50", "auth.failed 203.0.113.5": "1"}
	if len(counts) != len(want) {
		t.Errorf("records = %v, want %v", counts, want)
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s: count %q, want %q (all: %v)", k, counts[k], n, counts)
		}
	}
}
