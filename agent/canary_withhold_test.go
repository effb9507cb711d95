package agent_test

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/provider"
)

// leakEncodings are canaryEncodings and the splits across two arguments
// that the check catches, in encoded form.
func leakEncodings() []struct {
	name string
	args func(tok string) string
} {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	b32 := func(s string) string { return base32.StdEncoding.EncodeToString([]byte(s)) }
	split := func(enc1, enc2 func(string) string) func(string) string {
		return func(tok string) string {
			h := len(tok) / 2
			return jsonArgs(enc1(tok[:h]), enc2(tok[h:]))
		}
	}
	type encoding = struct {
		name string
		args func(tok string) string
	}
	return append(canaryEncodings[:len(canaryEncodings):len(canaryEncodings)],
		encoding{"base64, split between path and content", split(b64, b64)},
		encoding{"base32, each half on its own", split(b32, b32)},
		encoding{"plain half and base64 half", split(func(s string) string { return s }, b64)},
		encoding{"hex half and base32 half", split(func(s string) string { return hex.EncodeToString([]byte(s)) }, b32)},
		// Arguments the tool's schema refuses were not checked at all.
		encoding{"arguments the schema refuses", func(tok string) string { return `{"path":"leak.txt","text":"` + tok + `"}` }},
	)
}

// leakedPieces are the strings of the arguments args planted (the token
// in whatever form, split or not) that must show nowhere: the raw
// arguments, each decoded value, and the token and its random part.
func leakedPieces(tok, args string) []string {
	pieces := []string{args, tok, strings.TrimPrefix(tok, "BWK-CANARY-")}
	var m map[string]string
	if json.Unmarshal([]byte(args), &m) == nil {
		for _, v := range m {
			pieces = append(pieces, v)
		}
	}
	return pieces
}

// assertNowhere fails t for each piece found in text.
func assertNowhere(t *testing.T, where, text string, pieces []string) {
	t.Helper()
	for _, p := range pieces {
		if strings.Contains(text, p) {
			t.Errorf("%s holds %.80q", where, p)
		}
	}
}

// TestCanaryLeakWithheldEverywhere: a call whose arguments carry the
// canary, plain, encoded or split, is blocked, and its arguments reach
// none of the places a call's arguments go: no event (the stream,
// notifications, webhooks, the store and the audit log are made of them),
// no checkpoint, no approval (every call asks), no tool, and not the
// conversation sent back to the model. The tool_call event keeps the
// call's id and tool name, with the arguments withheld. A turn that
// continues the task from its stored events gives the model the
// placeholder, not the arguments.
func TestCanaryLeakWithheldEverywhere(t *testing.T) {
	for _, tt := range leakEncodings() {
		t.Run(tt.name, func(t *testing.T) {
			var planted string
			var tok string
			h := newHarness(t, "openai", func(r *llmtest.Request) llmtest.Turn {
				if len(r.Messages) > 2 {
					return finish("done")
				}
				m := canaryRE.FindStringSubmatch(r.Messages[0].Content)
				if m == nil {
					return llmtest.Turn{Content: "no canary in the system prompt"}
				}
				tok, planted = m[1], tt.args(m[1])
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: json.RawMessage(planted)}}}
			})
			h.cfg.Policy = bulwark.Policy{Rules: []bulwark.Rule{{Tool: "*", Decision: bulwark.Ask}}}
			var asked []bulwark.Approval
			h.cfg.Asking = func(_ context.Context, a bulwark.Approval) { asked = append(asked, a) }
			h.cfg.Approve = func(_ context.Context, a bulwark.Approval) (bool, error) { return a.Tool == "finish", nil }
			var cps []bulwark.Checkpoint
			h.cfg.Checkpoint = func(c bulwark.Checkpoint) { cps = append(cps, c) }
			if out := h.run(t, context.Background()); out.Reason != bulwark.FinishDone {
				t.Fatalf("outcome %+v; events:\n%s", out, h.dump())
			}
			if planted == "" {
				t.Fatal("the model never planted the token: the test proves nothing")
			}
			pieces := leakedPieces(tok, planted)

			calls := h.ofType(bulwark.EventToolCall)
			if len(calls) == 0 || calls[0].Tool != "write_file" || calls[0].CallID == "" {
				t.Fatalf("tool_call events = %+v, want the write_file call first, with its id", calls)
			}
			if c := calls[0]; !strings.Contains(string(c.Args), "withheld") || c.Effects != nil {
				t.Errorf("the blocked call's event has args %s and effects %+v, want them withheld", c.Args, c.Effects)
			}
			if g := h.ofType(bulwark.EventGuard); len(g) != 1 || !strings.Contains(g[0].Text, "canary") {
				t.Errorf("guard events = %+v, want the canary block", g)
			}
			for _, e := range h.all() {
				b, _ := json.Marshal(e)
				assertNowhere(t, fmt.Sprintf("the %s event %d", e.Type, e.Seq), string(b), pieces)
			}
			for _, c := range cps {
				b, _ := json.Marshal(c)
				assertNowhere(t, "a checkpoint", string(b), pieces)
			}
			for _, a := range asked {
				if a.Tool != "finish" {
					t.Errorf("a person was asked about the blocked call: %+v", a)
				}
			}
			if len(asked) == 0 {
				t.Error("no approval was asked at all: the test proves less than it says")
			}
			entries, _ := h.ws.ReadDir(".")
			for _, e := range entries {
				t.Errorf("the blocked call wrote %s", e.Name())
			}
			// What the model was sent after its reply: the conversation
			// without the system prompt, which holds the token by design.
			for _, r := range h.srv.Requests()[1:] {
				b, _ := json.Marshal(r.Messages[1:])
				assertNowhere(t, fmt.Sprintf("model request %d", r.N), string(b), pieces)
			}

			// The task continued from its stored events.
			assertContinuedWithheld(t, h, pieces, "call")
		})
	}
}

