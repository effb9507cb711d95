package agent_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/workspace"
)

// window is a fake OpenAI-compatible server with a small context window:
// a request counts len(body)/4 tokens, and one over the window is refused
// with context_length_exceeded, as OpenAI does. Summary calls (no tools)
// are answered with a fixed summary; the agent's turns by next.
type window struct {
	protocol string // "openai" (default) or "anthropic"
	tokens   int
	per      int                                            // characters a token; 0: 4
	next     func(n int, req *llmtest.Request) llmtest.Turn // n: the agent turns answered, from 1
	// refuse, when set, refuses the agent's request n as too long.
	refuse func(n int) bool
	// summarise, when set, writes the summary of summary call n (from
	// 1) in place of the fixed one.
	summarise func(n int) string

	mu        sync.Mutex
	turns     int           // agent turns answered
	refused   int           // requests refused as too long
	summaries int           // summary calls answered
	spent     bulwark.Usage // usage reported, all answers
	summary   bulwark.Usage // usage reported for summary calls
	biggest   int           // tokens of the biggest request answered
	// before is what had been spent when the first summary call came.
	before bulwark.Usage
}

const tooLongBody = `{"error":{"message":"This model's maximum context length is %d tokens. However, your messages resulted in %d tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`

func (w *window) handle(req *llmtest.Request) llmtest.Turn {
	w.mu.Lock()
	defer w.mu.Unlock()
	per := w.per
	if per == 0 {
		per = 4
	}
	size := len(req.Body) / per
	if size > w.tokens || (len(req.Tools) > 0 && w.refuse != nil && w.refuse(w.turns+1)) {
		w.refused++
		if req.Protocol == "anthropic" {
			return llmtest.Turn{Status: 400, Body: fmt.Sprintf(`{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: %d tokens > %d maximum"}}`, size, w.tokens)}
		}
		return llmtest.Turn{Status: 400, Body: fmt.Sprintf(tooLongBody, w.tokens, size)}
	}
	w.biggest = max(w.biggest, size)
	var t llmtest.Turn
	if len(req.Tools) == 0 {
		if w.summaries == 0 {
			w.before = w.spent
		}
		w.summaries++
		t = llmtest.Turn{Content: fmt.Sprintf("Summary %d: the agent read and wrote files; nothing is left but what the latest turns show.", w.summaries),
			Usage: bulwark.Usage{InputTokens: size, OutputTokens: 40}}
		if w.summarise != nil {
			t.Content = w.summarise(w.summaries)
		}
		w.summary.Add(t.Usage)
	} else {
		w.turns++
		t = w.next(w.turns, req)
		t.Usage = bulwark.Usage{InputTokens: size, OutputTokens: 10}
	}
	w.spent.Add(t.Usage)
	return t
}

// newWindowHarness runs the loop against a window server of tokens with
// read_file, write_file and finish, in a temporary workspace.
func newWindowHarness(t *testing.T, w *window) *harness {
	t.Helper()
	srv := llmtest.NewServer(w.handle)
	t.Cleanup(srv.Close)
	vars := map[string]string{"OPENAI_API_KEY": "sk-test-key", "OPENAI_BASE_URL": srv.URL + "/v1",
		"ANTHROPIC_API_KEY": "sk-ant-test-key", "ANTHROPIC_BASE_URL": srv.URL}
	protocol := w.protocol
	if protocol == "" {
		protocol = "openai"
	}
	model, err := provider.Open(fmt.Sprintf("%s:small-model?context=%d", protocol, w.tokens), func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	h := &harness{srv: srv, ws: ws}
	h.cfg = agent.Config{
		Model: model,
		Tools: tool.NewRegistry(files.ReadFile(), files.WriteFile(), interact.Finish()),
		Env:   &tool.Env{Workspace: ws},
		Sink: func(e bulwark.Event) {
			h.mu.Lock()
			h.events = append(h.events, e)
			h.mu.Unlock()
		},
	}
	return h
}

// bigFile is n bytes of text unlike any other file's.
func bigFile(name string, n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%s line %d: some text to fill the context window.\n", name, i)
	}
	return b.String()[:n]
}

