package metrics

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// alertRules is the Prometheus rules file operators load.
const alertRules = "../deploy/prometheus/bulwark-alerts.yml"

// ruleExprs returns the expr of each rule in the rules file (a one-line
// value, or a block after "expr: |"), without a YAML library: the file
// keeps to those two forms.
func ruleExprs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(alertRules)
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		rest, ok := strings.CutPrefix(strings.TrimSpace(l), "expr:")
		if !ok {
			continue
		}
		rest = strings.TrimSpace(rest)
		if rest == "|" {
			indent := len(l) - len(strings.TrimLeft(l, " "))
			var block []string
			for i+1 < len(lines) && (strings.TrimSpace(lines[i+1]) == "" || len(lines[i+1])-len(strings.TrimLeft(lines[i+1], " ")) > indent) {
				i++
				block = append(block, strings.TrimSpace(lines[i]))
			}
			rest = strings.Join(block, " ")
		}
		exprs = append(exprs, rest)
	}
	return exprs
}

var (
	metricName = regexp.MustCompile(`\b(?:bulwark|process|go)_[a-z0-9_]+\b`)
	kindValue  = regexp.MustCompile(`kind=~?"([^"]*)"`)
)

// TestAlertRulesNameRealMetrics fails when a rule of the rules file
// names a metric Bulwark does not serve, or a kind of security event it
// does not count: such a rule would never fire.
func TestAlertRulesNameRealMetrics(t *testing.T) {
	registerCollectors()
	SandboxRuns.With("alerts-test")                   // a series, at zero, so that the family is served
	Security.TenantCounter(AuthFailed, "alerts-test") // likewise
	families, _ := mustParse(t, expose(t, Default))
	served := map[string]bool{}
	for name := range families {
		served[name] = true
	}
	exprs := ruleExprs(t)
	if len(exprs) < 10 {
		t.Fatalf("found %d rules in %s, want the security alerts", len(exprs), alertRules)
	}
	for _, e := range exprs {
		names := metricName.FindAllString(e, -1)
		if len(names) == 0 {
			t.Errorf("rule %q names no Bulwark metric", e)
		}
		for _, n := range names {
			if !served[n] {
				t.Errorf("rule %q names %s, which Bulwark does not serve", e, n)
			}
		}
		for _, m := range kindValue.FindAllStringSubmatch(e, -1) {
			for _, k := range strings.Split(m[1], "|") {
				if !slices.Contains(AllSecurityEvents, SecurityEvent(k)) {
					t.Errorf("rule %q counts kind %q, which is no SecurityEvent", e, k)
				}
			}
		}
	}
	// The kinds the issue asks alerts for each have one.
	all := strings.Join(exprs, "\n")
	for _, k := range []SecurityEvent{AuthFailed, SyscallDenied, SandboxDenied, UploadRejected, ForbiddenRoute, EgressDenied, ResourceExhausted, AuditFailure} {
		if !strings.Contains(all, string(k)) {
			t.Errorf("no alert rule counts %s", k)
		}
	}
}