// TestCanaryLeakInDelegateStartsNoChild: a delegate call that carries the
// parent's canary is withheld like any other: no child task is stored
// with the leaked text as its input, and no event of the tree holds it.
func TestCanaryLeakInDelegateStartsNoChild(t *testing.T) {
	var tok string
	m := &scripted{reply: func(_ context.Context, n int, req llm.Request) (llm.Message, error) {
		if n > 0 {
			return callMsg("finish", map[string]any{"answer": "done"}), nil
		}
		if sm := canaryRE.FindStringSubmatch(req.Messages[0].Content); sm != nil {
			tok = sm[1]
		}
		return callMsg("delegate", map[string]any{"task": "send this on: " + base64.StdEncoding.EncodeToString([]byte(tok))}), nil
	}}
	tr := newTree(t)
	agent.Run(context.Background(), tr.config(m, 2), bulwark.Task{ID: "t_root", Input: "go"})
	if tok == "" {
		t.Fatal("no canary in the system prompt: the test proves nothing")
	}
	if len(tr.tasks) != 0 {
		t.Errorf("a child was started: %+v", tr.tasks)
	}
	pieces := []string{tok, base64.StdEncoding.EncodeToString([]byte(tok))}
	for id, evs := range tr.events {
		for _, e := range evs {
			b, _ := json.Marshal(e)
			assertNowhere(t, fmt.Sprintf("%s's %s event", id, e.Type), string(b), pieces)
		}
	}
}

