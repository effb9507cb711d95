package server

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// TestAuditParamsOutOfRange: cursors past either end of the chain give an
// empty page (never the chain from its start again, never another
// tenant's records), and malformed ones are 400 without echoing them.
func TestAuditParamsOutOfRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	for range 3 {
		e.login(a.users[bulwark.RoleMember].Email)
		e.login(b.users[bulwark.RoleMember].Email)
	}
	key := a.keys[bulwark.RoleAdmin]
	empty := []string{
		"after=9223372036854775807", "after=9223372036854775806", "after=3", "after=1000",
		"order=desc&before=1", "order=desc&before=1&limit=1",
	}
	for _, q := range empty {
		w := e.do(req{method: "GET", path: "/api/v1/audit?" + q, key: key})
		var page auditResponse
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || w.Code != http.StatusOK || len(page.Records) != 0 || page.Next != 0 {
			t.Errorf("GET /api/v1/audit?%s = %d %s, want an empty page", q, w.Code, w.Body)
		}
	}
	full := []string{"order=desc&before=9223372036854775807", "order=desc&before=4", "after=0", "order=desc", "order=asc&limit=500"}
	for _, q := range full {
		w := e.do(req{method: "GET", path: "/api/v1/audit?" + q, key: key})
		var page auditResponse
		json.Unmarshal(w.Body.Bytes(), &page)
		if w.Code != http.StatusOK || len(page.Records) != 3 {
			t.Errorf("GET /api/v1/audit?%s = %d %s, want A's 3 records", q, w.Code, w.Body)
		}
	}
	bad := []string{
		"after=-1", "after=18446744073709551615", "after=18446744073709551616", "order=desc&before=18446744073709551615", "after=1e3", "before=2", "order=asc&before=2", "order=DESC",
		"order=desc&before=-5", "limit=0", "limit=501", "limit=-1", "since=yesterday", "until=2025-13-01T00:00:00Z",
	}
	for _, q := range bad {
		w := e.do(req{method: "GET", path: "/api/v1/audit?" + q, key: key})
		if w.Code != http.StatusBadRequest {
			t.Errorf("GET /api/v1/audit?%s = %d %s, want 400", q, w.Code, w.Body)
		}
	}
	// Verify as B: B's chain, B's count, nothing of A's.
	w := e.do(req{method: "GET", path: "/api/v1/audit/verify", key: b.keys[bulwark.RoleAdmin]})
	var v verifyResponse
	json.Unmarshal(w.Body.Bytes(), &v)
	if w.Code != http.StatusOK || !v.Intact || v.Records != 3 {
		t.Errorf("B's verify = %d %s, want intact with B's 3 records", w.Code, w.Body)
	}
}
