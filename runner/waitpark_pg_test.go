package runner_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/internal/pgtest"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/queue/riverqueue"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/workspace"
)

// parkCluster is nodes on one PostgreSQL database: each its own store
// connection, River queue (one worker) and data folder, as separate
// servers would be. Every tenant may run one task at a time over the
// cluster.
type parkCluster struct {
	t     *testing.T
	url   string
	keys  *secret.Keyring
	srv   *llmtest.Server
	store *postgres.DB // the first node's, for the test's reads
	a     bulwark.TenantID
	// open counts the setups (sandboxes) of runs not closed yet.
	open atomic.Int32
	// wrap, when set, wraps a node's database as its runtime's store.
	wrap func(*parkNode, *postgres.DB) runner.Store
	// wrapControls, when set, wraps a node's database as its runtime's
	// control store.
	wrapControls func(*parkNode, *postgres.DB) bulwark.ControlStore
	// config, when set, changes a node's runtime configuration.
	config func(name string, cfg *runner.Config)
	// controlEvery, when set, is how often the nodes poll for requests.
	controlEvery time.Duration
}

type parkNode struct {
	dir string
	db  *postgres.DB
	rt  *runner.Runtime
}

func newParkCluster(t *testing.T, h llmtest.Handler) *parkCluster {
	c := &parkCluster{t: t, url: pgtest.NewDatabase(t), keys: secret.NewKeyring()}
	c.srv = llmtest.NewServer(h)
	t.Cleanup(c.srv.Close)
	db, err := postgres.Open(context.Background(), postgres.Config{URL: c.url, Keys: c.keys})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c.store = db
	c.a = must(db.CreateTenant(context.Background(), "alpha")).ID
	return c
}

// node starts one more node.
func (c *parkCluster) node(name string) *parkNode {
	t := c.t
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: c.url, Keys: c.keys, MaxConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q, err := riverqueue.New(ctx, riverqueue.Config{
		Pool: db.Pool(), Workers: 1, Quota: func(bulwark.TenantID) int { return 1 },
		Node:              name,
		Logger:            slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
		FetchPollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	n := &parkNode{dir: t.TempDir(), db: db}
	vars := map[string]string{"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": c.srv.URL + "/v1"}
	var store runner.Store = db
	if c.wrap != nil {
		store = c.wrap(n, db)
	}
	var controls bulwark.ControlStore = db
	if c.wrapControls != nil {
		controls = c.wrapControls(n, db)
	}
	cfg := runner.Config{
		Store:        store,
		Dir:          filepath.Join(n.dir, "workspaces"),
		Queue:        q,
		Artifacts:    db,
		Checkpoints:  db,
		Controls:     controls,
		ControlEvery: cmp.Or(c.controlEvery, 20*time.Millisecond),
		Prepare: func(ctx context.Context, task bulwark.Task, ws *workspace.Workspace) (*runner.Setup, error) {
			m, err := provider.Open("openai:test", func(k string) string { return vars[k] })
			if err != nil {
				return nil, err
			}
			c.open.Add(1)
			return &runner.Setup{
				Model:  m,
				Tools:  tool.NewRegistry(append(files.Tools(), interact.Finish(), interact.AskUser())...),
				Policy: bulwark.Policy{Rules: []bulwark.Rule{{Tool: "write_file", Pattern: "notes/*", Decision: bulwark.Ask}}},
				Close:  func() { c.open.Add(-1) },
			}, nil
		},
	}
	if c.config != nil {
		c.config(name, &cfg)
	}
	n.rt = runner.New(cfg)
	if err := n.rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.shutdown(t) })
	return n
}

func (n *parkNode) shutdown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.rt.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

func (c *parkCluster) submit(n *parkNode, input string) string {
	c.t.Helper()
	task, err := n.rt.Submit(context.Background(), c.a, "user:1", bulwark.Task{Input: input, Model: "openai:test"})
	if err != nil {
		c.t.Fatal(err)
	}
	return task.ID
}

func (c *parkCluster) waitStatus(id string, want bulwark.TaskStatus) bulwark.Task {
	c.t.Helper()
	var got bulwark.Task
	waitFor(c.t, func() bool {
		got = must(c.store.Task(context.Background(), c.a, id))
		return got.Status == want
	})
	return got
}