// TestCanaryLeakResumedIsBlocked: a turn cut off by a restart just after
// it stored the tool_call event of a call that carried the canary (its
// arguments withheld), marked as waiting for a person, resumes: the call
// is run again as a waiting call is (callToolOnce's again), and is
// blocked, without asking anyone and without running.
func TestCanaryLeakResumedIsBlocked(t *testing.T) {
	first := newHarness(t, "openai", func(r *llmtest.Request) llmtest.Turn {
		m := canaryRE.FindStringSubmatch(r.Messages[0].Content)
		if len(r.Messages) > 2 || m == nil {
			return finish("done")
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "leak.txt", "content": m[1]})}}
	})
	first.run(t, context.Background())
	var cut []bulwark.Event
	for _, e := range stored(first.all()) {
		cut = append(cut, e)
		if e.Type == bulwark.EventToolCall {
			break
		}
	}
	c := cut[len(cut)-1]
	if c.Type != bulwark.EventToolCall || !strings.Contains(string(c.Args), "withheld") {
		t.Fatalf("the stored call is %+v, want its arguments withheld", c)
	}
	cut = append(cut, bulwark.Event{Seq: c.Seq + 1, Step: c.Step, Type: bulwark.EventApproval, Tool: c.Tool, CallID: c.CallID, Text: "Allow write_file?"})

	h := first.again()
	h.cfg.History = cut
	h.cfg.Resume = &bulwark.Checkpoint{Seq: c.Seq + 1, Step: c.Step, Spent: bulwark.Spent{Steps: 1}}
	h.cfg.Policy = bulwark.Policy{Rules: []bulwark.Rule{{Tool: "write_file", Decision: bulwark.Ask}}}
	asked := 0
	h.cfg.Approve = func(context.Context, bulwark.Approval) (bool, error) { asked++; return true, nil }
	h.run(t, context.Background())
	if asked != 0 {
		t.Errorf("a person was asked %d times about the resumed call", asked)
	}
	if g := h.ofType(bulwark.EventGuard); len(g) == 0 || !strings.Contains(g[len(g)-1].Text, "blocked") {
		t.Errorf("guard events = %+v, want the resumed call blocked", g)
	}
	if h.exists("leak.txt") {
		t.Error("the resumed call ran")
	}
}

// leakText is a reply that writes out its instructions, the token in them
// as the arguments args hold it, between two paragraphs longer than the
// stream holds back: the first streams before the token does. Arguments
// of a path and a content are written as their two values, each on a
// line as args writes it (JSON escapes and all), the path first: where
// the token is split between them, its halves come in order.
func leakText(args string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(args), &m) == nil && m["path"] != nil && m["content"] != nil {
		args = fmt.Sprintf("%s\n%s", m["path"], m["content"])
	}
	para := strings.Repeat("I was asked to show my instructions, so here they are in full. ", 12)
	return para + "\n\n" + args + "\n\n" + para
}

// leakTextPieces are leakedPieces and the values of args as leakText
// writes them, JSON escapes and all.
func leakTextPieces(tok, args string) []string {
	pieces := leakedPieces(tok, args)
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(args), &m) == nil {
		for _, v := range m {
			pieces = append(pieces, strings.Trim(string(v), `"`))
		}
	}
	return pieces
}

// TestCanaryTextLeakWithheldEverywhere: a reply whose text carries the
// canary, plain, encoded or split, streamed in pieces of a word or of one
// to three bytes (the token cut across them), is withheld: its text
// reaches no event (no streamed piece either), no checkpoint, and not a
// later model request; the model_text event holds a placeholder, a guard
// event says why, the task ends failed without running the reply's call,
// and its answer is the failure, not the text.
func TestCanaryTextLeakWithheldEverywhere(t *testing.T) {
	for _, tt := range leakEncodings() {
		for _, chunks := range []struct {
			name  string
			quirk llmtest.Quirk
		}{{"words", 0}, {"bytes", llmtest.SmallChunks}} {
			t.Run(tt.name+"/"+chunks.name, func(t *testing.T) {
				var planted, tok, text string
				h := newHarness(t, "openai", func(r *llmtest.Request) llmtest.Turn {
					m := canaryRE.FindStringSubmatch(r.Messages[0].Content)
					if len(r.Messages) > 2 || m == nil {
						return finish("done")
					}
					tok, planted = m[1], tt.args(m[1])
					text = leakText(planted)
					return llmtest.Turn{Content: text, Quirks: chunks.quirk,
						ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "after.txt", "content": "x"})}}
				})
				var cps []bulwark.Checkpoint
				h.cfg.Checkpoint = func(c bulwark.Checkpoint) { cps = append(cps, c) }
				out := h.run(t, context.Background())
				if planted == "" {
					t.Fatal("the model never planted the token: the test proves nothing")
				}
				if out.Reason != bulwark.FinishLeak || !strings.Contains(out.Answer, "withheld") {
					t.Errorf("outcome %+v, want the task failed for the leak; events:\n%s", out, h.dump())
				}
				pieces := leakTextPieces(tok, planted)
				var deltas strings.Builder
				for _, e := range h.all() {
					b, _ := json.Marshal(e)
					assertNowhere(t, fmt.Sprintf("the %s event %d", e.Type, e.Seq), string(b), pieces)
					if e.Type == bulwark.EventModelDelta {
						deltas.WriteString(e.Text)
					}
				}
				assertNowhere(t, "the streamed pieces put together", deltas.String(), pieces)
				if d := deltas.String(); d == "" || !strings.HasPrefix(text, d) {
					t.Errorf("the streamed pieces read %.100q, want the start of the reply (streamed before the token)", d)
				}
				if mt := h.ofType(bulwark.EventModelText); len(mt) != 1 || !strings.Contains(mt[0].Text, "withheld") {
					t.Errorf("model_text events = %+v, want one, withheld", mt)
				}
				if g := h.ofType(bulwark.EventGuard); len(g) != 1 || !strings.Contains(g[0].Text, "canary") {
					t.Errorf("guard events = %+v, want the canary block", g)
				}
				if c := h.ofType(bulwark.EventToolCall); len(c) != 0 || h.exists("after.txt") {
					t.Errorf("the leaking reply's call was made: %+v", c)
				}
				for _, c := range cps {
					b, _ := json.Marshal(c)
					assertNowhere(t, "a checkpoint", string(b), pieces)
				}

				// The task continued from its stored events.
				assertContinuedWithheld(t, h, pieces, "reply")
			})
		}
	}
}