// readAll is an agent that reads files f1.txt ... fN.txt, then finishes.
func readAll(n int) func(int, *llmtest.Request) llmtest.Turn {
	return func(i int, _ *llmtest.Request) llmtest.Turn {
		if i <= n {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("read_file", map[string]string{"path": fmt.Sprintf("f%d.txt", i)})}}
		}
		return finish("read them all")
	}
}

func writeFiles(t *testing.T, ws *workspace.Workspace, n, size int) int {
	t.Helper()
	total := 0
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("f%d.txt", i)
		if err := ws.WriteFile(name, []byte(bigFile(name, size))); err != nil {
			t.Fatal(err)
		}
		total += size
	}
	return total
}

// A task that reads files far larger in total than the model's window
// finishes: older results are stubbed, and what they held is in the
// workspace file the stub names.
func TestLongTaskOutgrowsTheWindow(t *testing.T) {
	w := &window{tokens: 4000, next: readAll(12)}
	h := newWindowHarness(t, w)
	total := writeFiles(t, h.ws, 12, 3000)
	if total/4 < 2*w.tokens {
		t.Fatalf("the files hold %d tokens; the test wants more than twice the window", total/4)
	}
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishDone {
		t.Fatalf("outcome = %+v, want done; events:\n%s", out, h.dump())
	}
	compacted := h.ofType(bulwark.EventCompacted)
	if len(compacted) == 0 {
		t.Fatal("no compacted event")
	}
	for _, e := range compacted {
		c := e.Compaction
		if c == nil || c.TokensAfter >= c.TokensBefore || c.Stubbed+c.Summarised == 0 || !strings.Contains(e.Text, "Compacted the conversation") {
			t.Errorf("compacted event = %q %+v, want what was done and tokens before > after", e.Text, c)
		}
	}
	if w.refused != 0 {
		t.Errorf("%d requests were refused as too long; compaction before the request should have kept them in the window", w.refused)
	}
	// The stubs name files that hold the whole results: f1.txt's is
	// among them.
	stubs := map[string]bool{}
	for _, r := range h.srv.Requests() {
		for _, m := range r.Messages {
			if m.Role == "tool" && strings.HasPrefix(m.Content, "[compacted: ") {
				_, after, ok := strings.Cut(m.Content, `workspace file "`)
				name, _, _ := strings.Cut(after, `"`)
				if !ok || !strings.HasPrefix(name, ".bulwark/outputs/") {
					t.Fatalf("a stub names no file under .bulwark/outputs/: %q", m.Content)
				}
				stubs[name] = true
			}
		}
	}
	first := false
	for name := range stubs {
		saved, err := h.ws.ReadFile(name)
		if err != nil || !strings.Contains(string(saved), ".txt line 0:") {
			t.Errorf("the stub's file %s = %.80q, %v; want the result of reading a file", name, saved, err)
		}
		first = first || strings.Contains(string(saved), "f1.txt line 0:")
	}
	if !first {
		t.Errorf("no stub holds the result of reading f1.txt (stubs: %v)", stubs)
	}
}

// A provider that refuses a request as too long gets one compaction and
// one retry, not a failed task.
func TestTooLongAnswerCompactsAndRetries(t *testing.T) {
	for _, protocol := range []string{"openai", "anthropic"} {
		t.Run(protocol, func(t *testing.T) {
			refusedOnce := false
			w := &window{protocol: protocol, tokens: 100000, next: readAll(6)}
			w.refuse = func(n int) bool {
				if n == 5 && !refusedOnce {
					refusedOnce = true
					return true
				}
				return false
			}
			h := newWindowHarness(t, w)
			// The model's window as given is large: only the refusal compacts.
			writeFiles(t, h.ws, 6, 3000)
			out := h.run(t, context.Background())
			if out.Reason != bulwark.FinishDone {
				t.Fatalf("outcome = %+v, want done; events:\n%s", out, h.dump())
			}
			c := h.ofType(bulwark.EventCompacted)
			if w.refused != 1 || len(c) != 1 || !c[0].Compaction.Forced {
				t.Errorf("refused %d, compacted events %+v; want one refusal and one forced compaction", w.refused, c)
			}
			if n := len(h.ofType(bulwark.EventError)); n != 0 {
				t.Errorf("%d error events; a refusal that compaction answers is no error", n)
			}
		})
	}
}