// waitParked waits until task id waits for a person with no run: its
// status says waiting, its wait is stored, and no sandbox is open.
func (c *parkCluster) waitParked(id string, ev bulwark.EventType) {
	c.t.Helper()
	ctx := context.Background()
	waitFor(c.t, func() bool {
		task := must(c.store.Task(ctx, c.a, id))
		cp, err := c.store.LatestCheckpoint(ctx, c.a, id)
		if task.Status != bulwark.TaskWaiting || err != nil || cp.Waiting == nil || c.open.Load() != 0 || c.count(id, ev, "") == 0 {
			return false
		}
		// Its run has returned: the queue has it waiting (riverqueue's table).
		var state string
		err = c.store.Pool().QueryRow(ctx, `SELECT state FROM bulwark_queue WHERE task_id = $1`, id).Scan(&state)
		return err == nil && state == "waiting"
	})
}

// count counts the events of task id of type typ (whose Text holds text).
func (c *parkCluster) count(id string, typ bulwark.EventType, text string) int {
	n := 0
	for _, e := range must(c.store.Events(context.Background(), c.a, id, 0, 0)) {
		if e.Type == typ && strings.Contains(e.Text, text) {
			n++
		}
	}
	return n
}

// userInput is the task's input, as the model is given it.
func userInput(r *llmtest.Request) string {
	for _, m := range r.Messages {
		if m.Role == llm.User {
			return m.Content
		}
	}
	return ""
}

func lastTool(r *llmtest.Request) string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == llm.ToolRole {
			return r.Messages[i].Content
		}
	}
	return ""
}

// parkHandler: "agents" writes the project file (agent.ProjectFile),
// then asks as "ask" does; "files" writes a.txt and b.txt, then thinks for ever;
// "approve" writes draft.txt, then notes/a.txt (which asks
// for an approval), then finishes; "ask" asks which colour and finishes
// with the answer; anything else finishes at once.
func parkHandler(r *llmtest.Request) llmtest.Turn {
	finish := func(a string) llmtest.Turn {
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": a})}}
	}
	switch in, n := userInput(r), toolResults(r); {
	case strings.HasPrefix(in, "approve") && n == 0:
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "draft.txt", "content": "D"})}}
	case strings.HasPrefix(in, "approve") && n == 1:
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "notes/a.txt", "content": "A"})}}
	case strings.HasPrefix(in, "approve"):
		return finish("approved: " + lastTool(r))
	case strings.HasPrefix(in, "both") && n == 0:
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "notes/b.txt", "content": "B"})}}
	case strings.HasPrefix(in, "both") && n == 1:
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("ask_user", map[string]string{"question": "which size?"})}}
	case strings.HasPrefix(in, "both"):
		return finish("both " + lastTool(r))
	case strings.HasPrefix(in, "files") && n < 2:
		name := []string{"a.txt", "b.txt"}[n]
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": name, "content": strings.ToUpper(name[:1])})}}
	case strings.HasPrefix(in, "files"):
		return llmtest.Turn{Content: "thinking", Hang: true}
	case strings.HasPrefix(in, "agents") && n == 0:
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": agent.ProjectFile, "content": "Be brief."})}}
	case strings.HasPrefix(in, "agents") && n == 1:
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("ask_user", map[string]string{"question": "which colour?"})}}
	case strings.HasPrefix(in, "agents"):
		return finish("colour " + lastTool(r))
	case strings.HasPrefix(in, "ask") && n == 0:
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("ask_user", map[string]string{"question": "which colour?"})}}
	case strings.HasPrefix(in, "ask"):
		return finish("colour " + lastTool(r))
	}
	return finish("quick")
}

