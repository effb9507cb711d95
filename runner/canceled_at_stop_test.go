package runner_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// sealHook calls its func (once) the moment a stopping run marks its
// checkpoint sealed: after the run has stored what it held (handOver),
// before its task is marked interrupted.
type sealHook struct {
	bulwark.CheckpointStore
	once   sync.Once
	sealed func(tenant bulwark.TenantID, id string)
}

func (s *sealHook) PutCheckpoint(ctx context.Context, tenant bulwark.TenantID, c bulwark.Checkpoint) error {
	if c.Sealed {
		s.once.Do(func() { s.sealed(tenant, c.TaskID) })
	}
	return s.CheckpointStore.PutCheckpoint(ctx, tenant, c)
}

// stoppingModel scripts the model of a task that a stop cuts off: its
// first turn writes a.txt, the next ones say so on hanging (when nothing
// waits there already) and never answer, until restarted is set; from then
// on it finishes with what answer makes of the request.
func stoppingModel(hanging chan<- struct{}, restarted *atomic.Bool, answer func(*llmtest.Request) string) func(*llmtest.Request) llmtest.Turn {
	return func(r *llmtest.Request) llmtest.Turn {
		switch {
		case restarted.Load():
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": answer(r)})}}
		case toolResults(r) == 0:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}}
		}
		select {
		case hanging <- struct{}{}:
		default:
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	}
}

// ranOn is the answer of a task that ran again after its stop.
func ranOn(*llmtest.Request) string { return "ran on" }

// canceledAtStop runs a task that writes a.txt and then waits for its
// model, and shuts the server down; as the run stops, "alice" cancels the
// task (the request is stored for its turn). Without autoResume, the
// stopping server ends it canceled (it showed interrupted until a person
// resumed or canceled it again). It returns a new runtime on the same
// store (which resumes tasks by itself when autoResume). From then on the
// model answers "ran on" at once: the task ran again.
func canceledAtStop(t *testing.T, autoResume bool) (*env, bulwark.Task) {
	t.Helper()
	hanging := make(chan struct{}, 1)
	restarted := new(atomic.Bool)
	e := newEnv(t, stoppingModel(hanging, restarted, ranOn))
	ctx := context.Background()
	canceled := make(chan error, 1)
	hook := &sealHook{CheckpointStore: e.db, sealed: func(tenant bulwark.TenantID, id string) {
		canceled <- e.rt.Cancel(ctx, tenant, "alice", id)
	}}
	e.audit = must(audit.OpenChains(ctx, audit.NewMemoryDir(), audit.Options{}))
	e.artifacts, e.checkpoints, e.controls, e.autoResume = e.db, hook, e.db, autoResume
	e.rt = e.newRuntime(t, e.db)
	task := stopAsItWaits(t, e, hanging, nil)
	select {
	case err := <-canceled:
		if err != nil {
			t.Fatalf("the cancel as the server stopped: %v", err)
		}
	default:
		t.Fatal("the stopping run never marked its checkpoint sealed")
	}
	if !autoResume {
		// Marked interrupted, then ended canceled at once, by the
		// stopping server: not interrupted until a person acts on it.
		// Its files are as the run left them.
		if got := must(e.db.Task(ctx, e.a, task.ID)); got.Status != bulwark.TaskCanceled {
			t.Fatalf("the task canceled as the server stopped is %s once it has stopped, want canceled", got.Status)
		}
		if _, data, err := e.db.ArtifactContent(ctx, e.a, task.ID, "a.txt"); err != nil || string(data) != "A" {
			t.Errorf("a.txt of the task canceled as it stopped: %q, %v; want \"A\"", data, err)
		}
	}
	restarted.Store(true)
	e.checkpoints = e.db
	e.rt = e.newRuntime(t, e.db)
	return e, task
}

