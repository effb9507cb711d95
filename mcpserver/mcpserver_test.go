package mcpserver

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// fakeBackend is one tenant's tasks in memory. Ids of "the other tenant"
// (otherID) exist but are NotFound here, as a real backend makes them.
type fakeBackend struct {
	mu        sync.Mutex
	tasks     map[string]*bulwark.Task
	order     []string
	events    map[string][]bulwark.Event
	approvals map[string][]bulwark.Approval
	files     map[string]map[string][]byte
	decided   map[string]bool // approval id -> allow
	messages  []string
	// script, when set, is what a new task does once subscribed to:
	// its events, after which the task ends as the last one says.
	script []bulwark.Event
	// fail, when set, is the error of every call.
	fail error
}

var _ Backend = (*fakeBackend)(nil)

const otherID = "t_othertenant"

func newFake() *fakeBackend {
	return &fakeBackend{tasks: map[string]*bulwark.Task{}, events: map[string][]bulwark.Event{},
		approvals: map[string][]bulwark.Approval{}, files: map[string]map[string][]byte{}, decided: map[string]bool{}}
}

func notFound() error { return bulwark.Errorf(bulwark.NotFound, "fake", "no such task") }

func (f *fakeBackend) get(id string) (*bulwark.Task, error) {
	if f.fail != nil {
		return nil, f.fail
	}
	t, ok := f.tasks[id]
	if !ok || id == otherID {
		return nil, notFound()
	}
	return t, nil
}

func (f *fakeBackend) CreateTask(ctx context.Context, input, model string) (bulwark.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return bulwark.Task{}, f.fail
	}
	id := bulwark.NewID("t_")
	t := &bulwark.Task{ID: id, Input: input, Model: model, Status: bulwark.TaskQueued, Created: time.Now(), Turns: 1}
	f.tasks[id] = t
	f.order = append(f.order, id)
	return *t, nil
}

func (f *fakeBackend) Task(ctx context.Context, id string) (bulwark.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return bulwark.Task{}, err
	}
	return *t, nil
}

func (f *fakeBackend) Tasks(ctx context.Context, status []bulwark.TaskStatus, limit int) ([]bulwark.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []bulwark.Task
	for i := len(f.order) - 1; i >= 0 && len(out) < limit; i-- {
		t := f.tasks[f.order[i]]
		if len(status) == 0 || slices.Contains(status, t.Status) {
			out = append(out, *t)
		}
	}
	return out, nil
}

func (f *fakeBackend) Cancel(ctx context.Context, id string) (bulwark.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return bulwark.Task{}, err
	}
	if t.Status.Ended() {
		return bulwark.Task{}, bulwark.Errorf(bulwark.Conflict, "fake", "the task has already ended")
	}
	t.Status, t.Reason = bulwark.TaskCanceled, bulwark.FinishCanceled
	return *t, nil
}

func (f *fakeBackend) Message(ctx context.Context, id, text string) (bulwark.Task, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, err := f.get(id)
	if err != nil {
		return bulwark.Task{}, false, err
	}
	f.messages = append(f.messages, text)
	return *t, t.Status.Ended(), nil
}

func (f *fakeBackend) Approvals(ctx context.Context, id string) ([]bulwark.Approval, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(id); err != nil {
		return nil, err
	}
	return f.approvals[id], nil
}

func (f *fakeBackend) Decide(ctx context.Context, id, aid string, allow bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(id); err != nil {
		return err
	}
	for _, a := range f.approvals[id] {
		if a.ID == aid {
			f.decided[aid] = allow
			return nil
		}
	}
	return bulwark.Errorf(bulwark.NotFound, "fake", "no such approval")
}

