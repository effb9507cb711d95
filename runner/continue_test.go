package runner_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// interrupted runs a task that writes a.txt and then thinks until a
// shutdown interrupts it, and returns it with a new runtime on the same
// store, as after a restart. The model finishes with "resumed" once it is
// told the task resumes, having seen the write's result.
func interrupted(t *testing.T) (*env, bulwark.Task, *atomic.Bool) {
	t.Helper()
	sawHistory := new(atomic.Bool)
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		for _, m := range r.Messages {
			if strings.Contains(m.Content, "resumes now") {
				sawHistory.Store(toolResults(r) == 1)
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "resumed"})}}
			}
		}
		if toolResults(r) == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}}
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	e.artifacts = e.db
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitFor(t, func() bool {
		evs := must(e.db.Events(ctx, e.a, task.ID, 0, 0))
		return len(evs) > 0 && evs[len(evs)-1].Type == bulwark.EventToolResult
	})
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, e.a, task.ID, bulwark.TaskInterrupted)
	e.rt = e.newRuntime(t, e.db)
	return e, task, sawHistory
}

func TestResumeInterrupted(t *testing.T) {
	e, task, sawHistory := interrupted(t)
	ctx := context.Background()
	if _, err := e.rt.Resume(ctx, e.b, "k", task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("Resume by another tenant: %v, want not found", err)
	}
	if _, err := e.rt.Resume(ctx, e.a, "k", task.ID); err != nil {
		t.Fatal(err)
	}
	got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	if got.Answer != "resumed" || got.Turns != 2 {
		t.Errorf("resumed task: %q, %d turns; want resumed, 2", got.Answer, got.Turns)
	}
	if !sawHistory.Load() {
		t.Errorf("the resumed turn's model did not see the conversation so far")
	}
	waitFor(t, func() bool {
		_, data, err := e.rt.ReadFile(ctx, e.a, task.ID, "a.txt")
		return err == nil && string(data) == "A"
	})
	if _, err := e.rt.Resume(ctx, e.a, "k", task.ID); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("Resume of a succeeded task: %v, want conflict", err)
	}
}

func TestCancelInterrupted(t *testing.T) {
	e, task, _ := interrupted(t)
	ctx := context.Background()
	if err := e.rt.Cancel(ctx, e.b, "k", task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("Cancel by another tenant: %v, want not found", err)
	}
	if err := e.rt.Cancel(ctx, e.a, "k", task.ID); err != nil {
		t.Fatalf("Cancel of an interrupted task: %v", err)
	}
	got := must(e.db.Task(ctx, e.a, task.ID))
	if got.Status != bulwark.TaskCanceled || got.Reason != bulwark.FinishCanceled {
		t.Errorf("after Cancel the task is %s (%s), want canceled", got.Status, got.Reason)
	}
	evs := must(e.db.Events(ctx, e.a, task.ID, 0, 0))
	if last := evs[len(evs)-1]; last.Type != bulwark.EventTaskFinished || last.Reason != bulwark.FinishCanceled {
		t.Errorf("the last step is %s %s, want task_finished canceled", last.Type, last.Reason)
	}
	if err := e.rt.Cancel(ctx, e.a, "k", task.ID); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("a second Cancel: %v, want conflict", err)
	}
}

// TestMessageToRunningTask: a message to a running task goes into its
// turn, as before; limits are refused there, since they are a new
// turn's.
func TestMessageToRunningTask(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		for _, m := range r.Messages {
			if strings.Contains(m.Content, "while you work: stop now") {
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "heard"})}}
			}
		}
		name := "f" + strconv.Itoa(toolResults(r)) + ".txt"
		return llmtest.Turn{Delay: 20 * time.Millisecond, ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": name, "content": name})}}
	})
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test", Limits: bulwark.Limits{MaxSteps: 500}}))
	waitStatus(t, e, e.a, task.ID, bulwark.TaskRunning)
	if _, _, err := e.rt.Message(ctx, e.a, "k", task.ID, "more", &bulwark.Limits{MaxSteps: 3}); bulwark.ErrorKind(err) != bulwark.Invalid {
		t.Errorf("Message with limits to a running task: %v, want invalid", err)
	}
	_, continued, err := e.rt.Message(ctx, e.a, "k", task.ID, "stop now", nil)
	if err != nil || continued {
		t.Fatalf("Message to a running task = %v, %v; want delivered", continued, err)
	}
	got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	if got.Answer != "heard" || got.Turns != 1 {
		t.Errorf("task: %q, %d turns; want heard, 1", got.Answer, got.Turns)
	}
}

