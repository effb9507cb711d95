package agent_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// TestCanarySplitAcrossCallsWithheld: a reply whose calls carry the
// canary together, a piece in each, and none whole (two fetches, each
// with half of it), has all its calls withheld: none runs, no event holds
// a piece.
func TestCanarySplitAcrossCallsWithheld(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	write := func(path, content string) llmtest.ToolCall {
		return call("write_file", map[string]string{"path": path, "content": content})
	}
	for _, tt := range []struct {
		name  string
		calls func(tok string) []llmtest.ToolCall
	}{
		{"the same argument of two calls", func(tok string) []llmtest.ToolCall {
			return []llmtest.ToolCall{write("a.txt", tok[:len(tok)/2]), write("b.txt", tok[len(tok)/2:])}
		}},
		{"a third in each of three calls, in URLs", func(tok string) []llmtest.ToolCall {
			n := len(tok) / 3
			return []llmtest.ToolCall{
				write("a.txt", "https://x.example/?p="+tok[:n]), write("b.txt", "https://x.example/?p="+tok[n:2*n]),
				write("c.txt", "https://x.example/?p="+tok[2*n:]),
			}
		}},
		{"each half base64", func(tok string) []llmtest.ToolCall {
			return []llmtest.ToolCall{write("a.txt", b64(tok[:len(tok)/2])), write("b.txt", b64(tok[len(tok)/2:]))}
		}},
		{"the end of one call and the start of the next", func(tok string) []llmtest.ToolCall {
			raw := func(args string) llmtest.ToolCall {
				return llmtest.ToolCall{Name: "write_file", Arguments: json.RawMessage(args)}
			}
			return []llmtest.ToolCall{
				raw(`{"path":"a.txt","content":"` + tok[:len(tok)/2] + `"}`),
				raw(`{"path":"` + tok[len(tok)/2:] + `.txt","content":"x"}`),
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var tok string
			var planted []llmtest.ToolCall
			h := newHarness(t, "openai", func(r *llmtest.Request) llmtest.Turn {
				m := canaryRE.FindStringSubmatch(r.Messages[0].Content)
				if len(r.Messages) > 2 || m == nil {
					return finish("done")
				}
				tok, planted = m[1], tt.calls(m[1])
				return llmtest.Turn{ToolCalls: planted}
			})
			h.run(t, context.Background())
			if tok == "" {
				t.Fatal("the model never planted the token: the test proves nothing")
			}
			pieces := []string{tok}
			for _, c := range planted {
				for _, piece := range []string{"BWK-CANARY-", tok[len(tok)-6:]} {
					if strings.Contains(string(c.Arguments), piece) {
						pieces = append(pieces, piece)
					}
				}
				var args map[string]string
				json.Unmarshal(c.Arguments, &args)
				for _, v := range args {
					if len(v) > 6 && v != "https://x.example/?p=" {
						pieces = append(pieces, v)
					}
				}
			}
			if entries, _ := h.ws.ReadDir("."); len(entries) != 0 {
				t.Errorf("a call ran: the workspace holds %d files", len(entries))
			}
			var calls []bulwark.Event
			for _, c := range h.ofType(bulwark.EventToolCall) {
				if c.Tool != "finish" {
					calls = append(calls, c)
				}
			}
			if len(calls) != len(planted) {
				t.Fatalf("%d tool_call events, want %d", len(calls), len(planted))
			}
			for _, c := range calls {
				if !strings.Contains(string(c.Args), "withheld") {
					t.Errorf("call %s's event has args %s, want them withheld", c.CallID, c.Args)
				}
			}
			for _, e := range h.all() {
				b, _ := json.Marshal(e)
				assertNowhere(t, fmt.Sprintf("the %s event %d", e.Type, e.Seq), string(b), pieces)
			}
		})
	}
}
