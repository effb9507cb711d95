package server

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"github.com/bulwark-agents/bulwark/web"
)

// The Security page (web UI, /security) and GET /api/v1/security chart a
// tenant's security events and usage over the last day (by hour) or week
// (by day), from its audit chain and its tasks. Each series is an audit
// filter: the count of a bar is what GET /api/v1/audit lists with that
// filter for the bar's hours, and the bar links there (the /audit page
// with the same query), so a number can always be read back to its
// records. Aggregated records (failed logins a minute per client) count
// their "count".

// securitySeries is one chart of security events.
type securitySeries struct {
	name, title string
	filter      auditFilter
	// distinct counts the distinct targets (tasks) of the matching
	// records instead of the records.
	distinct bool
	unit     string
}

// securitySeriesList are the charts, each one filter of the audit log.
var securitySeriesList = []securitySeries{
	{name: "failed_logins", title: "Failed logins and bad credentials", filter: auditFilter{action: "auth.login_failed,auth.failed"}, unit: "failed"},
	{name: "denied_actions", title: "Actions denied (policy or person)", filter: auditFilter{action: "policy.decision", outcome: audit.OutcomeDenied}, unit: "denied"},
	{name: "asked_actions", title: "Actions a person was asked about", filter: auditFilter{action: "policy.decision", detail: "decided_by=" + bulwark.DecidedByPerson}, unit: "asked"},
	{name: "sandbox_refusals", title: "Sandbox refusals", filter: auditFilter{action: "sandbox.run", outcome: audit.OutcomeDenied}, unit: "refused"},
	{name: "denied_egress", title: "Denied egress", filter: auditFilter{action: "egress.deny,egress.secret_refused"}, unit: "denied"},
	{name: "upload_rejections", title: "Upload rejections", filter: auditFilter{action: "file.upload_rejected"}, unit: "rejected"},
	{name: "masked_secrets", title: "Outputs with a secret masked", filter: auditFilter{action: "secret.masked,secret.masked_answer"}, unit: "masked"},
	{name: "tainted_tasks", title: "Tasks flagged by the injection guard (tainted)", filter: auditFilter{action: "guard.flag"}, distinct: true, unit: "tasks"},
}

// securityWindow is the span charted and its buckets.
type securityWindow struct {
	name   string // "day" or "week"
	span   time.Duration
	bucket time.Duration
	label  func(time.Time) string
}

var securityWindows = lazy.Value[map[string]securityWindow]{New: func() map[string]securityWindow {
	return map[string]securityWindow{
		"day":  {"day", 24 * time.Hour, time.Hour, func(t time.Time) string { return t.UTC().Format("15h") }},
		"week": {"week", 7 * 24 * time.Hour, 24 * time.Hour, func(t time.Time) string { return t.UTC().Format("Jan 2") }},
	}
}}

// maxSecurityScan bounds the audit records one chart reads: a chain
// busier than that in the window is charted from its newest records, and
// the answer says so (truncated).
const maxSecurityScan = 200_000

// maxSecurityTasks bounds the tasks the usage charts read.
const maxSecurityTasks = 20_000

type securityResponse struct {
	Window string    `json:"window"`
	Since  time.Time `json:"since"`
	Until  time.Time `json:"until"`
	// Truncated is set when the window held more records (or tasks) than
	// are read: the oldest buckets then count too few.
	Truncated bool        `json:"truncated,omitempty"`
	Security  []web.Chart `json:"security"`
	Usage     []web.Chart `json:"usage"`
}