// TestWaitingForApprovalHoldsNoWorker: on a River queue, a task that
// waits for an approval ends its run (no sandbox open, its folder sealed
// away) and stays waiting; with one task at a time for the tenant over
// the cluster, the tenant's next task runs to its end meanwhile. The
// node that ran it stops; the approval, decided through another node
// (with another data folder), resumes it there from its checkpoint: its
// files are back, and the approved call runs once.
func TestWaitingForApprovalHoldsNoWorker(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	ctx := context.Background()
	n0 := c.node("node-0")
	first := c.submit(n0, "approve")
	c.waitParked(first, bulwark.EventApproval)
	if _, err := os.Lstat(filepath.Join(n0.dir, "workspaces", string(c.a), first)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the waiting task's folder is still there (%v): its files should be sealed into the store", err)
	}

	second := c.submit(n0, "quick")
	if got := c.waitStatus(second, bulwark.TaskSucceeded); got.Answer != "quick" {
		t.Errorf("the second task answered %q", got.Answer)
	}
	if got := must(c.store.Task(ctx, c.a, first)); got.Status != bulwark.TaskWaiting {
		t.Fatalf("the first task is %s, want still waiting", got.Status)
	}

	n1 := c.node("node-1")
	n0.shutdown(t)
	aps := must(n1.rt.Approvals(ctx, c.a, first))
	if len(aps) != 1 || aps[0].Tool != "write_file" || !strings.Contains(aps[0].Target, "notes/a.txt") {
		t.Fatalf("approvals through the other node: %+v, want the write of notes/a.txt", aps)
	}
	// Another tenant neither sees nor decides it.
	beta := must(c.store.CreateTenant(ctx, "beta")).ID
	if _, err := n1.rt.Approvals(ctx, beta, first); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("approvals through another tenant: %v, want NotFound", err)
	}
	if err := n1.rt.Decide(ctx, beta, "user:2", first, aps[0].ID, true); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("a decision through another tenant: %v, want NotFound", err)
	}
	if err := n1.rt.Cancel(ctx, beta, "user:2", first); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("a cancel through another tenant: %v, want NotFound", err)
	}
	if got := must(c.store.Task(ctx, c.a, first)); got.Status != bulwark.TaskWaiting {
		t.Fatalf("after another tenant's requests the task is %s", got.Status)
	}
	if err := n1.rt.Decide(ctx, c.a, "user:1", first, "ap_nosuch", true); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("deciding an approval it does not wait for: %v, want NotFound", err)
	}
	if err := n1.rt.Decide(ctx, c.a, "user:1", first, aps[0].ID, true); err != nil {
		t.Fatalf("Decide through the other node: %v", err)
	}
	got := c.waitStatus(first, bulwark.TaskSucceeded)
	if !strings.HasPrefix(got.Answer, "approved") {
		t.Errorf("the task answered %q", got.Answer)
	}
	calls, results := 0, 0
	for _, e := range must(c.store.Events(ctx, c.a, first, 0, 0)) {
		if e.CallID == "" || e.Tool != "write_file" || !strings.Contains(string(e.Args)+e.Text, "notes") {
			continue
		}
		switch e.Type {
		case bulwark.EventToolCall:
			calls++
		case bulwark.EventToolResult:
			if !e.IsError {
				results++
			}
		}
	}
	if calls != 1 || results != 1 {
		t.Errorf("the approved call: %d tool_call and %d results, want one of each", calls, results)
	}
	if n := c.count(first, bulwark.EventTaskFinished, ""); n != 1 {
		t.Errorf("%d task_finished events, want 1", n)
	}
	// The run that ended seals the files and drops the checkpoint as it
	// closes, a moment after the task's status says it ended.
	waitFor(t, func() bool {
		_, _, err := n1.rt.ReadFile(ctx, c.a, first, "draft.txt")
		_, cerr := c.store.LatestCheckpoint(ctx, c.a, first)
		return err == nil && bulwark.ErrorKind(cerr) == bulwark.NotFound
	})
	for name, want := range map[string]string{"draft.txt": "D", "notes/a.txt": "A"} {
		if _, data, err := n1.rt.ReadFile(ctx, c.a, first, name); err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", name, data, err, want)
		}
	}
}

// TestWaitingForAnswerOnAnotherNode: a task that asks a question ends its
// run and waits; the answer, sent through another node, resumes it,
// which asks again and takes the stored answer at once.
func TestWaitingForAnswerOnAnotherNode(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	ctx := context.Background()
	n0, n1 := c.node("node-0"), c.node("node-1")
	id := c.submit(n0, "ask")
	c.waitParked(id, bulwark.EventAskUser)
	if _, continued, err := n1.rt.Message(ctx, c.a, "user:1", id, "blue", nil); err != nil || continued {
		t.Fatalf("the answer through the other node: continued %v, %v", continued, err)
	}
	got := c.waitStatus(id, bulwark.TaskSucceeded)
	if got.Answer != "colour blue" || got.Turns != 1 {
		t.Errorf("the task answered %q in %d turns, want \"colour blue\" in its one turn", got.Answer, got.Turns)
	}
	if n := c.count(id, bulwark.EventUserMessage, "blue"); n != 1 {
		t.Errorf("the answer is stored %d times, want once", n)
	}
	if n := c.count(id, bulwark.EventNotice, "interrupted"); n != 0 {
		t.Errorf("the model was told %d times that the task was interrupted; it only waited", n)
	}
}

