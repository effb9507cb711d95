package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
)

// TestAuditNewestFirst pages through a chain longer than the window the
// newest-first listing reads at once: every record comes once, newest
// first, and people and keys come with their emails and names.
func TestAuditNewestFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	member := a.users[bulwark.RoleMember]
	const total = 2*auditWindow + 50
	ctx := context.Background()
	for i := range total {
		r := audit.Record{TenantID: string(a.id), Actor: "user:" + member.ID, Action: "test.event", Target: a.keyIDs[bulwark.RoleViewer]}
		if i%2 == 1 {
			r.Actor = "key:" + a.keyIDs[bulwark.RoleAdmin]
		}
		if err := e.srv.cfg.Audit.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var seqs []uint64
	before := uint64(0)
	for range total {
		path := "/api/v1/audit?order=desc&limit=70"
		if before > 0 {
			path += fmt.Sprintf("&before=%d", before)
		}
		w := e.do(req{method: "GET", path: path, key: a.keys[bulwark.RoleAdmin]})
		var page auditResponse
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || w.Code != 200 {
			t.Fatalf("GET %s = %d %s", path, w.Code, w.Body)
		}
		for _, r := range page.Records {
			seqs = append(seqs, r.Seq)
			want := map[bool]string{true: member.Email, false: "key admin key"}[r.Actor == "user:"+member.ID]
			if r.ActorName != want || r.TargetName != "key viewer key" {
				t.Fatalf("record %d: actor %q named %q, target named %q; want %q and %q", r.Seq, r.Actor, r.ActorName, r.TargetName, want, "key viewer key")
			}
		}
		if page.Next == 0 {
			break
		}
		before = page.Next
	}
	if len(seqs) != total || !slices.IsSortedFunc(seqs, func(x, y uint64) int { return int(y) - int(x) }) || seqs[0] != total || seqs[total-1] != 1 {
		t.Fatalf("newest first, pages gave %d records from %v to %v, want %d from %d down to 1 in order", len(seqs), seqs[:1], seqs[len(seqs)-1:], total, total)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]-1 {
			t.Fatalf("record %d follows %d: one is missing or repeated", seqs[i], seqs[i-1])
		}
	}

	w := e.do(req{method: "GET", path: "/api/v1/audit?order=desc&limit=5&actor=key:" + a.keyIDs[bulwark.RoleAdmin], key: a.keys[bulwark.RoleAdmin]})
	var page auditResponse
	json.Unmarshal(w.Body.Bytes(), &page)
	if len(page.Records) != 5 || page.Records[0].Seq != total || page.Records[4].Seq != total-8 {
		t.Errorf("the admin key's newest 5 = %s, want seq %d down by twos", w.Body, total)
	}
	for _, bad := range []string{"order=up", "before=3", "order=desc&before=x"} {
		if w := e.do(req{method: "GET", path: "/api/v1/audit?" + bad, key: a.keys[bulwark.RoleAdmin]}); w.Code != 400 {
			t.Errorf("GET /api/v1/audit?%s = %d, want 400", bad, w.Code)
		}
	}
}

// TestSettingsShowDefaults: the settings say what an empty field stands
// for, within the operator's ceilings.
func TestSettingsShowDefaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *Config) { c.Ceilings = bulwark.Ceilings{MaxSteps: 20} })
	a := e.tenant("a")
	w := e.do(req{method: "GET", path: "/api/v1/settings", key: a.keys[bulwark.RoleViewer]})
	var got settingsResponse
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != 200 {
		t.Fatalf("GET /api/v1/settings = %d %s", w.Code, w.Body)
	}
	d := got.Defaults
	if d.Limits.MaxSteps != 20 || d.Limits.MaxTokens != bulwark.DefaultLimits.MaxTokens || d.MaxConcurrent != defaultTenantQuota ||
		d.RateLimit != DefaultRateLimits || d.Policy != bulwark.Allow {
		t.Errorf("defaults = %+v, want the default limits with max_steps at its ceiling 20, quota %d, rates %+v, allow",
			d, defaultTenantQuota, DefaultRateLimits)
	}
}
