package server

import (
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
	"github.com/bulwark-agents/bulwark/tool/files"
)

// TestSettingsRefusePolicyRulesThatCannotMatch: a tenant's rule naming no
// tool, or one no call could match, is refused when it is set, not stored
// to be silently never applied; the answer does not repeat the rule.
func TestSettingsRefusePolicyRulesThatCannotMatch(t *testing.T) {
	t.Parallel()
	known := append(files.Tools(), code.Shell())
	e := newEnv(t, rateLimitOff, func(c *Config) {
		c.CheckPolicyRule = func(r bulwark.Rule) error { return tool.CheckRule(r, known) }
	})
	admin := e.tenant("a").keys[bulwark.RoleAdmin]
	for _, body := range []string{
		`{"policy":{"rules":[{"tool":"shell","pattern":"zqx-marker *","decision":"deny"}]}}`,
		`{"policy":{"rules":[{"tool":"write_file","pattern":"../zqx-marker","decision":"deny"}]}}`,
	} {
		w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: body})
		if w.Code != 400 || !strings.Contains(w.Body.String(), "policy.rules[0]") || strings.Contains(w.Body.String(), "zqx-marker") {
			t.Errorf("PUT %s = %d %s, want 400 naming the rule by its index only", body, w.Code, w.Body)
		}
	}
	ok := `{"policy":{"rules":[{"tool":"run_shell","pattern":"rm -rf *","decision":"deny"},{"tool":"write_file","pattern":"./src/*","decision":"ask"}]}}`
	if w := e.do(req{method: "PUT", path: "/api/v1/settings", key: admin, body: ok}); w.Code != 200 {
		t.Errorf("PUT %s = %d %s, want 200", ok, w.Code, w.Body)
	}
}