func (f *fakeBackend) Events(ctx context.Context, id string, after int64, limit int) ([]bulwark.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(id); err != nil {
		return nil, err
	}
	var out []bulwark.Event
	for _, e := range f.events[id] {
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out, nil
}

// Subscribe plays the script: each event is stored and sent; the last
// one sets the task's end (task_finished) or its wait (an approval).
func (f *fakeBackend) Subscribe(ctx context.Context, id string, after int64) (<-chan bulwark.Event, error) {
	f.mu.Lock()
	if _, err := f.get(id); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	script := f.script
	f.mu.Unlock()
	ch := make(chan bulwark.Event)
	go func() {
		defer close(ch)
		for i, e := range script {
			e.Seq, e.TaskID = int64(i+1), id
			f.mu.Lock()
			t := f.tasks[id]
			t.Status = bulwark.TaskRunning
			switch {
			case e.Type == bulwark.EventTaskFinished:
				t.Status, t.Reason, t.Answer = bulwark.TaskSucceeded, e.Reason, e.Text
				t.Usage = bulwark.Usage{InputTokens: 10, OutputTokens: 5}
			case e.Type == bulwark.EventApproval:
				t.Status = bulwark.TaskWaiting
				f.approvals[id] = append(f.approvals[id], bulwark.Approval{ID: "a_1", TaskID: id, Tool: e.Tool, Target: "rm -rf /tmp/x", Rule: "run_shell=ask"})
			}
			f.events[id] = append(f.events[id], e)
			f.mu.Unlock()
			select {
			case ch <- e:
			case <-ctx.Done():
				return
			}
			if e.Type == bulwark.EventApproval {
				<-ctx.Done() // the task waits: the stream stays open
				return
			}
		}
	}()
	return ch, nil
}

func (f *fakeBackend) Files(ctx context.Context, id string) ([]bulwark.Artifact, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(id); err != nil {
		return nil, err
	}
	var out []bulwark.Artifact
	for p, d := range f.files[id] {
		out = append(out, bulwark.Artifact{Path: p, Size: int64(len(d)), TaskID: id})
	}
	slices.SortFunc(out, func(a, b bulwark.Artifact) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func (f *fakeBackend) ReadFile(ctx context.Context, id, path string) (bulwark.Artifact, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.get(id); err != nil {
		return bulwark.Artifact{}, nil, err
	}
	d, ok := f.files[id][path]
	if !ok {
		return bulwark.Artifact{}, nil, bulwark.Errorf(bulwark.NotFound, "fake", "no such file")
	}
	return bulwark.Artifact{Path: path, Size: int64(len(d))}, d, nil
}

// addTask stores a task directly, in status st.
func (f *fakeBackend) addTask(st bulwark.TaskStatus) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := bulwark.NewID("t_")
	f.tasks[id] = &bulwark.Task{ID: id, Input: "seeded", Status: st, Created: time.Now(), Turns: 1}
	f.order = append(f.order, id)
	return id
}

// progressLog collects the progress notifications a client received.
type progressLog struct {
	mu   sync.Mutex
	msgs []string
	last float64
	bad  bool // progress did not increase
}

func (p *progressLog) handle(_ context.Context, r *mcp.ProgressNotificationClientRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.Params.Progress <= p.last {
		p.bad = true
	}
	p.last = r.Params.Progress
	p.msgs = append(p.msgs, r.Params.Message)
}

// connect serves b over in-memory transports and returns a client
// session to it.
func connect(t *testing.T, b Backend, o Options) (*mcp.ClientSession, *progressLog) {
	t.Helper()
	ctx := context.Background()
	srv := New(b, o)
	ct, st := mcp.NewInMemoryTransports()
	ss, err := srv.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	pl := &progressLog{}
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, &mcp.ClientOptions{ProgressNotificationHandler: pl.handle})
	cs, err := c.Connect(ctx, ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs, pl
}

// call calls tool name with args and returns its result.
func call(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool(%s, %v): %v", name, args, err)
	}
	return res
}

// text is the text of a result's first content.
func text(res *mcp.CallToolResult) string {
	if len(res.Content) == 0 {
		return ""
	}
	if tc, ok := res.Content[0].(*mcp.TextContent); ok {
		return tc.Text
	}
	return ""
}

// decode decodes a successful result's structured content into v.
func decode(t *testing.T, name string, res *mcp.CallToolResult, v any) {
	t.Helper()
	if res.IsError {
		t.Fatalf("%s: error result %q", name, text(res))
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v in %s", name, err, b)
	}
}

func TestToolsListed(t *testing.T) {
	t.Parallel()
	cs, _ := connect(t, newFake(), Options{})
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
		if tl.InputSchema == nil || tl.OutputSchema == nil || tl.Description == "" {
			t.Errorf("tool %s lacks a schema or a description", tl.Name)
		}
	}
	slices.Sort(names)
	want := []string{"cancel_task", "create_task", "decide_approval", "get_task", "list_approvals", "list_tasks", "send_message"}
	if !slices.Equal(names, want) {
		t.Errorf("tools = %v, want %v", names, want)
	}
	tmpl, err := cs.ListResourceTemplates(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tmpl.ResourceTemplates) != 3 {
		t.Errorf("resource templates = %d, want 3", len(tmpl.ResourceTemplates))
	}
}