// wantCanceledBy checks that task id of tenant A ended canceled in the
// turn it was canceled in, without running again, with its cancel
// audited once, in the name of who made it, and nothing left stored.
func wantCanceledBy(t *testing.T, e *env, id string, turns int, actors ...string) {
	t.Helper()
	ctx := context.Background()
	got := waitStatus(t, e, e.a, id, bulwark.TaskCanceled)
	if got.Turns != turns || got.Answer == "ran on" {
		t.Errorf("the task ended canceled in turn %d, answering %q; want turn %d, without running again", got.Turns, got.Answer, turns)
	}
	var who []string
	for rec, err := range e.audit.Read(ctx, string(e.a), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Action == "task.cancel_requested" && rec.Target == id {
			who = append(who, rec.Actor)
		}
	}
	if len(who) != len(actors) || (len(who) > 0 && who[0] != actors[0]) {
		t.Errorf("task.cancel_requested audited by %q, want %q", who, actors)
	}
	if rs := must(e.db.TakeControls(ctx, []bulwark.TaskRef{{Tenant: e.a, ID: id}})); len(rs) != 0 {
		t.Errorf("requests left in the store: %+v", rs)
	}
	if n := count(must(e.db.Events(ctx, e.a, id, 0, 0)), bulwark.EventTaskStarted); n != turns {
		t.Errorf("%d task_started events, want %d: no run after the cancel", n, turns)
	}
}

// TestCancelAtStopWinsOverResume: a task a person canceled as its
// server stopped (the cancel stored for the turn the stop cut off) ends
// canceled, in their name, and does not run again: a resume is
// Conflict. The resume opened a new turn, and the cancel, kept for the
// turn before, was dropped: the task ran on. Another
// tenant's resume of its id is NotFound and changes nothing; a second
// resume is Conflict too.
func TestCancelAtStopWinsOverResume(t *testing.T) {
	e, task := canceledAtStop(t, false)
	ctx := context.Background()
	if _, err := e.rt.Resume(ctx, e.b, "k", task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("Resume of the task's id by another tenant: %v, want not found", err)
	}
	if _, _, err := e.rt.Message(ctx, e.b, "k", task.ID, "go on", nil); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("a message to the task's id by another tenant: %v, want not found", err)
	}
	if err := e.rt.Cancel(ctx, e.b, "mallory", task.ID); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("Cancel of the task's id by another tenant: %v, want not found", err)
	}
	if got := must(e.db.Task(ctx, e.a, task.ID)); got.Status != bulwark.TaskCanceled {
		t.Fatalf("after another tenant's requests the task is %s", got.Status)
	}
	if _, err := e.rt.Resume(ctx, e.a, "k", task.ID); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("Resume of the task canceled as it stopped: %v, want conflict", err)
	}
	wantCanceledBy(t, e, task.ID, 1, "alice")
	if _, err := e.rt.Resume(ctx, e.a, "k", task.ID); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("a second Resume: %v, want conflict", err)
	}
}

// TestCancelAtStopWinsOverMessage: as above, for a person's message to
// the task: its turn ends canceled first, and the message opens a new
// turn of the canceled task, as after any cancel (continued twice: the
// second message opens a third).
func TestCancelAtStopWinsOverMessage(t *testing.T) {
	e, task := canceledAtStop(t, false)
	ctx := context.Background()
	if _, continued, err := e.rt.Message(ctx, e.a, "k", task.ID, "go on", nil); err != nil || !continued {
		t.Fatalf("Message to the task: continued %v, %v", continued, err)
	}
	got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	evs := must(e.db.Events(ctx, e.a, task.ID, 0, 0))
	canceledAt, messageAt := -1, -1
	for i, ev := range evs {
		switch {
		case ev.Type == bulwark.EventTaskFinished && ev.Reason == bulwark.FinishCanceled && canceledAt < 0:
			canceledAt = i
		case ev.Type == bulwark.EventUserMessage && ev.Text == "go on":
			messageAt = i
		}
	}
	if canceledAt < 0 || messageAt < canceledAt || got.Turns != 2 {
		t.Errorf("turn %d, the cancel's end at %d, the message at %d: want the interrupted turn canceled, then the message's turn 2", got.Turns, canceledAt, messageAt)
	}
	if _, continued, err := e.rt.Message(ctx, e.a, "k", task.ID, "again", nil); err != nil || !continued {
		t.Fatalf("a second Message: continued %v, %v", continued, err)
	}
	if got := waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded); got.Turns != 3 {
		t.Errorf("after a second message, turn %d, want 3", got.Turns)
	}
}

// TestCancelAtStopWinsOverAutoResume: with tasks resumed by the next
// start, the task canceled as the server stopped ends canceled there,
// without a run. The run started (a sandbox, a "resumes now" notice) to
// end canceled before its first step.
func TestCancelAtStopWinsOverAutoResume(t *testing.T) {
	e, task := canceledAtStop(t, true)
	wantCanceledBy(t, e, task.ID, 1, "alice")
}