// securityOverview answers GET /api/v1/security?window=day|week
// [&format=svg]: the charts of the caller's tenant, as JSON (shapes the
// page draws) or one SVG document.
func (s *Server) securityOverview(w http.ResponseWriter, r *http.Request) error {
	const op = "server.securityOverview"
	if s.cfg.Audit == nil {
		return bulwark.Errorf(bulwark.Unavailable, op, "the audit log is off on this server")
	}
	q := r.URL.Query()
	win, ok := securityWindows.Get()[q.Get("window")]
	if q.Get("window") == "" {
		win, ok = securityWindows.Get()["day"], true
	}
	if !ok {
		return bulwark.Errorf(bulwark.Invalid, op, "window: day or week")
	}
	format := q.Get("format")
	if format != "" && format != "json" && format != "svg" {
		return bulwark.Errorf(bulwark.Invalid, op, "format: json or svg")
	}
	resp, err := s.securityCharts(r.Context(), TenantFrom(r.Context()), win, s.now())
	if err != nil {
		return err
	}
	if format == "svg" {
		w.Header().Set("Content-Type", "image/svg+xml")
		w.Header().Set("Content-Disposition", `attachment; filename="bulwark-security.svg"`)
		w.WriteHeader(http.StatusOK)
		w.Write(stackCharts(append(resp.Security, resp.Usage...)))
		return nil
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// securityCharts counts the tenant's events and usage in the window that
// ends with the bucket holding now.
func (s *Server) securityCharts(ctx context.Context, tenant bulwark.TenantID, win securityWindow, now time.Time) (securityResponse, error) {
	until := now.UTC().Truncate(win.bucket).Add(win.bucket)
	since := until.Add(-win.span)
	n := int(win.span / win.bucket)
	resp := securityResponse{Window: win.name, Since: since, Until: until}
	bucketOf := func(t time.Time) int {
		if t.Before(since) || !t.Before(until) {
			return -1
		}
		return int(t.Sub(since) / win.bucket)
	}

	counts := make([][]float64, len(securitySeriesList))
	seen := make([][]map[string]bool, len(securitySeriesList))
	for i := range counts {
		counts[i] = make([]float64, n)
		seen[i] = make([]map[string]bool, n)
	}
	truncated, err := s.scanAuditBack(ctx, string(tenant), since, func(rec audit.Record) {
		b := bucketOf(rec.Time)
		if b < 0 {
			return
		}
		for i, ser := range securitySeriesList {
			if !ser.filter.match(rec) {
				continue
			}
			switch {
			case ser.distinct:
				if seen[i][b] == nil {
					seen[i][b] = map[string]bool{}
				}
				if !seen[i][b][rec.Target] {
					seen[i][b][rec.Target] = true
					counts[i][b]++
				}
			default:
				counts[i][b] += recordCount(rec)
			}
		}
	})
	if err != nil {
		return resp, err
	}
	resp.Truncated = truncated
	bucketStart := func(b int) time.Time { return since.Add(time.Duration(b) * win.bucket) }
	for i, ser := range securitySeriesList {
		pts := make([]web.Point, n)
		for b := range n {
			pts[b] = web.Point{Start: bucketStart(b), End: bucketStart(b + 1), Value: counts[i][b],
				Href: auditLink(ser.filter, bucketStart(b), bucketStart(b+1))}
		}
		unit := ser.unit
		resp.Security = append(resp.Security, web.DrawBars(ser.name, ser.title, pts, win.label,
			func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) + " " + unit }))
	}

	if s.cfg.Runtime == nil { // a server that runs no tasks has no usage to chart
		return resp, nil
	}
	usage, more, err := s.usageByBucket(ctx, tenant, since, n, bucketOf)
	if err != nil {
		return resp, err
	}
	resp.Truncated = resp.Truncated || more
	created := auditFilter{action: "task.create"}
	for _, u := range []struct {
		name, title string
		value       func(taskUsage) float64
		unit        func(float64) string
	}{
		{"tasks", "Tasks started", func(u taskUsage) float64 { return float64(u.tasks) }, func(v float64) string { return fmt.Sprintf("%.0f tasks", v) }},
		{"tokens", "Tokens used", func(u taskUsage) float64 { return float64(u.tokens) }, func(v float64) string { return fmt.Sprintf("%.0f tokens", v) }},
		{"cost", "Cost (USD)", func(u taskUsage) float64 { return u.cost }, func(v float64) string { return fmt.Sprintf("$%.4f", v) }},
	} {
		pts := make([]web.Point, n)
		for b := range n {
			pts[b] = web.Point{Start: bucketStart(b), End: bucketStart(b + 1), Value: u.value(usage[b]),
				Href: auditLink(created, bucketStart(b), bucketStart(b+1))}
		}
		resp.Usage = append(resp.Usage, web.DrawBars(u.name, u.title, pts, win.label, u.unit))
	}
	return resp, nil
}

// recordCount is how many events rec stands for: an aggregated record's
// "count" (see audit.Aggregator), else 1.
func recordCount(rec audit.Record) float64 {
	if c, err := strconv.Atoi(rec.Details["count"]); err == nil && c > 0 {
		return float64(c)
	}
	return 1
}

// auditLink is the /audit page listing what f matches in [since, until).
func auditLink(f auditFilter, since, until time.Time) string {
	q := url.Values{}
	q.Set("action", f.action)
	if f.outcome != "" {
		q.Set("outcome", f.outcome)
	}
	if f.detail != "" {
		q.Set("detail", f.detail)
	}
	q.Set("since", since.UTC().Format(time.RFC3339))
	q.Set("until", until.UTC().Format(time.RFC3339))
	return "/audit?" + q.Encode()
}

// scanAuditBack calls visit with the records of the tenant's chain from
// its head back to the first before since (windows read forward, as
// auditNewestFirst does), at most maxSecurityScan; truncated is set when
// it stopped at that bound.
func (s *Server) scanAuditBack(ctx context.Context, tenant string, since time.Time, visit func(audit.Record)) (truncated bool, err error) {
	const op = "server.securityOverview"
	head, _, err := s.cfg.Audit.Head(ctx, tenant)
	if err != nil {
		return false, bulwark.E(bulwark.Unavailable, op, "the audit log cannot be read", err)
	}
	scanned := 0
	for end := head + 1; end > 1; {
		start := uint64(1)
		if end > auditWindow*10 {
			start = end - auditWindow*10
		}
		older := false
		for rec, err := range s.cfg.Audit.Read(ctx, tenant, start) {
			if err != nil {
				return false, bulwark.E(bulwark.Unavailable, op, "the audit log cannot be read", err)
			}
			if rec.Seq >= end {
				break
			}
			scanned++
			if rec.Time.Before(since) {
				older = true
			}
			if rec.TenantID == tenant {
				visit(rec)
			}
		}
		if older {
			return false, nil
		}
		if scanned >= maxSecurityScan {
			return start > 1, nil
		}
		end = start
	}
	return false, nil
}

