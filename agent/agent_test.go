package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/workspace"
)

// harness runs the real loop against the fake provider server over HTTP,
// with the real file tools in a temporary workspace.
type harness struct {
	srv *llmtest.Server
	ws  *workspace.Workspace
	cfg agent.Config

	mu     sync.Mutex
	events []bulwark.Event
}

// newHarness starts a fake server answering with h, speaking protocol
// ("openai" or "anthropic").
func newHarness(t *testing.T, protocol string, h llmtest.Handler) *harness {
	t.Helper()
	srv := llmtest.NewServer(h)
	t.Cleanup(srv.Close)
	vars := map[string]string{
		"OPENAI_API_KEY":     "sk-test-key",
		"OPENAI_BASE_URL":    srv.URL + "/v1",
		"ANTHROPIC_API_KEY":  "sk-ant-test-key",
		"ANTHROPIC_BASE_URL": srv.URL,
	}
	model, err := provider.Open(protocol+":test-model", func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	hs := &harness{srv: srv, ws: ws}
	hs.cfg = agent.Config{
		Model: model,
		Tools: tool.NewRegistry(append(files.Tools(), interact.Finish(), interact.AskUser())...),
		Env:   &tool.Env{Workspace: ws},
		Sink: func(e bulwark.Event) {
			hs.mu.Lock()
			hs.events = append(hs.events, e)
			hs.mu.Unlock()
		},
	}
	return hs
}

func (h *harness) run(t *testing.T, ctx context.Context) agent.Outcome {
	t.Helper()
	out, err := agent.Run(ctx, h.cfg, bulwark.Task{ID: "t_test", Input: "do the task"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return out
}

// ofType returns the events of type typ.
func (h *harness) ofType(typ bulwark.EventType) []bulwark.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []bulwark.Event
	for _, e := range h.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func call(name string, args any) llmtest.ToolCall {
	b, err := json.Marshal(args)
	if err != nil {
		panic(err)
	}
	return llmtest.ToolCall{Name: name, Arguments: b}
}

func finish(answer string) llmtest.Turn {
	return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": answer})}}
}

func TestFinishOverBothProtocols(t *testing.T) {
	for _, protocol := range []string{"openai", "anthropic"} {
		t.Run(protocol, func(t *testing.T) {
			h := newHarness(t, protocol, llmtest.Script(
				llmtest.Turn{Content: "Writing the file.", ToolCalls: []llmtest.ToolCall{
					call("write_file", map[string]string{"path": "out/a.txt", "content": "hello"}),
				}},
				llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("read_file", map[string]string{"path": "out/a.txt"})}},
				finish("wrote out/a.txt"),
			))
			out := h.run(t, context.Background())
			if out.Reason != bulwark.FinishDone || out.Answer != "wrote out/a.txt" || out.Steps != 3 {
				t.Fatalf("outcome = %+v, want done with the answer after 3 steps", out)
			}
			got, err := h.ws.ReadFile("out/a.txt")
			if err != nil || string(got) != "hello" {
				t.Errorf("out/a.txt = %q, %v; want %q", got, err, "hello")
			}
			// The model saw the file's content in the result of read_file.
			reqs := h.srv.Requests()
			last := reqs[len(reqs)-1].Messages
			if m := last[len(last)-1]; !strings.Contains(m.Content, "hello") {
				t.Errorf("last message to the model = %+v, want the read_file result holding %q", m, "hello")
			}
			checkEventOrder(t, h)
		})
	}
}

// checkEventOrder checks the invariants of every event stream: increasing
// Seq from 1, task_started first, task_finished last and only once.
func checkEventOrder(t *testing.T, h *harness) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, e := range h.events {
		if e.Seq != int64(i+1) {
			t.Fatalf("event %d has Seq %d, want %d", i, e.Seq, i+1)
		}
		if e.TaskID != "t_test" {
			t.Fatalf("event %d has TaskID %q", i, e.TaskID)
		}
	}
	if n := len(h.events); n < 2 || h.events[0].Type != bulwark.EventTaskStarted || h.events[n-1].Type != bulwark.EventTaskFinished {
		t.Fatalf("events do not start with task_started and end with task_finished: %v", types(h.events))
	}
}