func TestCreateGetListCancel(t *testing.T) {
	t.Parallel()
	b := newFake()
	cs, _ := connect(t, b, Options{})
	var created TaskOut
	decode(t, "create_task", call(t, cs, "create_task", map[string]any{"input": "say hello", "model": "openai:gpt-4o"}), &created)
	if created.ID == "" || created.Status != "queued" || created.Transcript != TranscriptURI(created.ID) {
		t.Errorf("create_task = %+v, want a queued task with its transcript URI", created)
	}
	if got := b.tasks[created.ID]; got == nil || got.Input != "say hello" || got.Model != "openai:gpt-4o" {
		t.Errorf("stored task = %+v", got)
	}
	var got TaskOut
	decode(t, "get_task", call(t, cs, "get_task", map[string]any{"id": created.ID}), &got)
	if got.ID != created.ID || got.Status != "queued" {
		t.Errorf("get_task = %+v", got)
	}
	done := b.addTask(bulwark.TaskSucceeded)
	var list taskListOut
	decode(t, "list_tasks", call(t, cs, "list_tasks", map[string]any{"status": "queued", "limit": 5}), &list)
	if len(list.Tasks) != 1 || list.Tasks[0].ID != created.ID {
		t.Errorf("list_tasks(queued) = %+v, want only %s", list.Tasks, created.ID)
	}
	decode(t, "list_tasks", call(t, cs, "list_tasks", nil), &list)
	if len(list.Tasks) != 2 || list.Tasks[0].ID != done {
		t.Errorf("list_tasks() = %+v, want both, newest first", list.Tasks)
	}
	var canceled TaskOut
	decode(t, "cancel_task", call(t, cs, "cancel_task", map[string]any{"id": created.ID}), &canceled)
	if canceled.Status != "canceled" {
		t.Errorf("cancel_task = %+v, want canceled", canceled)
	}
	if res := call(t, cs, "cancel_task", map[string]any{"id": done}); !res.IsError || !strings.HasPrefix(text(res), "conflict:") {
		t.Errorf("cancel_task of an ended task = %v %q, want a conflict error", res.IsError, text(res))
	}
}

func TestMessageAndApprovals(t *testing.T) {
	t.Parallel()
	b := newFake()
	cs, _ := connect(t, b, Options{})
	id := b.addTask(bulwark.TaskWaiting)
	b.approvals[id] = []bulwark.Approval{{ID: "a_x", TaskID: id, Tool: "write_file", Target: "notes/a.txt", Rule: "write_file=ask"}}
	var m messageOut
	decode(t, "send_message", call(t, cs, "send_message", map[string]any{"id": id, "text": "go on"}), &m)
	if m.Status != "delivered" || len(b.messages) != 1 || b.messages[0] != "go on" {
		t.Errorf("send_message = %+v, messages %v", m, b.messages)
	}
	var aps approvalsOut
	decode(t, "list_approvals", call(t, cs, "list_approvals", map[string]any{"id": id}), &aps)
	if len(aps.Approvals) != 1 || aps.Approvals[0].ID != "a_x" || aps.Approvals[0].Target != "notes/a.txt" {
		t.Errorf("list_approvals = %+v", aps)
	}
	var d decideOut
	decode(t, "decide_approval", call(t, cs, "decide_approval", map[string]any{"id": id, "approval_id": "a_x", "decision": "deny"}), &d)
	if allow, ok := b.decided["a_x"]; !ok || allow || d.Decision != "deny" {
		t.Errorf("decide_approval deny: decided %v %v, answer %+v", allow, ok, d)
	}
	ended := b.addTask(bulwark.TaskSucceeded)
	decode(t, "send_message", call(t, cs, "send_message", map[string]any{"id": ended, "text": "once more"}), &m)
	if m.Status != "continued" {
		t.Errorf("send_message to an ended task = %+v, want continued", m)
	}
}

