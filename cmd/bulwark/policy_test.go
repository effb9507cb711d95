package main

import (
	"strings"
	"testing"
)

// TestRunRefusesPolicyRulesThatCannotMatch: bulwark run stops with a usage
// error on a rule that names no tool or can never match, before any task.
func TestRunRefusesPolicyRulesThatCannotMatch(t *testing.T) {
	for _, rule := range []string{"shell(rm *)=deny", "write_file(../x)=deny", "finish(x)=ask"} {
		r := runBulwark(t, nil, "run", "--policy", rule, "--model", "replay:"+example(t), "--workspace", t.TempDir(), "task")
		if r.code != 2 || !strings.Contains(r.stderr, "policy rule") {
			t.Errorf("run --policy %q: exit %d, stderr %q; want exit 2 naming the rule", rule, r.code, r.stderr)
		}
	}
	r := runBulwark(t, []string{"BULWARK_POLICY=shell(rm *)=deny"}, "run", "--model", "replay:"+example(t), "--workspace", t.TempDir(), "task")
	if r.code != 2 || !strings.Contains(r.stderr, "names no tool") {
		t.Errorf("BULWARK_POLICY with an unknown tool: exit %d, stderr %q; want exit 2", r.code, r.stderr)
	}
}