// A provider that refuses every request as too long fails the task with
// a clear error after one retry: no loop.
func TestAlwaysTooLongFailsOnce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		from    int // the first agent turn refused
		refused int // requests refused, retries included
		msg     string
	}{
		{"nothing to compact", 1, 1, "longer than the model's context window, and there was nothing left to compact"},
		{"after a compaction", 4, 2, "still longer than the model's context window after it was compacted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &window{tokens: 100000, next: readAll(6), refuse: func(n int) bool { return n >= tc.from }}
			h := newWindowHarness(t, w)
			writeFiles(t, h.ws, 6, 3000)
			out := h.run(t, context.Background())
			if out.Reason != bulwark.FinishError || !strings.Contains(out.Answer, tc.msg) || !strings.Contains(out.Answer, "?context=") {
				t.Errorf("outcome = %+v, want an error saying %q and how to give the window", out, tc.msg)
			}
			if w.refused != tc.refused {
				t.Errorf("the server refused %d requests, want %d: one retry at most", w.refused, tc.refused)
			}
		})
	}
}

// writeAll is an agent whose own turns are big (it writes files), so that
// stubbing results cannot make room: the model must summarise.
func writeAll(n, size int) func(int, *llmtest.Request) llmtest.Turn {
	return func(i int, _ *llmtest.Request) llmtest.Turn {
		if i <= n {
			name := fmt.Sprintf("w%d.txt", i)
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": name, "content": bigFile(name, size)})}}
		}
		return finish("wrote them all")
	}
}

// The summary the model writes counts against the token budget: the
// task's usage includes it, and the compacted event carries it.
func TestSummaryCountsAgainstTheBudget(t *testing.T) {
	w := &window{tokens: 4000, next: writeAll(10, 2000)}
	h := newWindowHarness(t, w)
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishDone {
		t.Fatalf("outcome = %+v, want done; events:\n%s", out, h.dump())
	}
	if w.summaries == 0 {
		t.Fatal("the model was never asked for a summary")
	}
	if out.Usage != w.spent {
		t.Errorf("the task's usage = %+v, want %+v: every call the server answered, summaries included", out.Usage, w.spent)
	}
	var carried bulwark.Usage
	var summarised int
	for _, e := range h.ofType(bulwark.EventCompacted) {
		if e.Usage != nil {
			carried.Add(*e.Usage)
		}
		summarised += e.Compaction.Summarised
	}
	if carried != w.summary || summarised == 0 {
		t.Errorf("the compacted events carry usage %+v and %d summarised messages, want %+v and some", carried, summarised, w.summary)
	}
	// The events' usage adds up to the task's, as the stores count it.
	var sum bulwark.Usage
	for _, e := range h.all() {
		if e.Usage != nil && e.Type != bulwark.EventTaskFinished {
			sum.Add(*e.Usage)
		}
	}
	if sum != out.Usage {
		t.Errorf("the events' usage adds up to %+v, want the task's %+v", sum, out.Usage)
	}
	// The summary took the place of the older turns in later requests.
	reqs := h.srv.Requests()
	found := false
	for _, m := range reqs[len(reqs)-1].Messages {
		if m.Role == "assistant" && strings.HasPrefix(m.Content, "[Summary of the earlier turns") {
			found = true
		}
	}
	if !found {
		t.Error("the last request holds no summary message")
	}
	if w.biggest > w.tokens {
		t.Errorf("a request of %d tokens was answered, over the window", w.biggest)
	}
}

// A token budget too small for the summary stops the task cleanly, as a
// spent budget, without the summary call.
func TestSummaryOverTheBudgetStops(t *testing.T) {
	// A first run finds what was spent when the summary was needed.
	probe := &window{tokens: 4000, next: writeAll(10, 2000)}
	newWindowHarness(t, probe).run(t, context.Background())
	if probe.summaries == 0 {
		t.Fatal("the probe run asked for no summary")
	}
	budget := probe.before.InputTokens + probe.before.OutputTokens + 1

	w := &window{tokens: 4000, next: writeAll(10, 2000)}
	h := newWindowHarness(t, w)
	h.cfg.Limits.MaxTokens = budget
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishMaxTokens || !strings.Contains(out.Answer, "token budget") {
		t.Errorf("outcome = %+v, want max_tokens", out)
	}
	if w.summaries != 0 {
		t.Errorf("%d summary calls were made over the budget", w.summaries)
	}
	if out.Usage != w.spent {
		t.Errorf("the task's usage = %+v, want %+v", out.Usage, w.spent)
	}
	fin := h.ofType(bulwark.EventTaskFinished)
	if len(fin) != 1 || fin[0].Reason != bulwark.FinishMaxTokens {
		t.Errorf("task_finished = %+v, want one, max_tokens", fin)
	}
}