// TestWaitWithProgress: create_task with wait returns when the task ends,
// with its answer, after progress notifications for its steps.
func TestWaitWithProgress(t *testing.T) {
	t.Parallel()
	b := newFake()
	b.script = []bulwark.Event{
		{Type: bulwark.EventTaskStarted, Text: "say hello"},
		{Type: bulwark.EventToolCall, Step: 1, Tool: "write_file"},
		{Type: bulwark.EventToolResult, Step: 1, Tool: "write_file", Text: "ok"},
		{Type: bulwark.EventTaskFinished, Step: 2, Reason: bulwark.FinishDone, Text: "hello, world"},
	}
	cs, pl := connect(t, b, Options{})
	params := &mcp.CallToolParams{Name: "create_task", Arguments: map[string]any{"input": "say hello", "wait": true}}
	params.SetProgressToken("p1")
	res, err := cs.CallTool(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	var out TaskOut
	decode(t, "create_task", res, &out)
	if out.Status != "succeeded" || out.Answer != "hello, world" || out.Usage.InputTokens != 10 {
		t.Errorf("create_task wait = %+v, want succeeded with the answer and usage", out)
	}
	// The client handles notifications apart from the result: they may
	// come in after it.
	joined := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		pl.mu.Lock()
		joined = strings.Join(pl.msgs, "|")
		pl.mu.Unlock()
		if strings.Contains(joined, "finished: done") {
			break
		}
	}
	pl.mu.Lock()
	defer pl.mu.Unlock()
	for _, want := range []string{"started", "step 1: write_file", "finished: done"} {
		if !strings.Contains(joined, want) {
			t.Errorf("progress %q lacks %q", joined, want)
		}
	}
	if pl.bad {
		t.Errorf("progress did not increase: %q", joined)
	}
}

// TestWaitStopsAtApproval: a task that waits for a person does not hold
// create_task: it answers with what the task waits for.
func TestWaitStopsAtApproval(t *testing.T) {
	t.Parallel()
	b := newFake()
	b.script = []bulwark.Event{
		{Type: bulwark.EventTaskStarted},
		{Type: bulwark.EventApproval, Step: 1, Tool: "run_shell", Text: "allow?"},
	}
	cs, _ := connect(t, b, Options{})
	var out TaskOut
	decode(t, "create_task", call(t, cs, "create_task", map[string]any{"input": "clean up", "wait": true}), &out)
	if out.Status != "waiting" || len(out.Approvals) != 1 || out.Approvals[0].Target != "rm -rf /tmp/x" || out.Note == "" {
		t.Errorf("create_task wait at an approval = %+v, want waiting with the approval", out)
	}
}

// TestWaitBounded: a wait ends after MaxWait with the task still running,
// saying so.
func TestWaitBounded(t *testing.T) {
	t.Parallel()
	b := newFake()
	b.script = []bulwark.Event{{Type: bulwark.EventTaskStarted}} // then nothing
	cs, _ := connect(t, &stallBackend{b}, Options{MaxWait: 50 * time.Millisecond, Heartbeat: 10 * time.Millisecond})
	var out TaskOut
	decode(t, "create_task", call(t, cs, "create_task", map[string]any{"input": "long", "wait": true}), &out)
	if out.Status != "running" || !strings.Contains(out.Note, "get_task") {
		t.Errorf("create_task wait past MaxWait = %+v, want running with a note", out)
	}
}

// stallBackend's streams stay open after the script, as a running task's.
type stallBackend struct{ *fakeBackend }

func (s *stallBackend) Subscribe(ctx context.Context, id string, after int64) (<-chan bulwark.Event, error) {
	in, err := s.fakeBackend.Subscribe(ctx, id, after)
	if err != nil {
		return nil, err
	}
	out := make(chan bulwark.Event)
	go func() {
		defer close(out)
		for e := range in {
			out <- e
		}
		<-ctx.Done()
	}()
	return out, nil
}