// cancelAsContinued runs its func (once) as a resume opens a turn of a
// task, before the store opens it.
type cancelAsContinued struct {
	*sqlite.DB
	once   sync.Once
	before func()
}

func (s *cancelAsContinued) ResumeTask(ctx context.Context, tenant bulwark.TenantID, id string, turn int) (bulwark.Task, error) {
	s.once.Do(s.before)
	return s.DB.ResumeTask(ctx, tenant, id, turn)
}

// TestCancelAsTheInterruptedTaskResumes: a person cancels an
// interrupted task as another resumes it: the task ends canceled, and
// runs no more, whichever goes first (the cancel ends the interrupted
// turn, or the turn the resume opened; the model never answers, so that
// only a cancel ends it). The cancel ended the interrupted turn as the
// resume opened the next, which ran on.
func TestCancelAsTheInterruptedTaskResumes(t *testing.T) {
	hanging := make(chan struct{}, 1)
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		select {
		case hanging <- struct{}{}:
		default:
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	ctx := context.Background()
	e.audit = must(audit.OpenChains(ctx, audit.NewMemoryDir(), audit.Options{}))
	e.artifacts, e.checkpoints, e.controls = e.db, e.db, e.db
	e.rt = e.newRuntime(t, e.db)
	task := stopAsItWaits(t, e, hanging, nil)
	waitStatus(t, e, e.a, task.ID, bulwark.TaskInterrupted)
	canceled := make(chan error, 1)
	e.store = func(db *sqlite.DB) runner.Store {
		return &cancelAsContinued{DB: db, before: func() {
			go func() { canceled <- e.rt.Cancel(ctx, e.a, "bob", task.ID) }()
			// The cancel goes first if it can; else it waits for the turn.
			select {
			case err := <-canceled:
				canceled <- err
			case <-time.After(time.Second):
			}
		}}
	}
	e.rt = e.newRuntime(t, e.db)
	if _, err := e.rt.Resume(ctx, e.a, "k", task.ID); err != nil && bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Fatalf("Resume: %v", err)
	}
	if err := <-canceled; err != nil {
		t.Fatalf("the cancel as the task resumed: %v", err)
	}
	// Once whatever runs here has ended.
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if got := must(e.db.Task(ctx, e.a, task.ID)); got.Status != bulwark.TaskCanceled || got.Answer == "ran on" {
		t.Errorf("the task is %s, answering %q; want canceled, without running on", got.Status, got.Answer)
	}
	if n := count(must(e.db.Events(ctx, e.a, task.ID, 0, 0)), bulwark.EventModelText); n != 0 {
		t.Errorf("%d model steps after the cancel, want none", n)
	}
}

// TestCanceledAtStopEndsAtStart: a task interrupted with a cancel stored
// for its turn (its server died before it could end it canceled, as it
// does when it stops) ends canceled at the next start, in the name of
// who canceled it, without a run, even with tasks resumed by a person
// only. It showed interrupted until a person acted on it.
func TestCanceledAtStopEndsAtStart(t *testing.T) {
	e := newEnv(t, func(*llmtest.Request) llmtest.Turn {
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ran on"})}}
	})
	ctx := context.Background()
	e.audit = must(audit.OpenChains(ctx, audit.NewMemoryDir(), audit.Options{}))
	e.artifacts, e.checkpoints, e.controls = e.db, e.db, e.db
	task := must(e.db.CreateTask(ctx, e.a, bulwark.Task{Input: "x", Model: "openai:test"}))
	if err := e.db.AppendEvent(ctx, e.a, bulwark.Event{Seq: 1, TaskID: task.ID, Type: bulwark.EventTaskStarted}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetTaskStatus(ctx, e.a, task.ID, bulwark.TaskInterrupted); err != nil {
		t.Fatal(err)
	}
	must(e.db.SendControl(ctx, e.a, bulwark.ControlRequest{TaskID: task.ID, Turn: 1, Kind: bulwark.ControlCancel, Actor: "alice"}))
	e.rt = e.newRuntime(t, e.db)
	if got := must(e.db.Task(ctx, e.a, task.ID)); got.Status != bulwark.TaskCanceled {
		t.Errorf("after the start the task is %s, want canceled", got.Status)
	}
	wantCanceledBy(t, e, task.ID, 1, "alice")
}