// TestMessagesRaceToContinue: messages sent at once to a stopped task
// all arrive: one opens the new turn, the others join it. The new turn's
// model call waits until every message is in: a message that came after
// the turn had ended would rightly open another, and under load a sender
// can start later than any fixed delay.
func TestMessagesRaceToContinue(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	releaseTurn := func() { once.Do(func() { close(release) }) }
	defer releaseTurn()
	var calls atomic.Int32
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if calls.Add(1) > 1 { // the first turn's call does not wait
			<-release
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}}
	})
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	const n = 4
	errs := make(chan error, n)
	var continued atomic.Int32
	for i := range n {
		go func() {
			_, c, err := e.rt.Message(ctx, e.a, "k", task.ID, "message "+strconv.Itoa(i), nil)
			if c {
				continued.Add(1)
			}
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("a message sent at once with others: %v", err)
		}
	}
	releaseTurn()
	if continued.Load() != 1 {
		t.Errorf("%d messages opened a turn, want 1", continued.Load())
	}
	got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	if got.Turns != 2 {
		t.Errorf("turns = %d, want 2", got.Turns)
	}
}

// TestMessageToATerminalTask: a task 'bulwark run' ran keeps its files in
// Dir/TASK; the server does not start a turn of it without them, and says
// where it goes on. Nothing is stored: the task stays as it was.
func TestMessageToATerminalTask(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "x"})}}
	})
	ctx := context.Background()
	task := must(e.db.CreateTask(ctx, e.a, bulwark.Task{Input: "in a terminal", Model: "openai:test", Status: bulwark.TaskRunning}))
	if err := e.db.AppendEvent(ctx, e.a, bulwark.Event{Seq: 1, TaskID: task.ID, Type: bulwark.EventTaskFinished, Reason: bulwark.FinishDone, Text: "done"}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(e.dir, "workspaces", task.ID), 0o700); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.rt.Message(ctx, e.a, "k", task.ID, "go on", nil)
	if bulwark.ErrorKind(err) != bulwark.Conflict || !strings.Contains(bulwark.ErrorMessage(err), "bulwark run --continue "+task.ID) {
		t.Errorf("Message to a terminal's task: %v, want a conflict naming bulwark run --continue", err)
	}
	if got := must(e.db.Task(ctx, e.a, task.ID)); got.Status != bulwark.TaskSucceeded || got.Turns > 1 {
		t.Errorf("after the refusal the task is %s after %d turns", got.Status, got.Turns)
	}
}

