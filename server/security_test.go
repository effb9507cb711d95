package server

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/web"
)

// securityEvents appends, for tenant, records of every charted kind,
// times scales how many, spread over the last hours of the clock, plus
// records that must not be counted. It returns the expected total of
// each series.
func securityEvents(t *testing.T, e *env, tenant bulwark.TenantID, times int) map[string]float64 {
	t.Helper()
	ctx := context.Background()
	add := func(action, outcome, target string, d map[string]string) {
		if err := e.srv.cfg.Audit.Append(ctx, audit.Record{TenantID: string(tenant), Actor: "sandbox", Action: action,
			Target: target, Outcome: outcome, Details: d}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range times {
		add("auth.login_failed", audit.OutcomeDenied, "x@y.test", map[string]string{"count": "5"}) // aggregated: 5
		add("auth.failed", audit.OutcomeDenied, "/api/v1/me", nil)
		add("auth.login", audit.OutcomeOK, "u1", nil) // not counted
		add("policy.decision", audit.OutcomeDenied, "t1", map[string]string{"decided_by": bulwark.DecidedByPolicy})
		add("policy.decision", audit.OutcomeDenied, "t1", map[string]string{"decided_by": bulwark.DecidedByPerson})
		add("policy.decision", audit.OutcomeOK, "t1", map[string]string{"decided_by": bulwark.DecidedByPerson})
		add("sandbox.run", audit.OutcomeDenied, "t1", map[string]string{"not_allowed": "true"})
		add("sandbox.run", audit.OutcomeOK, "t1", nil) // not counted
		add("egress.deny", audit.OutcomeDenied, "t1", nil)
		add("egress.secret_refused", audit.OutcomeDenied, "t1", nil)
		add("egress.allow", audit.OutcomeOK, "t1", nil) // not counted
		add("file.upload_rejected", audit.OutcomeDenied, "t2", nil)
		add("secret.masked", audit.OutcomeOK, "t2", map[string]string{"count": "3"})
		add("guard.flag", audit.OutcomeDenied, "task-"+strconv.Itoa(i), nil)
		add("guard.flag", audit.OutcomeDenied, "task-"+strconv.Itoa(i), nil) // the same task: one tainted task
		e.clock.Advance(time.Hour)
	}
	n := float64(times)
	return map[string]float64{
		"failed_logins": 6 * n, "denied_actions": 2 * n, "asked_actions": 2 * n, "sandbox_refusals": n,
		"denied_egress": 2 * n, "upload_rejections": n, "masked_secrets": 3 * n, "tainted_tasks": n,
	}
}

func getSecurity(t *testing.T, e *env, key, window string) securityResponse {
	t.Helper()
	w := e.do(req{method: "GET", path: "/api/v1/security?window=" + window, key: key})
	if w.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/security: %d %s", w.Code, w.Body)
	}
	var resp securityResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestSecurityChartsCountTheRecords: each chart's total is what the
// tenant's audit chain holds of its kind, never another tenant's, and
// each bar's link lists exactly the records it counts.
func TestSecurityChartsCountTheRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	wantB := securityEvents(t, e, b.id, 7) // B is busier: none of it may show in A's charts
	wantA := securityEvents(t, e, a.id, 3)

	for _, tc := range []struct {
		tn   *tenant
		want map[string]float64
	}{{a, wantA}, {b, wantB}} {
		resp := getSecurity(t, e, tc.tn.keys[bulwark.RoleAdmin], "day")
		if len(resp.Security) != len(securitySeriesList) {
			t.Fatalf("%d security charts, want %d", len(resp.Security), len(securitySeriesList))
		}
		for _, c := range resp.Security {
			if c.Total != tc.want[c.Name] {
				t.Errorf("tenant %s: %s total %v, want %v", tc.tn.id, c.Name, c.Total, tc.want[c.Name])
			}
			checkBarsMatchRecords(t, e, tc.tn.keys[bulwark.RoleAdmin], c)
		}
	}

	// The week charts the same records by day.
	week := getSecurity(t, e, a.keys[bulwark.RoleAdmin], "week")
	for _, c := range week.Security {
		if c.Total != wantA[c.Name] || len(c.Points) != 7 {
			t.Errorf("week: %s total %v over %d days, want %v over 7", c.Name, c.Total, len(c.Points), wantA[c.Name])
		}
	}
}

// checkBarsMatchRecords follows each bar's link (the /audit page's query,
// read from the API) and counts what it lists as the chart counts; the
// bar drawn for a point says its value and links where the point does.
func checkBarsMatchRecords(t *testing.T, e *env, key string, c web.Chart) {
	t.Helper()
	bars := map[string]web.Shape{}
	for _, s := range c.Shapes {
		if s.Kind == "rect" && s.Class == "bar" {
			bars[s.Href] = s
		}
	}
	for _, p := range c.Points {
		bar, ok := bars[p.Href]
		if !ok || p.Href == "" {
			t.Fatalf("%s: no bar links to %q", c.Name, p.Href)
		}
		if (p.Value > 0) != (bar.H > 0) || !strings.Contains(bar.Title, strconv.FormatFloat(p.Value, 'f', -1, 64)+" ") {
			t.Errorf("%s: the bar of %v is %+v", c.Name, p.Value, bar)
		}
		path, ok := strings.CutPrefix(p.Href, "/audit?")
		if !ok {
			t.Fatalf("%s: link %q is not the audit page", c.Name, p.Href)
		}
		w := e.do(req{method: "GET", path: "/api/v1/audit?limit=500&" + path, key: key})
		var list auditResponse
		if err := json.Unmarshal(w.Body.Bytes(), &list); err != nil || w.Code != 200 {
			t.Fatalf("%s: GET %s: %d %s", c.Name, path, w.Code, w.Body)
		}
		got, targets := 0.0, map[string]bool{}
		for _, r := range list.Records {
			if c.Name == "tainted_tasks" {
				if !targets[r.Target] {
					targets[r.Target] = true
					got++
				}
				continue
			}
			got += recordCount(audit.Record{Details: r.Details})
		}
		if got != p.Value {
			t.Errorf("%s at %s: the chart counts %v, its link lists records of %v", c.Name, p.Start, p.Value, got)
		}
	}
}

// TestSecurityRefusals: the charts are for admins of the tenant; members,
// viewers and the operator are refused, and a session sees only its
// tenant.
func TestSecurityRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	securityEvents(t, e, b.id, 2)
	for _, role := range []bulwark.Role{bulwark.RoleViewer, bulwark.RoleMember} {
		if w := e.do(req{method: "GET", path: "/api/v1/security", key: a.keys[role]}); w.Code != http.StatusForbidden {
			t.Errorf("%s key: %d %s, want 403", role, w.Code, w.Body)
		}
		cookie := e.login(a.users[role].Email)
		if w := e.do(req{method: "GET", path: "/api/v1/security", cookie: cookie}); w.Code != http.StatusForbidden {
			t.Errorf("%s session: %d %s, want 403", role, w.Code, w.Body)
		}
	}
	cookie := e.login(a.users[bulwark.RoleAdmin].Email)
	w := e.do(req{method: "GET", path: "/api/v1/security?window=week", cookie: cookie})
	var resp securityResponse
	json.Unmarshal(w.Body.Bytes(), &resp)
	if w.Code != 200 {
		t.Fatalf("A's admin session: %d %s", w.Code, w.Body)
	}
	for _, c := range resp.Security {
		if c.Name == "failed_logins" {
			continue // A's own admin logged in above, after its members' logins
		}
		if c.Total != 0 {
			t.Errorf("A's admin sees %v %s, all B's", c.Total, c.Name)
		}
	}
	for _, bad := range []string{"window=month", "format=html"} {
		if w := e.do(req{method: "GET", path: "/api/v1/security?" + bad, key: a.keys[bulwark.RoleAdmin]}); w.Code != http.StatusBadRequest {
			t.Errorf("?%s: %d, want 400", bad, w.Code)
		}
	}
}