// TestAnswerAsTheQuestionIsSeenOnAQueue: on a River queue, an answer sent
// to the node running a task as soon as its question can be seen, before
// the run has begun to wait, is the answer: it used to be kept as a
// message from before the question, and the task waited for another.
func TestAnswerAsTheQuestionIsSeenOnAQueue(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	sent := make(chan error, 1)
	c.wrap = func(n *parkNode, db *postgres.DB) runner.Store {
		return answerOnQuestion{Store: db, answer: func(tenant bulwark.TenantID, id string) {
			sent <- n.rt.Send(context.Background(), tenant, id, "green")
		}}
	}
	id := c.submit(c.node("node-0"), "ask")
	c.wantAnswered(id, sent, 30*time.Second, "the question was never asked")
}

// TestAnswerAsTheRunParksOnAQueue: an answer that reaches the node after
// the run has looked for one and before it parks (as the task is marked
// waiting) is stored as the answer and queues the task again: the next
// run takes it. Before, it was stored with nothing to wake the task, and
// the task waited for ever.
func TestAnswerAsTheRunParksOnAQueue(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	sent := make(chan error, 1)
	c.wrap = func(n *parkNode, db *postgres.DB) runner.Store {
		return answerOnWaitingPG{DB: db, answer: func(tenant bulwark.TenantID, id string) {
			select {
			case sent <- n.rt.Send(context.Background(), tenant, id, "green"):
			default: // answered once
			}
		}}
	}
	id := c.submit(c.node("node-0"), "ask")
	c.wantAnswered(id, sent, 30*time.Second, "the task never began to wait")
}

// answerOnWaitingPG has the person answer as the task is marked waiting:
// after its run looked for an answer, before the run ends.
type answerOnWaitingPG struct {
	*postgres.DB
	answer func(tenant bulwark.TenantID, id string)
}

func (s answerOnWaitingPG) SetTaskStatus(ctx context.Context, tenant bulwark.TenantID, id string, st bulwark.TaskStatus) error {
	if err := s.DB.SetTaskStatus(ctx, tenant, id, st); err != nil {
		return err
	}
	if st == bulwark.TaskWaiting {
		s.answer(tenant, id)
	}
	return nil
}

// wantAnswered waits for the answer a hook sends (sent), within, then for
// the task to end with it: "colour green". what says what did not come.
func (c *parkCluster) wantAnswered(id string, sent <-chan error, within time.Duration, what string) {
	c.t.Helper()
	select {
	case err := <-sent:
		if err != nil {
			c.t.Fatalf("the answer was refused: %v", err)
		}
	case <-time.After(within):
		c.t.Fatal(what)
	}
	if got := c.waitStatus(id, bulwark.TaskSucceeded); got.Answer != "colour green" {
		c.t.Errorf("the task answered %q, want \"colour green\"", got.Answer)
	}
}

// TestCancelWaitingTask: a task that waits with no run is canceled at
// once through either node, and leaves the queue.
func TestCancelWaitingTask(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	ctx := context.Background()
	nodes := []*parkNode{c.node("node-0"), c.node("node-1")}
	for i, n := range nodes {
		id := c.submit(nodes[0], "approve")
		c.waitParked(id, bulwark.EventApproval)
		if err := n.rt.Cancel(ctx, c.a, "user:1", id); err != nil {
			t.Fatalf("Cancel through node %d: %v", i, err)
		}
		got := must(c.store.Task(ctx, c.a, id))
		if got.Status != bulwark.TaskCanceled {
			t.Errorf("through node %d: the task is %s right after Cancel, want canceled", i, got.Status)
		}
		if err := n.rt.Cancel(ctx, c.a, "user:1", id); bulwark.ErrorKind(err) != bulwark.Conflict {
			t.Errorf("canceling it again: %v, want Conflict", err)
		}
	}
	// Nothing runs it again: a new task of the tenant runs and ends.
	id := c.submit(nodes[1], "quick")
	c.waitStatus(id, bulwark.TaskSucceeded)
	for _, n := range nodes {
		if p := n.rt.Position(c.a, id); p != 0 {
			t.Errorf("position %d", p)
		}
	}
}