// TestOtherTenantNotFound: every tool and resource answers an id the
// backend does not show (another tenant's) with "not found".
func TestOtherTenantNotFound(t *testing.T) {
	t.Parallel()
	b := newFake()
	b.tasks[otherID] = &bulwark.Task{ID: otherID, Input: "B's secret input", Status: bulwark.TaskWaiting, Answer: "B's answer"}
	cs, _ := connect(t, b, Options{})
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"get_task", map[string]any{"id": otherID}},
		{"cancel_task", map[string]any{"id": otherID}},
		{"send_message", map[string]any{"id": otherID, "text": "hi"}},
		{"list_approvals", map[string]any{"id": otherID}},
		{"decide_approval", map[string]any{"id": otherID, "approval_id": "a_1", "decision": "allow"}},
	} {
		res := call(t, cs, c.tool, c.args)
		if !res.IsError || !strings.HasPrefix(text(res), "not found:") || strings.Contains(text(res), "B's") {
			t.Errorf("%s(%v) = %v %q, want a not found error", c.tool, c.args, res.IsError, text(res))
		}
	}
	for _, uri := range []string{TranscriptURI(otherID), uriPrefix + otherID + "/files", FileURI(otherID, "a.txt"), "bulwark://tasks/x", "file:///etc/passwd"} {
		_, err := cs.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: uri})
		if err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("ReadResource(%s) = %v, want not found", uri, err)
		}
	}
}

// TestBadInput: arguments that do not fit a tool are refused with a
// message saying what is wrong, before the backend is called.
func TestBadInput(t *testing.T) {
	t.Parallel()
	b := newFake()
	id := b.addTask(bulwark.TaskWaiting)
	cs, _ := connect(t, b, Options{})
	for _, c := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"create_task", map[string]any{}, "input"},
		{"create_task", map[string]any{"input": "   "}, "input"},
		{"create_task", map[string]any{"input": 5}, "input"},
		{"create_task", map[string]any{"input": "x", "wait": "yes"}, "wait"},
		{"create_task", map[string]any{"input": "x", "limits": map[string]any{}}, "limits"},
		{"get_task", map[string]any{}, "id"},
		{"list_tasks", map[string]any{"limit": 1000}, "limit"},
		{"list_tasks", map[string]any{"limit": -1}, "limit"},
		{"list_tasks", map[string]any{"status": "done"}, "status"},
		{"send_message", map[string]any{"id": id, "text": ""}, "text"},
		{"decide_approval", map[string]any{"id": id, "approval_id": "a", "decision": "maybe"}, "decision"},
		{"decide_approval", map[string]any{"id": id, "approval_id": "", "decision": "allow"}, "approval_id"},
	} {
		res := call(t, cs, c.tool, c.args)
		if !res.IsError || !strings.Contains(text(res), c.want) {
			t.Errorf("%s(%v) = %v %q, want an error naming %s", c.tool, c.args, res.IsError, text(res), c.want)
		}
	}
	if len(b.tasks) != 1 || len(b.messages) != 0 || len(b.decided) != 0 {
		t.Errorf("bad input reached the backend: %d tasks, messages %v, decided %v", len(b.tasks), b.messages, b.decided)
	}
}

// TestErrorsHideInternals: an internal error's cause never reaches the
// client, and messages are masked.
func TestErrorsHideInternals(t *testing.T) {
	t.Parallel()
	b := newFake()
	b.fail = bulwark.E(bulwark.Internal, "store.Task", "database exploded", errors.New("open /var/lib/bulwark/db: sk-live-SECRET"))
	cs, _ := connect(t, b, Options{})
	res := call(t, cs, "get_task", map[string]any{"id": "t_1"})
	if !res.IsError || text(res) != "internal error" {
		t.Errorf("get_task with an internal failure = %q, want \"internal error\"", text(res))
	}
	b.fail = errors.New("plain error with /etc/path")
	if res := call(t, cs, "list_approvals", map[string]any{"id": "t_1"}); text(res) != "internal error" {
		t.Errorf("list_approvals with an unkinded failure = %q, want \"internal error\"", text(res))
	}
	b.fail = bulwark.E(bulwark.Invalid, "x", "model: the key sk-live-SECRET is wrong", errors.New("cause"))
	cs, _ = connect(t, b, Options{Mask: func(_ context.Context, s string) string { return strings.ReplaceAll(s, "sk-live-SECRET", "[SECRET]") }})
	res = call(t, cs, "get_task", map[string]any{"id": "t_1"})
	if got := text(res); strings.Contains(got, "sk-live") || strings.Contains(got, "cause") || !strings.Contains(got, "[SECRET]") {
		t.Errorf("get_task with a secret in the message = %q, want it masked and no cause", got)
	}
	// The SDK's own refusal of arguments, which quotes them, is masked too.
	res = call(t, cs, "get_task", map[string]any{"id": "t_1", "sk-live-SECRET": 1})
	if got := text(res); !res.IsError || strings.Contains(got, "sk-live") {
		t.Errorf("get_task with a secret as an unknown argument = %q, want an error with it masked", got)
	}
}