// TestSecuritySVG: format=svg is one well-formed SVG document whose bars
// link to the audit records, with text escaped.
func TestSecuritySVG(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	securityEvents(t, e, a.id, 2)
	w := e.do(req{method: "GET", path: "/api/v1/security?format=svg", key: a.keys[bulwark.RoleAdmin]})
	if w.Code != 200 || w.Header().Get("Content-Type") != "image/svg+xml" {
		t.Fatalf("format=svg: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	dec := xml.NewDecoder(strings.NewReader(w.Body.String()))
	links := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "a" {
			for _, at := range se.Attr {
				if at.Name.Local == "href" && strings.HasPrefix(at.Value, "/audit?action=") {
					links++
				}
			}
		}
	}
	if links == 0 {
		t.Error("the SVG has no links to audit records")
	}
	if strings.Contains(w.Body.String(), "<script") {
		t.Error("the SVG holds a script")
	}
}

// TestOperatorSecurity: the operator's key sees each tenant's charts
// apart (A's counts are A's), one tenant with tenant=; tenant keys are
// refused.
func TestOperatorSecurity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	wantA := securityEvents(t, e, a.id, 2)
	wantB := securityEvents(t, e, b.id, 5)
	op, _, err := IssueKey(context.Background(), e.db, "", KeySpec{Name: "operator", CreatedBy: "test"})
	if err != nil {
		t.Fatal(err)
	}
	w := e.do(req{method: "GET", path: "/api/v1/operator/security?window=week", key: op})
	var resp operatorSecurityResponse
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || w.Code != 200 {
		t.Fatalf("operator: %d %s", w.Code, w.Body)
	}
	want := map[bulwark.TenantID]map[string]float64{a.id: wantA, b.id: wantB}
	if len(resp.Tenants) != 2 {
		t.Fatalf("operator sees %d tenants, want 2", len(resp.Tenants))
	}
	for _, ts := range resp.Tenants {
		for _, c := range ts.Security {
			if c.Total != want[ts.Tenant][c.Name] {
				t.Errorf("operator: tenant %s %s = %v, want %v", ts.Tenant, c.Name, c.Total, want[ts.Tenant][c.Name])
			}
		}
	}
	w = e.do(req{method: "GET", path: "/api/v1/operator/security?tenant=" + string(b.id), key: op})
	json.Unmarshal(w.Body.Bytes(), &resp)
	if len(resp.Tenants) != 1 || resp.Tenants[0].Tenant != b.id {
		t.Errorf("tenant=B: %s", w.Body)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/operator/security?tenant=tn_nobody", key: op}); w.Code != http.StatusNotFound {
		t.Errorf("an unknown tenant: %d, want 404", w.Code)
	}
	if w := e.do(req{method: "GET", path: "/api/v1/operator/security", key: a.keys[bulwark.RoleOwner]}); w.Code != http.StatusForbidden {
		t.Errorf("a tenant owner's key: %d, want 403", w.Code)
	}
}