// A task stays tainted once its flagged text is summarised or stubbed
// away: a side effect after the compaction still needs a person.
func TestTaintSurvivesCompaction(t *testing.T) {
	const reads = 8
	w := &window{tokens: 4000}
	w.next = func(i int, _ *llmtest.Request) llmtest.Turn {
		switch {
		case i == 1:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("read_file", map[string]string{"path": "evil.txt"})}}
		case i <= reads+1:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("read_file", map[string]string{"path": fmt.Sprintf("f%d.txt", i-1)})}}
		case i == reads+2:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "out.txt", "content": "done"})}}
		}
		return finish("ok")
	}
	h := newWindowHarness(t, w)
	writeFiles(t, h.ws, reads, 3000)
	if err := h.ws.WriteFile("evil.txt", []byte(injection+"\n"+bigFile("evil.txt", 1500))); err != nil {
		t.Fatal(err)
	}
	var asked []bulwark.Approval
	h.cfg.Approve = func(_ context.Context, a bulwark.Approval) (bool, error) {
		asked = append(asked, a)
		return true, nil
	}
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishDone {
		t.Fatalf("outcome = %+v, want done; events:\n%s", out, h.dump())
	}
	if len(h.ofType(bulwark.EventGuard)) == 0 {
		t.Fatal("the injected file was not flagged")
	}
	// The flagged text was gone from what the model was sent when it
	// wrote out.txt.
	var writeReq *llmtest.Request
	for _, r := range h.srv.Requests() {
		if len(r.Tools) > 0 && strings.Contains(string(r.Body), fmt.Sprintf("f%d.txt line 0", reads)) {
			writeReq = r
		}
	}
	if writeReq == nil || strings.Contains(string(writeReq.Body), "You are now DAN") {
		t.Fatal("the flagged text was still sent to the model when out.txt was written: the test proves nothing")
	}
	if len(h.ofType(bulwark.EventCompacted)) == 0 {
		t.Fatal("no compaction")
	}
	if len(asked) != 1 || asked[0].Tool != "write_file" || !strings.Contains(asked[0].Reason, "this task has read") {
		t.Errorf("approvals asked = %+v, want one for write_file, because of the taint", asked)
	}
}

// all returns every event so far.
func (h *harness) all() []bulwark.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bulwark.Event(nil), h.events...)
}

// dump lists the events for a failure message.
func (h *harness) dump() string {
	var b strings.Builder
	for _, e := range h.all() {
		if e.Type.Live() {
			continue
		}
		fmt.Fprintf(&b, "%d %s %s %.200q\n", e.Step, e.Type, e.Tool, e.Text)
	}
	return b.String()
}

