package server

import (
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// unknownFieldCases are bodies with a field the route does not take, and
// the message that must come back: the name only when it has the shape of
// a field name (lower case, digits, _, at most 32), and the fields where
// it was found.
var unknownFieldCases = []struct{ method, path, body, want string }{
	{"POST", "/api/v1/tasks", `{"task":"x"}`, `unknown field "task"; the fields are input, model, limits`},
	{"POST", "/api/v1/tasks", `{"input":"x","Task":"x"}`, `an unknown field; the fields are input, model, limits`},
	{"POST", "/api/v1/tasks", `{"input":"x","a-b":1}`, `an unknown field; the fields are input, model, limits`},
	{"POST", "/api/v1/tasks", `{"input":"x","` + strings.Repeat("a", 33) + `":1}`, `an unknown field; the fields are input, model, limits`},
	{"POST", "/api/v1/tasks", `{"input":"x","` + strings.Repeat("a", 32) + `":1}`,
		`unknown field "` + strings.Repeat("a", 32) + `"; the fields are input, model, limits`},
	{"POST", "/api/v1/tasks", `{"input":"x","limits":{"max_step":5}}`,
		`unknown field "max_step" in limits; the fields there are max_steps, max_tokens, max_cost, max_duration, max_output`},
	{"PUT", "/api/v1/settings", `{"policy":{"rules":[{"tool":"x","pattern":"*","verdict":"deny"}]}}`,
		`unknown field "verdict" in policy.rules; the fields there are tool, pattern, decision`},
	{"PUT", "/api/v1/settings", `{"Policy":{"Rules":[{"tool":"x","ZZ":"deny"}]}}`,
		`an unknown field in policy.rules; the fields there are tool, pattern, decision`},
}

// TestUnknownFieldNamed: a body with a field the route does not take is
// answered 400 with the fields it takes, where the field was, and the
// field's name only when it has the shape of the server's own names.
func TestUnknownFieldNamed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, rateLimitOff, withRuntime(t, ""))
	a := e.tenant("a")
	for _, c := range unknownFieldCases {
		w := e.do(req{method: c.method, path: c.path, key: a.keys[bulwark.RoleOwner], body: c.body})
		if msg := errorOf(t, w).Message; w.Code != 400 || msg != c.want {
			t.Errorf("%s %s %s = %d %q, want 400 %q", c.method, c.path, c.body, w.Code, msg, c.want)
		}
	}
}