// TestAuditFiltersStayInTheTenant: the Security page's filters on GET
// /api/v1/audit (outcome, detail=KEY=VALUE, comma lists, prefixes) list
// only the caller's chain, however wide; and a filter too long to be one
// a person wrote (a list of thousands of actions, matched against every
// record scanned) is refused rather than run.
func TestAuditFiltersStayInTheTenant(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a, b := e.tenant("a"), e.tenant("b")
	securityEvents(t, e, b.id, 2)
	for _, q := range []string{
		"action=*", "action=policy.decision,guard.flag&outcome=denied", "detail=decided_by=person",
		"action=auth.*,*&order=desc", "detail=count=5&action=auth.login_failed",
	} {
		w := e.do(req{method: "GET", path: "/api/v1/audit?" + q, key: a.keys[bulwark.RoleAdmin]})
		if w.Code != 200 {
			t.Fatalf("?%s: %d %s", q, w.Code, w.Body)
		}
		var resp struct {
			Records []audit.Record `json:"records"`
		}
		json.Unmarshal(w.Body.Bytes(), &resp)
		for _, r := range resp.Records {
			if r.TenantID != string(a.id) {
				t.Errorf("?%s: A's admin sees a record of %q", q, r.TenantID)
			}
		}
		if strings.Contains(w.Body.String(), "task-1") || strings.Contains(w.Body.String(), "x@y.test") {
			t.Errorf("?%s: A's admin sees B's targets: %s", q, w.Body)
		}
	}
	long := strings.Repeat("egress.deny,", 5000) + "x"
	for _, q := range []string{"action=" + long, "detail=k=" + strings.Repeat("v", 5000), "actor=" + strings.Repeat("u", 5000)} {
		if w := e.do(req{method: "GET", path: "/api/v1/audit?" + q, key: a.keys[bulwark.RoleAdmin]}); w.Code != http.StatusBadRequest {
			t.Errorf("a filter of %d bytes: %d, want 400", len(q), w.Code)
		}
	}
}

// TestSecurityNeedsTheAuditScope: an admin key scoped away from the audit
// log reads neither the charts nor their SVG; one scoped to it does.
func TestSecurityNeedsTheAuditScope(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff)
	a := e.tenant("a")
	other, _ := e.issue(a.id, KeySpec{Role: bulwark.RoleAdmin, Scopes: []string{"secrets", "tasks"}})
	auditOnly, _ := e.issue(a.id, KeySpec{Role: bulwark.RoleAdmin, Scopes: []string{"audit"}})
	for _, p := range []string{"/api/v1/security", "/api/v1/security?format=svg", "/api/v1/audit?action=auth.*"} {
		if w := e.do(req{method: "GET", path: p, key: other}); w.Code != http.StatusForbidden {
			t.Errorf("%s with a key without the audit scope: %d, want 403", p, w.Code)
		}
		if w := e.do(req{method: "GET", path: p, key: auditOnly}); w.Code != http.StatusOK {
			t.Errorf("%s with an audit-scoped key: %d %s", p, w.Code, w.Body)
		}
	}
	if w := e.do(req{method: "GET", path: "/api/v1/operator/security", key: auditOnly}); w.Code != http.StatusForbidden {
		t.Errorf("the operator's charts with a tenant key: %d, want 403", w.Code)
	}
}