// TestEarlyAnswersToWaitingTask: a task waits twice in one turn (an
// approval, then a question), and each answer comes through the other
// node as soon as the wait shows, while the run that waits may still be
// ending: the queue keeps it and runs the task again once that run is
// over, and each wait is answered once.
func TestEarlyAnswersToWaitingTask(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	ctx := context.Background()
	n0, n1 := c.node("node-0"), c.node("node-1")
	id := c.submit(n0, "both")
	var aps []bulwark.Approval
	waitFor(t, func() bool {
		aps = must(n1.rt.Approvals(ctx, c.a, id))
		return len(aps) == 1
	})
	if err := n1.rt.Decide(ctx, c.a, "user:1", id, aps[0].ID, true); err != nil {
		t.Fatalf("Decide: %v", err)
	}
	waitFor(t, func() bool { return c.count(id, bulwark.EventAskUser, "size") > 0 })
	// Sent until it is taken as the answer: while the run is under way on
	// a node, the message is read there before its next step instead.
	waitFor(t, func() bool {
		task := must(c.store.Task(ctx, c.a, id))
		if task.Status != bulwark.TaskWaiting {
			return false
		}
		_, _, err := n1.rt.Message(ctx, c.a, "user:1", id, "large", nil)
		return err == nil
	})
	got := c.waitStatus(id, bulwark.TaskSucceeded)
	if got.Answer != "both large" {
		t.Errorf("the task answered %q, want \"both large\"", got.Answer)
	}
	if n := c.count(id, bulwark.EventApproval, ""); n < 2 {
		t.Errorf("%d approval events, want the question and the decision", n)
	}
	// The files reach the store when the run that ended has closed its
	// workspace, a moment after the status says the task ended: read
	// from the other node, they may not be there yet.
	var data []byte
	var err error
	waitFor(t, func() bool {
		_, data, err = n0.rt.ReadFile(ctx, c.a, id, "notes/b.txt")
		return err == nil
	})
	if string(data) != "B" {
		t.Errorf("notes/b.txt = %q, %v", data, err)
	}
}

// TestAnswerThroughAnotherNodeAsTheQuestionIsSeen: an answer sent through
// another node as soon as the question can be seen, while the node that
// runs the task has not begun to wait (the task is running there), is
// stored for that node, and its run takes it before it ends to wait: the
// run parks with nothing of it, and the stored answer queues the task
// again. Before, the answer was stored with nothing to take it (the run
// had looked for one) and nothing to wake the task, which waited for
// ever after a 202.
func TestAnswerThroughAnotherNodeAsTheQuestionIsSeen(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	c.controlEvery = time.Hour // the run's own look, not its poll, must find it
	var nodes []*parkNode
	sent := make(chan error, 1)
	c.wrap = func(n *parkNode, db *postgres.DB) runner.Store {
		return answerOnQuestion{Store: db, answer: func(tenant bulwark.TenantID, id string) {
			other := nodes[0]
			if other == n {
				other = nodes[1]
			}
			sent <- other.rt.Send(context.Background(), tenant, id, "green")
		}}
	}
	nodes = append(nodes, c.node("node-0"), c.node("node-1"))
	id := c.submit(nodes[0], "ask")
	c.wantAnswered(id, sent, 30*time.Second, "the question was never asked")
}

// TestAnswerThroughAnotherNodeAsTheRunParks: an answer sent through
// another node that read the task running, and stored only once its run
// has ended to wait (and looked for requests for the last time), queues
// the task again: the next run takes it. Before, nothing woke the task.
func TestAnswerThroughAnotherNodeAsTheRunParks(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	var nodes []*parkNode
	entered, sent := make(chan struct{}), make(chan error, 1)
	var once sync.Once // the question asked again is not answered again
	other := func(n *parkNode) *parkNode {
		if nodes[0] == n {
			return nodes[1]
		}
		return nodes[0]
	}
	c.wrap = func(n *parkNode, db *postgres.DB) runner.Store {
		return answerOnQuestion{Store: db, answer: func(tenant bulwark.TenantID, id string) {
			once.Do(func() {
				go func() { sent <- other(n).rt.Send(context.Background(), tenant, id, "green") }()
				<-entered // the other node has read the task running
			})
		}}
	}
	c.wrapControls = func(n *parkNode, db *postgres.DB) bulwark.ControlStore {
		return storeOnceParked{DB: db, c: c, entered: entered}
	}
	nodes = append(nodes, c.node("node-0"), c.node("node-1"))
	id := c.submit(nodes[0], "ask")
	c.wantAnswered(id, sent, 60*time.Second, "the answer was never sent")
}

