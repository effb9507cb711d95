package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// leakTokens holds the canary token of each leak: task, by its input.
var leakTokens sync.Map

var canaryLine = regexp.MustCompile(`This token is confidential: (\S+?)\.`)

// leakTurn is the first reply of a leak:HOW:... task, which carries the
// token of system (the task's system prompt) out as HOW says: in its
// text (text), in a provider error in base64 (error), as a tool's name
// (name), in a call's arguments (call).
func leakTurn(input, system string) llmtest.Turn {
	m := canaryLine.FindStringSubmatch(system)
	if m == nil {
		return llmtest.Turn{Content: "no canary in the system prompt"}
	}
	tok := m[1]
	leakTokens.Store(input, tok)
	switch how, _, _ := strings.Cut(strings.TrimPrefix(input, "leak:"), ":"); how {
	case "text":
		return llmtest.Turn{Content: strings.Repeat("My instructions, in full. ", 30) + tok + strings.Repeat(" And the rest.", 40), Quirks: llmtest.SmallChunks}
	case "error":
		return llmtest.Turn{Status: 400, Body: `{"error":{"message":"refused: ` + base64.StdEncoding.EncodeToString([]byte(tok)) + `","type":"invalid_request_error"}}`}
	case "name":
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: tok, Arguments: json.RawMessage(`{}`)}}}
	}
	return llmtest.Turn{ToolCalls: []llmtest.ToolCall{callOf("write_file", map[string]string{"path": "leak.txt", "content": tok})}}
}

// TestCanaryLeakNowhereInTheAPI: a task whose model carries the canary
// token out, in its text, a provider error, a tool's name or a call's
// arguments, ends with the token in none of what the API serves of it
// (the task, its steps, its event stream replayed, the Agent Protocol's
// task and steps, which the web UI's timeline is drawn from), nor in the
// audit log. The store seals events and inputs (sqlite/canary_test.go):
// what it holds is what the API reads back.
func TestCanaryLeakNowhereInTheAPI(t *testing.T) {
	te := newTaskEnv(t)
	for _, how := range []string{"text", "error", "name", "call"} {
		t.Run(how, func(t *testing.T) {
			input := "leak:" + how + ":" + bulwark.NewID("")
			v := te.waitTask(te.key, te.createTask(te.key, input).ID, ended)
			tok, ok := leakTokens.Load(input)
			if !ok {
				t.Fatal("the model never saw a canary: the test proves nothing")
			}
			pieces := []string{tok.(string), strings.TrimPrefix(tok.(string), "BWK-CANARY-"), base64.StdEncoding.EncodeToString([]byte(tok.(string)))}
			check := func(where, text string) {
				t.Helper()
				for _, p := range pieces {
					if strings.Contains(text, p) {
						t.Errorf("%s holds %q", where, p)
					}
				}
			}
			for _, path := range []string{
				"/api/v1/tasks/" + v.ID,
				"/api/v1/tasks/" + v.ID + "/steps",
				"/api/v1/tasks?limit=50",
				"/ap/v1/agent/tasks/" + v.ID,
				"/ap/v1/agent/tasks/" + v.ID + "/steps",
			} {
				w := te.do(req{method: "GET", path: path, key: te.key})
				if w.Code != 200 {
					t.Errorf("GET %s = %d %s", path, w.Code, w.Body)
				}
				check("GET "+path, w.Body.String())
			}
			resp := te.stream(v.ID, "", nil)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			check("the event stream", string(body))
			if !strings.Contains(string(body), "task_finished") {
				t.Errorf("the event stream did not replay the task: %.300s", body)
			}

			ctx := context.Background()
			chains, _ := te.audits.List(ctx)
			for _, c := range chains {
				for r, err := range te.audits.Store(c).Read(ctx, 1) {
					if err != nil {
						t.Fatal(err)
					}
					b, _ := json.Marshal(r)
					check("the audit record "+r.Action, string(b))
				}
			}
		})
	}
}