func types(es []bulwark.Event) []bulwark.EventType {
	out := make([]bulwark.EventType, len(es))
	for i, e := range es {
		out[i] = e.Type
	}
	return out
}

func TestQuirkyStreamsStillRunTools(t *testing.T) {
	quirks := []llmtest.Quirk{
		llmtest.WholeToolCall, llmtest.NoIndex, llmtest.NoID, llmtest.StopWithToolCalls,
		llmtest.SmallChunks, llmtest.ArgumentsObject, llmtest.Buffered, llmtest.NoIndex | llmtest.NoID | llmtest.StopWithToolCalls,
	}
	for _, q := range quirks {
		t.Run(fmt.Sprint(q), func(t *testing.T) {
			h := newHarness(t, "openai", llmtest.Script(
				llmtest.Turn{Content: "Two files at once.", Quirks: q, ToolCalls: []llmtest.ToolCall{
					call("write_file", map[string]string{"path": "a.txt", "content": "A"}),
					call("write_file", map[string]string{"path": "b.txt", "content": "B"}),
				}},
				llmtest.Turn{Quirks: q, ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}},
			))
			if out := h.run(t, context.Background()); out.Reason != bulwark.FinishDone {
				t.Fatalf("outcome = %+v, want done", out)
			}
			for name, want := range map[string]string{"a.txt": "A", "b.txt": "B"} {
				if got, err := h.ws.ReadFile(name); err != nil || string(got) != want {
					t.Errorf("%s = %q, %v; want %q", name, got, err, want)
				}
			}
		})
	}
}

func TestStepBudget(t *testing.T) {
	n := 0
	h := newHarness(t, "openai", func(*llmtest.Request) llmtest.Turn {
		n++ // each turn writes a new file, so this is no loop
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": fmt.Sprintf("f%d.txt", n), "content": "x"})}}
	})
	h.cfg.Limits.MaxSteps = 3
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishMaxSteps || out.Steps != 3 || h.srv.Count() != 3 {
		t.Fatalf("outcome = %+v after %d model calls, want max_steps after 3", out, h.srv.Count())
	}
	checkEventOrder(t, h)
}

func TestTokenBudget(t *testing.T) {
	n := 0
	h := newHarness(t, "openai", func(*llmtest.Request) llmtest.Turn {
		n++
		return llmtest.Turn{Usage: bulwark.Usage{InputTokens: 600, OutputTokens: 100},
			ToolCalls: []llmtest.ToolCall{call("list_files", map[string]any{"path": fmt.Sprint(".", strings.Repeat("/.", n))})}}
	})
	h.cfg.Limits.MaxTokens = 2000
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishMaxTokens || out.Steps != 3 || out.Usage.InputTokens != 1800 {
		t.Fatalf("outcome = %+v, want max_tokens after 3 steps of 700 tokens", out)
	}
}

func TestCostBudget(t *testing.T) {
	n := 0
	h := newHarness(t, "openai", func(*llmtest.Request) llmtest.Turn {
		n++
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": fmt.Sprintf("f%d", n), "content": "x"})}}
	})
	// The fake server reports no cost, so wrap the model to add one.
	h.cfg.Model = costly{h.cfg.Model, 0.25}
	h.cfg.Limits.MaxCost = 0.6
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishMaxCost || out.Steps != 3 {
		t.Fatalf("outcome = %+v, want max_cost after 3 steps at $0.25", out)
	}
}