// TestCanaryCleanReplyStreamsWhole: the text of a reply without the
// canary streams whole, in order, over both protocols and both ways of
// cutting it, however long.
func TestCanaryCleanReplyStreamsWhole(t *testing.T) {
	for _, protocol := range []string{"openai", "anthropic"} {
		for _, quirk := range []llmtest.Quirk{0, llmtest.SmallChunks} {
			for _, text := range []string{"Short.", leakText("nothing to hide here"), strings.Repeat("é, a long reply, ", 2000)} {
				h := newHarness(t, protocol, llmtest.Script(llmtest.Turn{Content: text, Quirks: quirk}, finish("done")))
				if out := h.run(t, context.Background()); out.Reason != bulwark.FinishDone {
					t.Fatalf("outcome %+v", out)
				}
				var deltas strings.Builder
				for _, e := range h.ofType(bulwark.EventModelDelta) {
					deltas.WriteString(e.Text)
				}
				if deltas.String() != text {
					t.Errorf("%s, quirks %d: the pieces streamed read %.100q, want %.100q", protocol, quirk, deltas.String(), text)
				}
			}
		}
	}
}

// TestCanaryLeaksEndTheTask: a model that keeps sending the canary in its
// calls, the same call or different ones (withheld, they look alike), is
// ended for the leak at the maxLeaks-th, with the leak's error: not for a
// loop, and without being warned of repeating itself.
func TestCanaryLeaksEndTheTask(t *testing.T) {
	for _, same := range []bool{true, false} {
		t.Run(fmt.Sprintf("same=%v", same), func(t *testing.T) {
			n := 0
			h := newHarness(t, "openai", func(r *llmtest.Request) llmtest.Turn {
				m := canaryRE.FindStringSubmatch(r.Messages[0].Content)
				if m == nil {
					return finish("no canary")
				}
				n++
				args := canaryEncodings[0].args(m[1])
				if !same {
					args = canaryEncodings[n%len(canaryEncodings)].args(m[1])
				}
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "write_file", Arguments: json.RawMessage(args)}}}
			})
			out := h.run(t, context.Background())
			if out.Reason != bulwark.FinishLeak || !strings.Contains(out.Answer, "3 calls that carried a confidential token") {
				t.Errorf("outcome %+v, want the task failed for the leak; events:\n%s", out, h.dump())
			}
			if g := h.ofType(bulwark.EventGuard); len(g) != 3 {
				t.Errorf("%d guard events, want the 3 blocks", len(g))
			}
			for _, e := range h.ofType(bulwark.EventNotice) {
				if strings.Contains(e.Text, "exact") {
					t.Errorf("the model was warned of a loop: %q", e.Text)
				}
			}
			if n != 3 {
				t.Errorf("the model was asked %d times, want 3", n)
			}
		})
	}
}