// storeOnceParked stores a message only once its task waits with no run
// (after entered is closed, once).
type storeOnceParked struct {
	*postgres.DB
	c       *parkCluster
	entered chan struct{}
}

func (s storeOnceParked) SendControl(ctx context.Context, tenant bulwark.TenantID, r bulwark.ControlRequest) (bulwark.ControlRequest, error) {
	if r.Kind == bulwark.ControlMessage {
		close(s.entered)
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			var state string
			err := s.DB.Pool().QueryRow(ctx, `SELECT state FROM bulwark_queue WHERE task_id = $1`, r.TaskID).Scan(&state)
			if err == nil && state == "waiting" {
				break
			}
		}
	}
	return s.DB.SendControl(ctx, tenant, r)
}

// TestCancelAsARescuedRunPutsItsFilesBack: a cancel that reaches the run
// rescuing a task as it puts back the files of the task's checkpoint
// (the files the stopped node wrote, which only the checkpoint holds)
// ends the task canceled with those files sealed into the store. The
// cancel cut the restore short, and the run's end sealed the folder
// half put back and dropped the checkpoint: the files were lost.
func TestCancelAsARescuedRunPutsItsFilesBack(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	ctx := context.Background()
	var n1 *parkNode
	ready := make(chan struct{}) // n1 is set
	var once sync.Once
	c.config = func(name string, cfg *runner.Config) {
		switch name {
		case "node-0":
			// Its folder is as good as lost when it stops: nothing of it
			// reaches the store but through the checkpoints.
			cfg.Artifacts = nil
		case "node-1":
			cfg.AutoResume = true
			db := cfg.Checkpoints.(*postgres.DB)
			cfg.Checkpoints = cancelOnBlobPG{DB: db, cancel: func(tenant bulwark.TenantID, id string) {
				once.Do(func() {
					<-ready
					if err := n1.rt.Cancel(ctx, tenant, "user:1", id); err != nil {
						t.Errorf("Cancel as the files are put back: %v", err)
					}
				})
			}}
		}
	}
	n0 := c.node("node-0")
	id := c.submit(n0, "files")
	waitFor(t, func() bool { return c.count(id, bulwark.EventToolResult, "") == 2 })
	n0.shutdown(t) // the task goes back to the queue, for another node
	n1 = c.node("node-1")
	close(ready)
	got := c.waitStatus(id, bulwark.TaskCanceled)
	if got.Turns != 2 {
		t.Errorf("the task ended in turn %d, want 2 (the rescue's)", got.Turns)
	}
	// The files reach the store as the run closes, a moment after the
	// status says the task ended.
	waitFor(t, func() bool {
		_, err := c.store.LatestCheckpoint(ctx, c.a, id)
		return bulwark.ErrorKind(err) == bulwark.NotFound && c.open.Load() == 0
	})
	for name, want := range map[string]string{"a.txt": "A", "b.txt": "B"} {
		if _, data, err := c.store.ArtifactContent(ctx, c.a, id, name); err != nil || string(data) != want {
			t.Errorf("%s in the store = %q, %v; want %q", name, data, err, want)
		}
	}
}

// cancelOnBlobPG has the person cancel a task as the content of one of
// its checkpoint's files is read, before it is.
type cancelOnBlobPG struct {
	*postgres.DB
	cancel func(tenant bulwark.TenantID, id string)
}

func (s cancelOnBlobPG) Blob(ctx context.Context, tenant bulwark.TenantID, taskID, id string) ([]byte, error) {
	s.cancel(tenant, taskID)
	return s.DB.Blob(ctx, tenant, taskID, id)
}