type taskUsage struct {
	tasks  int
	tokens int
	cost   float64
}

// usageByBucket sums the tasks created in each bucket and what they
// used; more is set when there were more tasks than are read.
func (s *Server) usageByBucket(ctx context.Context, tenant bulwark.TenantID, since time.Time, n int, bucketOf func(time.Time) int) ([]taskUsage, bool, error) {
	out := make([]taskUsage, n)
	rt, err := s.runtime()
	if err != nil {
		return out, false, err
	}
	q := bulwark.TaskQuery{Limit: 200}
	read := 0
	for {
		page, err := rt.Tasks(ctx, tenant, q)
		if err != nil {
			return out, false, err
		}
		for _, t := range page.Tasks {
			if t.Created.Before(since) {
				return out, false, nil
			}
			read++
			if b := bucketOf(t.Created); b >= 0 {
				out[b].tasks++
				out[b].tokens += t.Usage.Tokens()
				out[b].cost += t.Usage.Cost
			}
		}
		if !page.More || len(page.Tasks) == 0 {
			return out, false, nil
		}
		if read >= maxSecurityTasks {
			return out, true, nil
		}
		last := page.Tasks[len(page.Tasks)-1]
		q.Before = &bulwark.TaskCursor{Created: last.Created, ID: last.ID}
	}
}

// stackCharts writes charts one under the other as one SVG document.
func stackCharts(charts []web.Chart) []byte {
	var b bytes.Buffer
	h := 0
	for _, c := range charts {
		h += c.Height + 24
	}
	w := 0
	if len(charts) > 0 {
		w = charts[0].Width
	}
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d">`, w, h, w, h)
	y := 0
	for _, c := range charts {
		fmt.Fprintf(&b, `<text x="4" y="%d" font-family="sans-serif" font-size="12">%s (%s)</text>`, y+16, xmlText(c.Title), strconv.FormatFloat(c.Total, 'f', -1, 64))
		// The chart's own <svg>, placed: its attributes follow x and y.
		fmt.Fprintf(&b, `<svg x="0" y="%d"`, y+24)
		b.Write(bytes.TrimPrefix(c.SVG(), []byte(`<svg xmlns="http://www.w3.org/2000/svg"`)))
		y += c.Height + 24
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}

func xmlText(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

// tenantSecurity is one tenant's charts in the operator's overview.
type tenantSecurity struct {
	Tenant bulwark.TenantID `json:"tenant"`
	Name   string           `json:"name"`
	securityResponse
}

type operatorSecurityResponse struct {
	Window  string           `json:"window"`
	Tenants []tenantSecurity `json:"tenants"`
}

// maxOperatorTenants bounds the tenants one operator overview charts
// (each reads its chain): name one with ?tenant= beyond that.
const maxOperatorTenants = 200

// operatorSecurity answers GET /api/v1/operator/security?window=day|week
// [&tenant=ID]: the Security page's charts of every tenant (or of the one
// named), for the operator, whose key belongs to no tenant. The points'
// links are the tenant's /audit page, for its admins; the operator reads
// the records with the same filter through the tenant's admins or the
// audit export.
func (s *Server) operatorSecurity(w http.ResponseWriter, r *http.Request) error {
	const op = "server.operatorSecurity"
	if s.cfg.Audit == nil {
		return bulwark.Errorf(bulwark.Unavailable, op, "the audit log is off on this server")
	}
	q := r.URL.Query()
	name := q.Get("window")
	if name == "" {
		name = "day"
	}
	win, ok := securityWindows.Get()[name]
	if !ok {
		return bulwark.Errorf(bulwark.Invalid, op, "window: day or week")
	}
	tenants, err := s.store.ListTenants(r.Context())
	if err != nil {
		return err
	}
	if id := q.Get("tenant"); id != "" {
		var one []bulwark.Tenant
		for _, t := range tenants {
			if string(t.ID) == id {
				one = append(one, t)
			}
		}
		if len(one) == 0 {
			return bulwark.Errorf(bulwark.NotFound, op, "no such tenant")
		}
		tenants = one
	}
	if len(tenants) > maxOperatorTenants {
		return bulwark.Errorf(bulwark.Invalid, op, "%d tenants: name one with tenant=ID", len(tenants))
	}
	out := operatorSecurityResponse{Window: win.name, Tenants: []tenantSecurity{}}
	now := s.now()
	for _, t := range tenants {
		c, err := s.securityCharts(r.Context(), t.ID, win, now)
		if err != nil {
			return err
		}
		out.Tenants = append(out.Tenants, tenantSecurity{Tenant: t.ID, Name: t.Name, securityResponse: c})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