// TestSweepSkipsTerminalTasks: the folders 'bulwark run' keeps beside the
// tenants' (Dir/TASK) are not taken for tenants when the server starts,
// so it does not warn of "a workspace folder without a task" for each.
func TestSweepSkipsTerminalTasks(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), nil)))
	defer slog.SetDefault(prev)
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn { return llmtest.Turn{Content: "x"} })
	if err := os.MkdirAll(filepath.Join(e.dir, "workspaces", "t_0123456789abcdef", ".bulwark", "outputs"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.artifacts = e.db
	e.newRuntime(t, e.db)
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "without a task") {
		t.Errorf("the server took a terminal task's folder for a tenant's:\n%s", logs.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestRunWaitsForTurnMessage: a run that a queue starts while a new turn
// is opening (the store has the task queued, and the message that opens
// the turn is not stored yet: a node that starts queues every queued task
// again) waits for the message, then runs the turn from the stored
// history: its events come after the message's, and none is stored twice
// (a run started from the history before the message took the message's
// seq for its first event, and the turn ended canceled).
func TestRunWaitsForTurnMessage(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "done"})}}
	})
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	before := must(e.db.Events(ctx, e.a, task.ID, 0, 0))
	last := before[len(before)-1]

	// Halfway through a Continue: the task is queued for its second turn,
	// and its message is stored only once a run has started.
	must(e.db.ContinueTask(ctx, e.a, task.ID, nil))
	var once sync.Once
	waited := make(chan struct{})
	defer runner.SetTestHookOpening(func(id string) {
		once.Do(func() {
			msg := bulwark.Event{Seq: last.Seq + 1, TaskID: id, Time: time.Now(), Type: bulwark.EventUserMessage, Step: last.Step, Text: "go on"}
			if err := e.db.AppendEvent(ctx, e.a, msg); err != nil {
				t.Errorf("storing the turn's message: %v", err)
			}
			close(waited)
		})
	})()
	e.rt = e.newRuntime(t, e.db) // Start queues the queued task again
	for i := 0; ; i++ {
		select {
		case <-waited:
		default:
			// Ended without waiting: it ran from the history before the
			// message.
			if cur := must(e.db.Task(ctx, e.a, task.ID)); cur.Status.Ended() || i > 9000 {
				evs := must(e.db.Events(ctx, e.a, task.ID, 0, 0))
				t.Fatalf("the run did not wait for the message that opens its turn: it is %s, events %v", cur.Status, types(evs[len(before):]))
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		break
	}
	got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	if got.Turns != 2 {
		t.Errorf("turns = %d, want 2", got.Turns)
	}
	evs := must(e.db.Events(ctx, e.a, task.ID, 0, 0))
	turn := evs[len(before):]
	if len(turn) < 3 || turn[0].Type != bulwark.EventUserMessage || turn[1].Type != bulwark.EventTaskStarted {
		t.Fatalf("the second turn's events begin %v, want the message, then task_started", types(turn))
	}
	if end := turn[len(turn)-1]; end.Type != bulwark.EventTaskFinished || end.Reason != bulwark.FinishDone {
		t.Errorf("the second turn ended %s %q, want task_finished done", end.Type, end.Reason)
	}
}

// pauseOnRead runs its func (once) after the nth read of a task once
// armed, before that read returns.
type pauseOnRead struct {
	*sqlite.DB
	armed, reads atomic.Int32
	n            int32
	pause        func()
}

func (s *pauseOnRead) Task(ctx context.Context, tenant bulwark.TenantID, id string) (bulwark.Task, error) {
	t, err := s.DB.Task(ctx, tenant, id)
	if s.armed.Load() == 1 && s.reads.Add(1) == s.n {
		s.pause()
	}
	return t, err
}

// TestMessageContinuesATaskAnotherJustContinued: a message that read
// the task stopped as another message opened its next turn joins that
// turn at once. It waited for the new turn's run to end, as for the
// turn before to put its files away: up to waitStopped, and then it was
// refused, the task "still stopping".
func TestMessageContinuesATaskAnotherJustContinued(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if calls.Add(1) > 1 { // the second turn's call waits
			<-release
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}}
	})
	defer close(release)
	read, goOn := make(chan struct{}), make(chan struct{})
	// The second read of the late message: Continue's, which finds the
	// task stopped.
	store := &pauseOnRead{n: 2, pause: func() { close(read); <-goOn }}
	e.store = func(db *sqlite.DB) runner.Store { store.DB = db; return store }
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	type result struct {
		continued bool
		err       error
	}
	late := make(chan result, 1)
	store.armed.Store(1)
	go func() {
		_, c, err := e.rt.Message(ctx, e.a, "k", task.ID, "late", nil)
		late <- result{c, err}
	}()
	<-read
	store.armed.Store(0)
	if _, c, err := e.rt.Message(ctx, e.a, "k", task.ID, "first", nil); err != nil || !c {
		t.Fatalf("the first message: continued %v, %v", c, err)
	}
	close(goOn)
	// Its turn's model call waits until the late message is in.
	if r := <-late; r.err != nil || r.continued {
		t.Errorf("the late message: continued %v, %v; want it delivered to the turn the first opened", r.continued, r.err)
	}
}