// TestAnswerAsARescuedRunSetsUp: the node that ran a task stops after
// the task's question was stored, before its run began to wait; the run
// that rescues the task on another node asks again. An answer sent to
// that node while its run sets up (it holds the task, and has not asked
// yet) is the answer, as one sent through any other node is (kept for
// the run's first question). It went to the run's inbox, which its
// question then took for a message from before it: the task waited for
// another answer.
func TestAnswerAsARescuedRunSetsUp(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	ctx := context.Background()
	var n0, n1 *parkNode
	ready0, ready := make(chan struct{}), make(chan struct{}) // n0, n1 are set
	var answerOnce sync.Once
	sent := make(chan error, 1)
	c.config = func(name string, cfg *runner.Config) {
		prepare := cfg.Prepare
		switch name {
		case "node-0":
			stopAtQuestion(t, cfg, &n0, ready0)
		case "node-1":
			cfg.AutoResume = true
			cfg.Prepare = func(ctx context.Context, task bulwark.Task, ws *workspace.Workspace) (*runner.Setup, error) {
				answerOnce.Do(func() {
					<-ready
					sent <- n1.rt.Send(context.Background(), bulwark.TenantID(task.TenantID), task.ID, "green")
				})
				return prepare(ctx, task, ws)
			}
		}
	}
	n0 = c.node("node-0")
	close(ready0)
	id := c.submit(n0, "ask")
	waitFor(t, func() bool {
		got := must(c.store.Task(ctx, c.a, id))
		return got.Status == bulwark.TaskInterrupted
	})
	n1 = c.node("node-1")
	close(ready)
	if err := <-sent; err != nil {
		t.Fatalf("the answer was refused: %v", err)
	}
	got := c.waitStatus(id, bulwark.TaskSucceeded)
	if got.Answer != "colour green" || got.Turns != 2 {
		t.Errorf("the task answered %q in turn %d, want \"colour green\" in turn 2 (the rescue's)", got.Answer, got.Turns)
	}
}

// stopAtQuestion makes cfg's node shut down once its run has stored a
// question, before the run waits for the answer: the question is left
// for a rescue. *n is the node, set before ready is closed.
func stopAtQuestion(t *testing.T, cfg *runner.Config, n **parkNode, ready <-chan struct{}) {
	prepare := cfg.Prepare
	runs := make(chan context.Context, 1) // the node's run
	var once sync.Once
	cfg.Prepare = func(ctx context.Context, task bulwark.Task, ws *workspace.Workspace) (*runner.Setup, error) {
		runs <- ctx
		return prepare(ctx, task, ws)
	}
	cfg.Store = onQuestion{Store: cfg.Store, asked: func() {
		once.Do(func() {
			<-ready
			run := <-runs
			go (*n).shutdown(t)
			<-run.Done() // the node stops: the run ends before it waits
		})
	}}
}

// onQuestion calls asked once a question is stored.
type onQuestion struct {
	runner.Store
	asked func()
}

func (s onQuestion) AppendEvent(ctx context.Context, tenant bulwark.TenantID, e bulwark.Event) error {
	if err := s.Store.AppendEvent(ctx, tenant, e); err != nil {
		return err
	}
	if e.Type == bulwark.EventAskUser {
		s.asked()
	}
	return nil
}

// TestDecideAsAResumedRunSetsUp: a task that waits for an approval is
// queued again by a message; while its next run sets up (before it asks
// again), the node running it lists the approval, and a decision sent
// there is the decision, as one sent through any other node is (kept for
// the run's approval), and a second one there is refused. It was refused
// as no such approval waiting.
func TestDecideAsAResumedRunSetsUp(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	ctx := context.Background()
	var n0 *parkNode
	var runs atomic.Int32
	ready := make(chan struct{}) // n0 is set
	decided := make(chan error, 1)
	c.config = func(name string, cfg *runner.Config) {
		prepare := cfg.Prepare
		cfg.Prepare = func(ctx context.Context, task bulwark.Task, ws *workspace.Workspace) (*runner.Setup, error) {
			if runs.Add(1) == 2 { // the run the message queued
				<-ready
				tenant := bulwark.TenantID(task.TenantID)
				aps, err := n0.rt.Approvals(context.Background(), tenant, task.ID)
				if err == nil && len(aps) != 1 {
					err = fmt.Errorf("approvals %+v, want the one it waits for", aps)
				}
				if err == nil {
					err = n0.rt.Decide(context.Background(), tenant, "user:1", task.ID, aps[0].ID, true)
				}
				if err == nil {
					if again := n0.rt.Decide(context.Background(), tenant, "user:1", task.ID, aps[0].ID, false); bulwark.ErrorKind(again) != bulwark.Conflict {
						err = fmt.Errorf("deciding it again: %v, want Conflict", again)
					}
				}
				decided <- err
			}
			return prepare(ctx, task, ws)
		}
	}
	n0 = c.node("node-0")
	close(ready)
	id := c.submit(n0, "approve")
	c.waitParked(id, bulwark.EventApproval)
	if _, _, err := n0.rt.Message(ctx, c.a, "user:1", id, "hello", nil); err != nil {
		t.Fatalf("a message to the waiting task: %v", err)
	}
	if err := <-decided; err != nil {
		t.Fatalf("the decision as the run sets up: %v", err)
	}
	if got := c.waitStatus(id, bulwark.TaskSucceeded); !strings.HasPrefix(got.Answer, "approved") {
		t.Errorf("the task answered %q", got.Answer)
	}
}

