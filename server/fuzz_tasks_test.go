package server

import (
	"encoding/json"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// fuzzTaskBody posts fuzzed bodies to a task route of a server with a
// task runtime: never a 5xx, always JSON (a panic fails by itself). path
// builds the route's path from a task that has ended and one that runs.
func fuzzTaskBody(f *testing.F, method string, path func(done, running string) string, seeds ...string) {
	for _, s := range seeds {
		f.Add(s)
	}
	for _, s := range []string{"", "{", `{"a":1}{"b":2}`, `[]`, `null`, "\x00\xff", `{"input":null}`, `{"input":"\u202e"}`} {
		f.Add(s)
	}
	e := newEnv(f, rateLimitOff, withRuntime(f, ""))
	a := e.tenant("a")
	key := a.keys[bulwark.RoleOwner]
	done := e.createTask(key, "done")
	e.waitTask(key, done.ID, ended)
	running := e.createTask(key, "hang")
	f.Fuzz(func(t *testing.T, body string) {
		e.t = t
		w := e.do(req{method: method, path: path(done.ID, running.ID), body: body, key: key, header: map[string]string{"Content-Type": "application/json"}})
		if w.Code >= 500 {
			t.Fatalf("%s %q = %d %s", method, body, w.Code, w.Body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q: the answer %q is not JSON", method, body, w.Body)
		}
	})
}

func FuzzCreateTaskBody(f *testing.F) {
	seeds := []string{`{"input":"fuzz"}`, `{"input":"x","model":"openai:gpt-4o?tools=text","limits":{"max_steps":3,"max_duration":"5m"}}`,
		`{"input":"x","limits":{"max_duration":1e300}}`, `{"input":"x","limits":{"max_cost":"NaN"}}`, `{"input":"x","model":"replay:x"}`}
	for _, tt := range createTaskTests {
		seeds = append(seeds, tt.body)
	}
	fuzzTaskBody(f, "POST", func(string, string) string { return "/api/v1/tasks" }, seeds...)
}

func FuzzMessageBody(f *testing.F) {
	fuzzTaskBody(f, "POST", func(_, running string) string { return "/api/v1/tasks/" + running + "/messages" },
		`{"text":"hello"}`, `{"text":""}`, `{"text":123}`, `{"text":"\ud800"}`)
}

func FuzzDecisionBody(f *testing.F) {
	fuzzTaskBody(f, "POST", func(_, running string) string { return "/api/v1/tasks/" + running + "/approvals/ap_1" },
		`{"decision":"allow"}`, `{"decision":"deny"}`, `{"decision":true}`)
}

func FuzzAPTaskBody(f *testing.F) {
	fuzzTaskBody(f, "POST", func(string, string) string { return "/ap/v1/agent/tasks" },
		`{"input":"fuzz","additional_input":{"a":[1,2]}}`, `{"additional_input":"x"}`, `{"input":null}`)
}

func FuzzAPStepBody(f *testing.F) {
	fuzzTaskBody(f, "POST", func(done, _ string) string { return "/ap/v1/agent/tasks/" + done + "/steps" },
		`{"input":"y"}`, `{"input":null,"additional_input":{}}`, `{"input":"done"}`, `{"extra":1}`)
}
