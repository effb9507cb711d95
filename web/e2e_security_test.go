package web_test

import (
	"strconv"
	"strings"
	"testing"
)

// testSecurityPage reads the Security page: a chart for each series of
// GET /api/v1/security, drawn as inline SVG (no image, no script of
// another origin), each total as the API counts it, and a bar that links
// to the audit page filtered to the records it counts.
func testSecurityPage(t *testing.T, b *browser, s *e2eServer) {
	var api struct {
		Security, Usage []struct {
			Name  string
			Total float64
		}
	}
	s.api(t, "GET", "/api/v1/security?window=day", "", 200, &api)
	b.open(s.URL + "/security")
	want := len(api.Security) + len(api.Usage)
	b.wait("the charts", `document.querySelectorAll('figure.chart-card svg.chart').length === `+strconv.Itoa(want))
	for _, c := range append(api.Security, api.Usage...) {
		shown := evalJS[string](b, `document.querySelector('figure[data-series="`+c.Name+`"] .chart-total').innerText`)
		if bars := evalJS[int](b, `document.querySelectorAll('figure[data-series="`+c.Name+`"] svg rect.bar').length`); bars != 24 {
			t.Errorf("chart %s has %d bars, want one an hour", c.Name, bars)
		}
		if digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, shown); c.Name != "cost" && digits != strconv.FormatFloat(c.Total, 'f', -1, 64) {
			t.Errorf("chart %s shows the total %q, the API counts %v", c.Name, shown, c.Total)
		}
	}
	if n := evalJS[int](b, `document.querySelectorAll('svg.chart a[href^="/audit?"]').length`); n == 0 {
		t.Fatal("no bar links to the audit records")
	}
	b.shotViewport("security")

	// Follow the link of the latest "tasks started" bar that counts
	// something (tasks were created in the earlier steps: in the last
	// hour's, or in the one before when the test crossed the hour).
	href := evalJS[string](b, `[...document.querySelectorAll('figure[data-series="tasks"] svg rect.bar')].filter(r => parseFloat(r.getAttribute('height')) > 0).map(r => r.closest('a').getAttribute('href')).pop() || ''`)
	if !strings.Contains(href, "action=task.create") {
		t.Fatalf("the tasks bar links to %q", href)
	}
	b.open(s.URL + href)
	b.wait("the records behind the bar", `[...document.querySelectorAll('table.audit tbody tr')].length > 0 &&
		[...document.querySelectorAll('table.audit tbody tr td:nth-child(4)')].every(e => e.innerText === 'task.create')`)
	b.noProblems("/security")
}