func TestTimeBudget(t *testing.T) {
	h := newHarness(t, "openai", func(*llmtest.Request) llmtest.Turn {
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	h.cfg.Limits.MaxDuration = 200 * time.Millisecond
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishTimeout {
		t.Fatalf("outcome = %+v, want timeout", out)
	}
}

func TestCancellationStopsAHangingStream(t *testing.T) {
	started := make(chan struct{})
	var once sync.Once
	h := newHarness(t, "openai", func(*llmtest.Request) llmtest.Turn {
		once.Do(func() { close(started) })
		return llmtest.Turn{Content: "streaming forever", Hang: true}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan agent.Outcome, 1)
	go func() { done <- h.run(t, ctx) }()
	<-started
	cancel()
	select {
	case out := <-done:
		if out.Reason != bulwark.FinishCanceled {
			t.Fatalf("outcome = %+v, want canceled", out)
		}
	case <-time.After(10 * time.Second): // a hang guard, not a speed assertion
		t.Fatal("the loop did not stop after cancellation")
	}
	checkEventOrder(t, h)
}

func TestLoopDetection(t *testing.T) {
	same := llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("list_files", map[string]any{})}}
	h := newHarness(t, "openai", llmtest.Script(same, same, same, same, finish("never reached")))
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishLoop || out.Steps != 4 {
		t.Fatalf("outcome = %+v, want loop after 4 steps", out)
	}
	if got := len(h.ofType(bulwark.EventToolResult)); got != 3 {
		t.Errorf("%d tool results, want 3 (the fourth repeat is not run)", got)
	}
	// The model was told after the third repeat, before its fourth turn.
	reqs := h.srv.Requests()
	msgs := reqs[3].Messages
	if last := msgs[len(msgs)-1]; !strings.Contains(last.Content, "3 times in a row") {
		t.Errorf("fourth request ends with %+v, want the repeat warning", last)
	}
}

func TestLoopDetectionIgnoresKeyOrderAndSpacing(t *testing.T) {
	mk := func(args string) llmtest.Turn {
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "read_file", Arguments: json.RawMessage(args)}}}
	}
	h := newHarness(t, "openai", llmtest.Script(
		mk(`{"path":"x","limit":1}`), mk(`{"limit":1,"path":"x"}`), mk(`{ "path" : "x", "limit" : 1 }`), mk(`{"limit": 1, "path": "x"}`),
	))
	if out := h.run(t, context.Background()); out.Reason != bulwark.FinishLoop {
		t.Fatalf("outcome = %+v, want loop", out)
	}
}

func TestToolErrorsGoBackToTheModel(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{
			{Name: "write_file", Arguments: json.RawMessage(`{"pth": "a.txt", "content": "x"}`)},
			{Name: "read_file", Arguments: json.RawMessage(`{"path": "../../etc/passwd"}`)},
			{Name: "no_such_tool", Arguments: json.RawMessage(`{}`)},
			{Name: "write_file", Arguments: json.RawMessage(`{"path": 5, "content": "x"`)},
		}},
		finish("gave up"),
	))
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishDone {
		t.Fatalf("outcome = %+v, want done: tool errors must not end the task", out)
	}
	results := h.ofType(bulwark.EventToolResult)
	wants := []string{`unknown field "pth"`, "leaves the workspace", `there is no tool "no_such_tool"`, "invalid arguments for write_file"}
	if len(results) < len(wants) {
		t.Fatalf("got %d tool results, want at least %d", len(results), len(wants))
	}
	for i, want := range wants {
		if !results[i].IsError || !strings.Contains(results[i].Text, want) {
			t.Errorf("result %d = %q (error %v), want an error containing %q", i, results[i].Text, results[i].IsError, want)
		}
	}
	// Arguments that are not JSON are kept as a JSON string of their text,
	// which a store can hold (red team, session 42: as sent, the event
	// could not be stored, and the task stopped as if canceled).
	for _, e := range h.ofType(bulwark.EventToolCall) {
		if !json.Valid(e.Args) {
			t.Errorf("tool call event with arguments that are not JSON: %q", e.Args)
		}
	}
	// Each error reached the model as a tool message answering its call.
	msgs := h.srv.Requests()[1].Messages
	tools := 0
	for _, m := range msgs {
		if m.Role == "tool" {
			tools++
		}
	}
	if tools != 4 {
		t.Errorf("second request holds %d tool results, want 4", tools)
	}
}