func TestResources(t *testing.T) {
	t.Parallel()
	b := newFake()
	id := b.addTask(bulwark.TaskSucceeded)
	b.events[id] = []bulwark.Event{
		{Seq: 1, Type: bulwark.EventTaskStarted, Text: "write notes"},
		{Seq: 2, Type: bulwark.EventToolCall, Step: 1, Tool: "write_file", Args: json.RawMessage(`{"path":"notes/a b.txt"}`)},
		{Seq: 3, Type: bulwark.EventTaskFinished, Step: 2, Reason: bulwark.FinishDone, Text: "written"},
	}
	b.files[id] = map[string][]byte{"notes/a b.txt": []byte("hello notes"), "bin.dat": {0, 1, 2, 0xff}}
	cs, _ := connect(t, b, Options{})
	ctx := context.Background()
	read := func(uri string) *mcp.ResourceContents {
		t.Helper()
		res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		if err != nil {
			t.Fatalf("ReadResource(%s): %v", uri, err)
		}
		return res.Contents[0]
	}
	tr := read(TranscriptURI(id)).Text
	for _, want := range []string{"task " + id + ": succeeded", "[2] tool_call step 1 write_file", "reason=done: written"} {
		if !strings.Contains(tr, want) {
			t.Errorf("transcript lacks %q:\n%s", want, tr)
		}
	}
	var list struct{ Files []fileEntry }
	if err := json.Unmarshal([]byte(read(uriPrefix+id+"/files").Text), &list); err != nil || len(list.Files) != 2 {
		t.Fatalf("files = %+v, %v", list, err)
	}
	if got := read(list.Files[1].URI); got.Text != "hello notes" {
		t.Errorf("read %s = %+v, want the text", list.Files[1].URI, got)
	}
	if got := read(FileURI(id, "bin.dat")); len(got.Blob) != 4 || got.Text != "" {
		t.Errorf("read bin.dat = %+v, want a blob", got)
	}
	if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: FileURI(id, "missing.txt")}); err == nil {
		t.Error("reading a missing file succeeded")
	}
}

func TestParseURI(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		uri            string
		id, kind, path string
		ok             bool
	}{
		{"bulwark://tasks/t_1/transcript", "t_1", "transcript", "", true},
		{"bulwark://tasks/t_1/files", "t_1", "files", "", true},
		{"bulwark://tasks/t_1/files/a/b%20c.txt", "t_1", "file", "a/b c.txt", true},
		{"bulwark://tasks/t_1/files/", "", "", "", false},
		{"bulwark://tasks/t_1/other", "", "", "", false},
		{"bulwark://tasks/t%2F1/transcript", "", "", "", false},
		{"bulwark://tasks/t_1/transcript?x=1", "", "", "", false},
		{"file:///t_1/transcript", "", "", "", false},
	} {
		id, kind, path, ok := parseURI(c.uri)
		if id != c.id || kind != c.kind || path != c.path || ok != c.ok {
			t.Errorf("parseURI(%q) = %q %q %q %v, want %q %q %q %v", c.uri, id, kind, path, ok, c.id, c.kind, c.path, c.ok)
		}
	}
}

// TestWaitEndsWithLifetime: a wait ends when the connection it answers on
// ends (Options.Lifetime), not only after MaxWait.
func TestWaitEndsWithLifetime(t *testing.T) {
	t.Parallel()
	b := newFake()
	b.script = []bulwark.Event{{Type: bulwark.EventTaskStarted}}
	life, end := context.WithCancel(context.Background())
	cs, pl := connect(t, &stallBackend{b}, Options{MaxWait: time.Hour, Lifetime: life})
	go func() {
		for { // end the connection once the task has started
			pl.mu.Lock()
			started := strings.Contains(strings.Join(pl.msgs, "|"), "started")
			pl.mu.Unlock()
			if started {
				end()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	params := &mcp.CallToolParams{Name: "create_task", Arguments: map[string]any{"input": "long", "wait": true}}
	params.SetProgressToken(1)
	res, err := cs.CallTool(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	var out TaskOut
	decode(t, "create_task", res, &out)
	if out.Status != "running" {
		t.Errorf("create_task wait after its connection ended = %+v, want running", out)
	}
}