// TestAnswerToATaskWithAProjectFile: a task whose folder holds the
// project file is told so by a notice at the start of each run, before
// the run that resumes it asks again. The answer that queued it is the
// answer. The notice was taken for a step of a run gone on without
// asking: the run stopped looking for the answer stored for it, and the
// task waited again (or, with what a run ending to wait takes, was
// queued again, over and over).
func TestAnswerToATaskWithAProjectFile(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	c.controlEvery = time.Hour // the resumed run's own look must find it
	ctx := context.Background()
	n0, n1 := c.node("node-0"), c.node("node-1")
	id := c.submit(n0, "agents")
	c.waitParked(id, bulwark.EventAskUser)
	if _, _, err := n1.rt.Message(ctx, c.a, "user:1", id, "blue", nil); err != nil {
		t.Fatalf("the answer: %v", err)
	}
	if got := c.waitStatus(id, bulwark.TaskSucceeded); got.Answer != "colour blue" {
		t.Errorf("the task answered %q, want \"colour blue\"", got.Answer)
	}
	if n := c.count(id, bulwark.EventAskUser, ""); n != 2 {
		t.Errorf("%d ask_user events, want 2 (asked, asked again by the run that took the answer)", n)
	}
}

// TestMessageBeforeTheQuestionThroughAnotherNode: on a River queue, a
// message sent through another node just before the task's question is
// stored (written before the question existed) is not its answer, though
// the running node takes it once the question is open (by its poll, or
// as its run ends to wait): the task waits, and is not run again for it;
// the answer sent later resumes it, on any node, and the message reaches
// the model as a message. It was taken for the answer.
func TestMessageBeforeTheQuestionThroughAnotherNode(t *testing.T) {
	for _, tc := range []struct {
		name string
		poll time.Duration
	}{{"polled", 0}, {"taken as the run parks", time.Hour}} {
		t.Run(tc.name, func(t *testing.T) { messageBeforeTheQuestion(t, tc.poll) })
	}
}

func messageBeforeTheQuestion(t *testing.T, poll time.Duration) {
	c := newParkCluster(t, parkHandler)
	c.controlEvery = poll
	ctx := context.Background()
	var nodes []*parkNode
	var once sync.Once
	sent := make(chan error, 1)
	c.wrap = func(n *parkNode, db *postgres.DB) runner.Store {
		return onAskUser{Store: db, before: func(tenant bulwark.TenantID, e bulwark.Event) {
			once.Do(func() { sent <- nodes[1].rt.Send(context.Background(), tenant, e.TaskID, "also use the big font") })
		}}
	}
	nodes = append(nodes, c.node("node-0"), c.node("node-1"))
	id := c.submit(nodes[0], "ask")
	if err := <-sent; err != nil {
		t.Fatalf("the message before the question: %v", err)
	}
	var task bulwark.Task
	waitFor(t, func() bool {
		task = must(c.store.Task(ctx, c.a, id))
		return task.Status == bulwark.TaskWaiting || task.Status.Ended()
	})
	if task.Status.Ended() {
		t.Fatalf("the task ended %s with %q before any answer: the message from before the question was taken for its answer", task.Status, task.Answer)
	}
	c.waitParked(id, bulwark.EventAskUser)
	if _, _, err := nodes[1].rt.Message(ctx, c.a, "user:1", id, "green", nil); err != nil {
		t.Fatalf("the answer: %v", err)
	}
	if got := c.waitStatus(id, bulwark.TaskSucceeded); got.Answer != "colour green" {
		t.Errorf("the task answered %q, want \"colour green\": the message from before the question was taken for its answer", got.Answer)
	}
	if n := c.count(id, bulwark.EventUserMessage, "big font"); n != 1 {
		t.Errorf("the message from before the question is stored %d times, want once", n)
	}
	if n := c.count(id, bulwark.EventAskUser, ""); n != 2 {
		t.Errorf("%d ask_user events, want 2 (asked, asked again by the run the answer queued): the message woke the task", n)
	}
}