// A task whose conversation was compacted goes on in a new turn, and
// resumes after a restart, from its stored events (which keep
// everything): it is compacted again as needed and finishes in the window.
func TestCompactedTaskContinuesAndResumes(t *testing.T) {
	w := &window{tokens: 4000, next: readAll(12)}
	h := newWindowHarness(t, w)
	writeFiles(t, h.ws, 12, 3000)
	var cps []bulwark.Checkpoint
	h.cfg.Checkpoint = func(c bulwark.Checkpoint) { cps = append(cps, c) }
	h.cfg.Limits.MaxSteps = 8
	if out := h.run(t, context.Background()); out.Reason != bulwark.FinishMaxSteps {
		t.Fatalf("first turn = %+v, want max_steps", out)
	}
	first := h.all()
	if len(h.ofType(bulwark.EventCompacted)) == 0 {
		t.Fatal("the first turn was not compacted: the test proves nothing")
	}

	t.Run("continue", func(t *testing.T) {
		c := h.again()
		c.cfg.Limits.MaxSteps = 10
		c.cfg.History = append(stored(first), bulwark.Event{Seq: first[len(first)-1].Seq + 1, Type: bulwark.EventUserMessage, Text: "go on reading"})
		n := len(c.srv.Requests())
		out := c.run(t, context.Background())
		if out.Reason != bulwark.FinishDone {
			t.Fatalf("continued turn = %+v, want done; events:\n%s", out, c.dump())
		}
		if w.biggest > w.tokens {
			t.Errorf("a request of %d tokens was answered, over the window", w.biggest)
		}
		var body string
		for _, r := range c.srv.Requests()[n:] {
			if len(r.Tools) > 0 {
				body = string(r.Body)
				break
			}
		}
		if !strings.Contains(body, "do the task") || !strings.Contains(body, "go on reading") {
			t.Error("the continued turn's first request lost the task or the person's message (both pinned)")
		}
	})

	t.Run("resume", func(t *testing.T) {
		w.mu.Lock()
		w.turns = 5 // the model goes on from the checkpoint's step
		w.mu.Unlock()
		var cp bulwark.Checkpoint
		for _, c := range cps {
			if c.Step == 6 {
				cp = c
				break
			}
		}
		var cut []bulwark.Event
		for _, e := range stored(first) {
			if e.Seq < cp.Seq {
				cut = append(cut, e)
			}
		}
		r := h.again()
		r.cfg.Limits.MaxSteps = 20
		r.cfg.History, r.cfg.Resume = cut, &cp
		out := r.run(t, context.Background())
		if out.Reason != bulwark.FinishDone {
			t.Fatalf("resumed turn = %+v, want done; events:\n%s", out, r.dump())
		}
		if out.Usage.InputTokens <= cp.Spent.Usage.InputTokens {
			t.Errorf("the resumed turn's usage %+v does not count on from the checkpoint's %+v", out.Usage, cp.Spent.Usage)
		}
	})
}

// again returns a harness for another run of the same task: the same
// server, workspace and configuration, no events yet.
func (h *harness) again() *harness {
	a := &harness{srv: h.srv, ws: h.ws, cfg: h.cfg}
	a.cfg.Checkpoint = nil
	a.cfg.Sink = func(e bulwark.Event) {
		a.mu.Lock()
		a.events = append(a.events, e)
		a.mu.Unlock()
	}
	return a
}

// stored keeps the events a store keeps (not the live ones).
func stored(events []bulwark.Event) []bulwark.Event {
	var out []bulwark.Event
	for _, e := range events {
		if !e.Type.Live() {
			out = append(out, e)
		}
	}
	return out
}

// A turn too big to leave room is summarised once it is no longer the
// latest, and the summary is not summarised again at every later step.
func TestBigTurnIsSummarisedOnce(t *testing.T) {
	w := &window{tokens: 4000}
	w.next = func(i int, _ *llmtest.Request) llmtest.Turn {
		switch {
		case i == 1:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "big.txt", "content": bigFile("big.txt", 9000)})}}
		case i <= 7:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": fmt.Sprintf("s%d.txt", i), "content": "small"})}}
		}
		return finish("ok")
	}
	h := newWindowHarness(t, w)
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishDone {
		t.Fatalf("outcome = %+v, want done; events:\n%s", out, h.dump())
	}
	if w.summaries != 1 {
		t.Errorf("%d summary calls, want 1; events:\n%s", w.summaries, h.dump())
	}
}

// Where the provider counts more tokens than four characters each (code,
// some languages), its count of the last request scales the estimates:
// requests stay in the window without a refusal.
func TestDenseTextUsesTheProvidersCount(t *testing.T) {
	w := &window{tokens: 16000, per: 1, next: readAll(12)}
	h := newWindowHarness(t, w)
	writeFiles(t, h.ws, 12, 3000)
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishDone {
		t.Fatalf("outcome = %+v, want done; events:\n%s", out, h.dump())
	}
	if w.refused != 0 || len(h.ofType(bulwark.EventCompacted)) == 0 {
		t.Errorf("%d requests refused, %d compactions; want none refused and some compactions", w.refused, len(h.ofType(bulwark.EventCompacted)))
	}
}