func TestOversizedOutputIsSavedToTheWorkspace(t *testing.T) {
	big := strings.Repeat("0123456789abcdef\n", 2000) // 34,000 bytes
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "big.txt", "content": big})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("read_file", map[string]any{"path": "big.txt"})}},
		finish("done"),
	))
	h.cfg.Limits.MaxOutput = 4096
	if out := h.run(t, context.Background()); out.Reason != bulwark.FinishDone {
		t.Fatalf("outcome = %+v, want done", out)
	}
	res := h.ofType(bulwark.EventToolResult)[1]
	if len(res.Text) > 4096+300 || !strings.Contains(res.Text, "output cut") {
		t.Fatalf("read_file result is %d bytes without a cut notice, want it cut to the 4096-byte limit", len(res.Text))
	}
	_, after, ok := strings.Cut(res.Text, `workspace file "`)
	name, _, _ := strings.Cut(after, `"`)
	if !ok || name == "" {
		t.Fatalf("the cut notice names no file: %q", res.Text[len(res.Text)-200:])
	}
	saved, err := h.ws.ReadFile(name)
	if err != nil {
		t.Fatalf("reading the saved output %q: %v", name, err)
	}
	if !strings.Contains(string(saved), "0123456789abcdef") || len(saved) <= 4096 {
		t.Errorf("saved output is %d bytes, want the whole read_file result", len(saved))
	}
}

func TestMessagesFromAPersonReachTheModel(t *testing.T) {
	inbox := make(chan string, 1)
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("list_files", map[string]any{})}},
		finish("ok"),
	))
	h.cfg.Inbox = inbox
	h.cfg.Sink = agent.Tee(h.cfg.Sink, func(e bulwark.Event) {
		if e.Type == bulwark.EventToolResult {
			select {
			case inbox <- "please also say hi":
			default:
			}
		}
	})
	h.run(t, context.Background())
	msgs := h.srv.Requests()[1].Messages
	if last := msgs[len(msgs)-1]; last.Role != "user" || !strings.Contains(last.Content, "please also say hi") {
		t.Errorf("second request ends with %+v, want the person's message", last)
	}
	if len(h.ofType(bulwark.EventUserMessage)) != 1 {
		t.Errorf("want one user_message event")
	}
}

func TestTextWithoutToolsIsNudgedThenEnds(t *testing.T) {
	h := newHarness(t, "openai", func(*llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "I am just chatting."} })
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishError || h.srv.Count() != 3 {
		t.Fatalf("outcome = %+v after %d calls, want an error after 3 text-only replies", out, h.srv.Count())
	}
	if got := len(h.ofType(bulwark.EventNotice)); got != 2 {
		t.Errorf("%d notices, want 2 nudges", got)
	}
}

func TestModelFailureEndsTheTaskWithAClearReason(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(llmtest.Turn{Status: 401}))
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishError || !strings.Contains(out.Answer, "openai") || strings.Contains(out.Answer, "sk-test-key") {
		t.Fatalf("outcome = %+v, want an error naming the provider and not the key", out)
	}
}

func TestAskUser(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("ask_user", map[string]string{"question": "Which name?"})}},
		finish("ok"),
	))
	h.cfg.Env.Ask = func(_ context.Context, q string) (string, error) { return "Ada, for " + q, nil }
	h.run(t, context.Background())
	asks := h.ofType(bulwark.EventAskUser)
	if len(asks) != 1 || asks[0].Text != "Which name?" {
		t.Fatalf("ask_user events = %+v", asks)
	}
	msgs := h.srv.Requests()[1].Messages
	if last := msgs[len(msgs)-1]; !strings.Contains(last.Content, "Ada, for Which name?") {
		t.Errorf("the model got %+v, want the answer", last)
	}
}

// The usage of every model reply is on one event, a reply of tool calls
// alone included, so that the events add up to the task's total (which a
// store sums across the turns of a conversation).
func TestEventsCarryEveryReplysUsage(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{Content: "let me look", ToolCalls: []llmtest.ToolCall{call("list_files", map[string]string{})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("list_files", map[string]string{"path": "."})}},
		finish("done"),
	))
	h.run(t, context.Background())
	var sum bulwark.Usage
	var total *bulwark.Usage
	h.mu.Lock()
	for _, e := range h.events {
		switch {
		case e.Usage == nil:
		case e.Type == bulwark.EventTaskFinished:
			total = e.Usage
		default:
			sum.Add(*e.Usage)
		}
	}
	h.mu.Unlock()
	if total == nil || total.Tokens() == 0 {
		t.Fatalf("the task's total usage %+v: want some", total)
	}
	if sum != *total {
		t.Errorf("the events' usage adds up to %+v, want the task's %+v", sum, *total)
	}
}