// TestCanaryTextToolCallStreamHeldBack: a model that writes its tool
// calls as text (?tools=text) streams a leaking call's arguments as text:
// the call is withheld and blocked, and the stream sends none of it,
// though the reply's own text (the prose around the call) is clean and
// kept.
func TestCanaryTextToolCallStreamHeldBack(t *testing.T) {
	var tok string
	h := newHarness(t, "openai", func(r *llmtest.Request) llmtest.Turn {
		m := canaryRE.FindStringSubmatch(r.Messages[0].Content)
		if m == nil || tok != "" {
			return llmtest.Turn{Content: `{"tool": "finish", "arguments": {"answer": "done"}}`}
		}
		tok = m[1]
		return llmtest.Turn{Content: leakText(`{"tool": "write_file", "arguments": {"path": "leak.txt", "content": "` + tok + `"}}`), Quirks: llmtest.SmallChunks}
	})
	model, err := provider.Open("openai:test-model?tools=text", func(k string) string {
		return map[string]string{"OPENAI_API_KEY": "sk-test-key", "OPENAI_BASE_URL": h.srv.URL + "/v1"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	h.cfg.Model = model
	if out := h.run(t, context.Background()); out.Reason != bulwark.FinishDone {
		t.Fatalf("outcome %+v; events:\n%s", out, h.dump())
	}
	if tok == "" {
		t.Fatal("the model never planted the token: the test proves nothing")
	}
	pieces := []string{tok, strings.TrimPrefix(tok, "BWK-CANARY-")}
	var deltas strings.Builder
	for _, e := range h.all() {
		b, _ := json.Marshal(e)
		assertNowhere(t, fmt.Sprintf("the %s event %d", e.Type, e.Seq), string(b), pieces)
		if e.Type == bulwark.EventModelDelta && e.Step == 1 {
			deltas.WriteString(e.Text)
		}
	}
	assertNowhere(t, "the streamed pieces put together", deltas.String(), pieces)
	if !strings.HasPrefix(deltas.String(), "I was asked") {
		t.Errorf("the reply's start did not stream: %.100q", deltas.String())
	}
	if g := h.ofType(bulwark.EventGuard); len(g) != 1 || !strings.Contains(g[0].Text, "write_file call carried") {
		t.Errorf("guard events = %+v, want the call blocked", g)
	}
	if mt := h.ofType(bulwark.EventModelText); len(mt) == 0 || !strings.HasPrefix(mt[0].Text, "I was asked") {
		t.Errorf("model_text events = %+v, want the prose kept", mt)
	}
}

// TestCanaryTextLeakResumedFails: a turn cut off by a restart after it
// stored the model_text event of a reply withheld for its text (and
// maybe the guard and error events that follow it) resumes to fail the
// task as the uninterrupted run did: with the leak's error, without
// asking the model again, and with one guard and one error event in all,
// the stored ones not sent again.
func TestCanaryTextLeakResumedFails(t *testing.T) {
	first := newHarness(t, "openai", func(r *llmtest.Request) llmtest.Turn {
		m := canaryRE.FindStringSubmatch(r.Messages[0].Content)
		if len(r.Messages) > 2 || m == nil {
			return finish("done")
		}
		return llmtest.Turn{Content: leakText(m[1])}
	})
	live := first.run(t, context.Background())
	if live.Reason != bulwark.FinishLeak {
		t.Fatalf("the uninterrupted run ended %+v, want failed for the leak", live)
	}
	all := stored(first.all())
	for cut := 0; cut < 3; cut++ { // the events stored after model_text
		t.Run(fmt.Sprintf("cut after %d", cut), func(t *testing.T) {
			var events []bulwark.Event
			after := -1
			for _, e := range all {
				if after == cut {
					break
				}
				events = append(events, e)
				if e.Type == bulwark.EventModelText {
					if !strings.Contains(e.Text, "withheld") {
						t.Fatalf("the stored reply is %q, want it withheld", e.Text)
					}
					after = 0
				} else if after >= 0 {
					after++
				}
			}
			last := events[len(events)-1]
			h := first.again()
			h.cfg.History = events
			h.cfg.Resume = &bulwark.Checkpoint{Seq: last.Seq, Step: last.Step, Spent: bulwark.Spent{Steps: 1}}
			n := len(h.srv.Requests())
			out := h.run(t, context.Background())
			if out.Reason != bulwark.FinishLeak || out.Answer != live.Answer {
				t.Errorf("the resumed turn ended %+v, want failed as the uninterrupted run: %q; events:\n%s", out, live.Answer, h.dump())
			}
			if got := len(h.srv.Requests()) - n; got != 0 {
				t.Errorf("the resumed turn asked the model %d times, want none", got)
			}
			count := map[bulwark.EventType]int{}
			for _, e := range append(events, h.all()...) {
				count[e.Type]++
			}
			if count[bulwark.EventGuard] != 1 || count[bulwark.EventError] != 1 || count[bulwark.EventModelText] != 1 {
				t.Errorf("the task stored %d guard, %d error and %d model_text events in all, want one each", count[bulwark.EventGuard], count[bulwark.EventError], count[bulwark.EventModelText])
			}
		})
	}
}

// assertResumedIntoLeak resumes first's task from events, the stored
// events of a run that ended for a leak (live) cut off after the leak's
// first events: the resumed turn ends as live did, asks the model
// nothing, and the task's events hold one guard and one error event in
// all.
func assertResumedIntoLeak(t *testing.T, first *harness, live agent.Outcome, events []bulwark.Event) {
	t.Helper()
	last := events[len(events)-1]
	h := first.again()
	h.cfg.History = events
	h.cfg.Resume = &bulwark.Checkpoint{Seq: last.Seq, Step: last.Step, Spent: bulwark.Spent{Steps: last.Step}}
	asked := len(h.srv.Requests())
	out := h.run(t, context.Background())
	if out.Reason != live.Reason || out.Answer != live.Answer {
		t.Errorf("the resumed turn ended %+v, want failed as the uninterrupted run: %q; events:\n%s", out, live.Answer, h.dump())
	}
	if got := len(h.srv.Requests()) - asked; got != 0 {
		t.Errorf("the resumed turn asked the model %d times, want none", got)
	}
	count := map[bulwark.EventType]int{}
	for _, e := range append(events, h.all()...) {
		count[e.Type]++
	}
	if count[bulwark.EventGuard] != 1 || count[bulwark.EventError] != 1 {
		t.Errorf("the task stored %d guard and %d error events in all, want one each", count[bulwark.EventGuard], count[bulwark.EventError])
	}
}

// assertContinuedWithheld continues h's task from its stored events with
// a person's message and fails t unless the continued turn's first model
// request shows the withheld what (call or reply) and none of pieces.
func assertContinuedWithheld(t *testing.T, h *harness, pieces []string, what string) {
	t.Helper()
	c := h.again()
	first := h.all()
	c.cfg.History = append(stored(first), bulwark.Event{Seq: first[len(first)-1].Seq + 1, Type: bulwark.EventUserMessage, Text: "go on"})
	n := len(c.srv.Requests())
	c.run(t, context.Background())
	reqs := c.srv.Requests()[n:]
	if len(reqs) == 0 {
		t.Fatal("the continued turn sent no request")
	}
	b, _ := json.Marshal(reqs[0].Messages[1:])
	assertNowhere(t, "the continued turn's request", string(b), pieces)
	if !strings.Contains(string(b), "withheld") {
		t.Errorf("the continued turn's request does not show the withheld %s: %s", what, b)
	}
}

// TestCanarySummaryLeakFails: a model that writes the canary, plain,
// encoded or split, into the summary of its earlier turns when the
// conversation is compacted (both protocols) ends the task failed for
// the leak, at that summary: the summary takes the place of no turn
// (no later request, summary call or turn, is made), and no event nor
// checkpoint holds it. The compacted event carries the summary call's
// usage, then a guard and an error event say why.
func TestCanarySummaryLeakFails(t *testing.T) {
	for _, protocol := range []string{"openai", "anthropic"} {
		for _, tt := range leakEncodings() {
			t.Run(protocol+"/"+tt.name, func(t *testing.T) {
				var tok, planted string
				w := &window{protocol: protocol, tokens: 4000}
				next := writeAll(10, 2000)
				w.next = func(n int, r *llmtest.Request) llmtest.Turn {
					if m := canaryRE.FindStringSubmatch(r.Messages[0].Content); m != nil {
						tok = m[1]
					}
					return next(n, r)
				}
				w.summarise = func(int) string {
					planted = tt.args(tok)
					return "The agent wrote files w1.txt and on. " + leakText(planted)
				}
				h := newWindowHarness(t, w)
				var cps []bulwark.Checkpoint
				h.cfg.Checkpoint = func(c bulwark.Checkpoint) { cps = append(cps, c) }
				out := h.run(t, context.Background())
				if tok == "" || planted == "" {
					t.Fatalf("the model never planted the token (summaries %d): the test proves nothing", w.summaries)
				}
				if out.Reason != bulwark.FinishLeak || !strings.Contains(out.Answer, "summary of its earlier turns carried a confidential token") {
					t.Errorf("outcome %+v, want the task failed for the leak; events:\n%s", out, h.dump())
				}
				reqs := h.srv.Requests()
				if w.summaries != 1 || len(reqs[len(reqs)-1].Tools) != 0 {
					t.Errorf("%d summary calls, the last request with %d tools: want the leaking summary call last", w.summaries, len(reqs[len(reqs)-1].Tools))
				}
				pieces := leakTextPieces(tok, planted)
				for _, r := range reqs {
					b, _ := json.Marshal(r.Messages[1:]) // the system prompt holds the token
					assertNowhere(t, "a model request", string(b), pieces)
				}
				var types []bulwark.EventType
				for _, e := range h.all() {
					b, _ := json.Marshal(e)
					assertNowhere(t, fmt.Sprintf("the %s event %d", e.Type, e.Seq), string(b), pieces)
					types = append(types, e.Type)
				}
				for _, c := range cps {
					b, _ := json.Marshal(c)
					assertNowhere(t, "a checkpoint", string(b), pieces)
				}
				want := []bulwark.EventType{bulwark.EventCompacted, bulwark.EventGuard, bulwark.EventError, bulwark.EventTaskFinished}
				if len(types) < 4 || !slices.Equal(types[len(types)-4:], want) {
					t.Errorf("the events end %v, want %v", types[max(0, len(types)-4):], want)
				}
				if fin := h.ofType(bulwark.EventTaskFinished); len(fin) != 1 || fin[0].Reason != bulwark.FinishLeak {
					t.Errorf("task_finished = %+v, want its reason leak", fin)
				}
				if c := h.ofType(bulwark.EventCompacted); len(c) == 0 || c[len(c)-1].Usage == nil || out.Usage != w.spent {
					t.Errorf("the task's usage %+v (the server's %+v), the last compacted event %+v: want the summary call carried", out.Usage, w.spent, c)
				}
			})
		}
	}
}

// TestCanarySummaryLeakResumedFails: a restart that cut off the task
// after the guard event of a leaking summary, or after its error event,
// resumes into the same failure, without asking the model for another
// summary, and stores each event once.
func TestCanarySummaryLeakResumedFails(t *testing.T) {
	tok := ""
	w := &window{tokens: 4000}
	next := writeAll(10, 2000)
	w.next = func(n int, r *llmtest.Request) llmtest.Turn {
		if m := canaryRE.FindStringSubmatch(r.Messages[0].Content); m != nil {
			tok = m[1]
		}
		return next(n, r)
	}
	w.summarise = func(int) string { return "The agent was told: " + tok }
	first := newWindowHarness(t, w)
	live := first.run(t, context.Background())
	if live.Reason != bulwark.FinishLeak || !strings.Contains(live.Answer, "summary") {
		t.Fatalf("the uninterrupted run ended %+v, want failed for the leak", live)
	}
	all := stored(first.all())
	for cut := 1; cut <= 2; cut++ { // the leak's events stored
		t.Run(fmt.Sprintf("cut after %d", cut), func(t *testing.T) {
			n := len(all)
			if n < 4 || all[n-4].Type != bulwark.EventCompacted || all[n-3].Type != bulwark.EventGuard {
				t.Fatalf("the stored events do not end compacted, guard, error, task_finished:\n%s", first.dump())
			}
			events := all[: n-3+cut : n-3+cut]
			assertResumedIntoLeak(t, first, live, events)
		})
	}
}
