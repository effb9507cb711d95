package runner

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/queue"
)

// oneTask is a store that knows one task (only Task is called here).
type oneTask struct {
	Store
	task bulwark.Task
}

func (s oneTask) Task(ctx context.Context, tenant bulwark.TenantID, id string) (bulwark.Task, error) {
	return s.task, nil
}

// sentControls records the control requests stored (only SendControl is
// called here).
type sentControls struct {
	bulwark.ControlStore
	mu   sync.Mutex
	sent []bulwark.ControlRequest
}

func (s *sentControls) SendControl(ctx context.Context, tenant bulwark.TenantID, r bulwark.ControlRequest) (bulwark.ControlRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, r)
	return r, nil
}

// running is a queue on which every task runs (Remove finds none queued).
type running struct{ queue.Queue }

func (running) Remove(context.Context, bulwark.TenantID, string) (bool, error) { return false, nil }

// A request that the poll took for a run that then gave its task back to
// a cluster's queue (its set-up failed), and that reaches the run's live
// state before it is dropped, is stored again for the next run. It went
// to the live state, which no run read any more: a cancel was lost, and
// the task failed once its tries were spent. In process, the live state
// waits for the next run, and takes it.
func TestRequestAfterGiveBack(t *testing.T) {
	task := bulwark.Task{ID: "t_1", TenantID: "ten_a", Status: bulwark.TaskQueued, Turns: 2}
	for _, inProcess := range []bool{false, true} {
		for _, kind := range []bulwark.ControlKind{bulwark.ControlCancel, bulwark.ControlMessage} {
			controls := &sentControls{}
			rt := &Runtime{cfg: Config{Store: oneTask{task: task}, Controls: controls}, queue: running{}, tasks: map[key]*live{}}
			if inProcess {
				rt.sched = &sched{}
			}
			l := newLive(task)
			l.cancel = func(error) {} // its run holds it: the poll takes its requests
			rt.tasks[key{"ten_a", "t_1"}] = l
			ctx := context.Background()
			rt.giveBack(ctx, l)
			r := bulwark.ControlRequest{ID: "ctl_1", TenantID: "ten_a", TaskID: "t_1", Turn: 2, Kind: kind, Actor: "user:1", Text: "stop"}
			if err := rt.carryOut(ctx, r); err != nil {
				t.Errorf("in process %v, %s: carryOut = %v", inProcess, kind, err)
			}
			l.mu.Lock()
			canceled := l.canceled
			l.mu.Unlock()
			kept := canceled || len(l.inbox) > 0
			switch {
			case inProcess && (!kept || len(controls.sent) != 0):
				t.Errorf("in process, %s: kept by the live state %v, stored %v; want kept for the next run", kind, kept, controls.sent)
			case !inProcess && (kept || len(controls.sent) != 1):
				t.Errorf("%s: kept by the dropped live state %v, stored %v; want stored again", kind, kept, controls.sent)
			case !inProcess && (controls.sent[0].ID != "" || controls.sent[0].Turn != 2 || controls.sent[0].Kind != kind):
				t.Errorf("%s: stored %+v, want it again, for turn 2", kind, controls.sent[0])
			}
		}
	}
}

// waitingStore is oneTask that also takes a task's status (SetTaskStatus).
type waitingStore struct{ oneTask }

func (waitingStore) SetTaskStatus(context.Context, bulwark.TenantID, string, bulwark.TaskStatus) error {
	return nil
}

func (s *sentControls) TakeControls(context.Context, []bulwark.TaskRef) ([]bulwark.ControlRequest, error) {
	return nil, nil
}

// A message that reaches a live task as its run ends, giving its task
// back to a cluster's queue (giveBack) or ending to wait for a person
// (parkRun), is stored for the next run, or refused for Send to store
// it. send let go of the live state's lock before it put the message in
// the inbox: a run that ended in between emptied the inbox into the
// store first, and the message, accepted, reached no run.
func TestMessageAsTheRunEnds(t *testing.T) {
	task := bulwark.Task{ID: "t_1", TenantID: "ten_a", Status: bulwark.TaskRunning, Turns: 2}
	for _, how := range []string{"gives its task back", "parks"} {
		controls := &sentControls{}
		rt := &Runtime{cfg: Config{Store: waitingStore{oneTask{task: task}}, Controls: controls}, queue: running{}, tasks: map[key]*live{}}
		l := newLive(task)
		l.cancel = func(error) {}
		l.wait.mark = func(context.Context, *bulwark.Waiting) error { return nil }
		rt.tasks[key{"ten_a", "t_1"}] = l
		ctx := context.Background()
		ended := false
		end := func() {
			ended = true
			if how == "parks" {
				rt.ctlMu.Lock()
				rt.parkRun(ctx, l, &bulwark.Waiting{Question: "which colour?"}, nil)
				return
			}
			rt.giveBack(ctx, l)
		}
		testHookInbox = func(x *live) {
			// The run ends between send's look at l and the inbox, if
			// send lets another in: it does not while it holds l.mu (the
			// run then ends after the message is in).
			if x == l && !ended && l.mu.TryLock() {
				l.mu.Unlock()
				end()
			}
		}
		err := l.send("green", 3)
		testHookInbox = nil
		if !ended {
			end()
		}
		var stored []string
		for _, r := range controls.sent {
			stored = append(stored, r.Text)
		}
		switch {
		case errors.Is(err, errRunEnding) && len(stored) == 0:
		case err == nil && len(stored) == 1 && stored[0] == "green":
		default:
			t.Errorf("a message as the run %s: send = %v, stored %q, %d left in the inbox; want it stored for the next run, or refused for Send to store", how, err, stored, len(l.inbox))
		}
	}
}

// A cancel that giveBack stores again for the next run (the task's
// set-up failed on a cluster's queue) keeps who made it, and the run
// that carries it out does not audit it again. It was stored as made by
// "system", and every run that took it added a task.cancel_requested
// of its own.
func TestCancelStoredAgainKeepsItsActor(t *testing.T) {
	ctx := context.Background()
	chains, err := audit.OpenChains(ctx, audit.NewMemoryDir(), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	task := bulwark.Task{ID: "t_1", TenantID: "ten_a", Status: bulwark.TaskQueued, Turns: 2}
	controls := &sentControls{}
	node := func() (*Runtime, *live) {
		rt := &Runtime{cfg: Config{Store: oneTask{task: task}, Controls: controls, Audit: chains}, queue: running{}, tasks: map[key]*live{}}
		l := newLive(task)
		l.cancel = func(error) {} // its run holds it
		rt.tasks[key{"ten_a", "t_1"}] = l
		return rt, l
	}
	rt, l := node()
	if err := rt.Cancel(ctx, "ten_a", "user:1", "t_1"); err != nil {
		t.Fatal(err)
	}
	rt.giveBack(ctx, l)
	if len(controls.sent) != 1 || controls.sent[0].Kind != bulwark.ControlCancel || controls.sent[0].Actor != "user:1" {
		t.Fatalf("giveBack stored %+v, want the cancel of user:1", controls.sent)
	}
	// The next run, on another node.
	next, nl := node()
	r := controls.sent[0]
	r.ID, r.TenantID = "ctl_1", "ten_a"
	if err := next.carryOut(ctx, r); err != nil {
		t.Fatal(err)
	}
	if !nl.canceled || nl.canceledBy != "user:1" {
		t.Errorf("the next run: canceled %v by %q, want canceled by user:1", nl.canceled, nl.canceledBy)
	}
	var actors []string
	for rec, err := range chains.Read(ctx, "ten_a", 0) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Action == "task.cancel_requested" {
			actors = append(actors, rec.Actor)
		}
	}
	if len(actors) != 1 || actors[0] != "user:1" {
		t.Errorf("task.cancel_requested audited by %q, want once, by user:1", actors)
	}
}

// A request stored again for the next run whose moment is not known (a
// node not yet upgraded stored it: its event_seq reads 0; or a message
// a run had in its inbox, from before the question) stays one that
// answers no question. Stored with EventSeq 0, the store stamped it as
// sent at that moment, after the task's question: the run that asked it
// again took it for its answer.
func TestRequestOfUnknownMomentStoredAgain(t *testing.T) {
	db, task, _ := openTestDB(t)
	ctx := context.Background()
	tenant := bulwark.TenantID(task.TenantID)
	for i, typ := range []bulwark.EventType{bulwark.EventTaskStarted, bulwark.EventToolCall, bulwark.EventAskUser} {
		if err := db.AppendEvent(ctx, tenant, bulwark.Event{TaskID: task.ID, Seq: int64(i + 1), Time: time.Now(), Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	const asked = 3
	task, err := db.Task(ctx, tenant, task.ID)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{cfg: Config{Store: db, Controls: db}, queue: running{}, tasks: map[key]*live{}}
	// Taken by the poll for a run here that has ended since.
	legacy := bulwark.ControlRequest{ID: "ctl_1", TenantID: task.TenantID, TaskID: task.ID, Turn: task.Turns, Kind: bulwark.ControlMessage, Text: "from an old node"}
	if err := rt.carryOut(ctx, legacy); err != nil {
		t.Fatal(err)
	}
	// In the inbox of a run that gives the task back.
	l := newLive(task)
	l.cancel = func(error) {}
	rt.tasks[key{tenant, task.ID}] = l
	l.inbox <- "from the inbox"
	rt.giveBack(ctx, l)
	got, err := db.TakeControls(ctx, []bulwark.TaskRef{{Tenant: tenant, ID: task.ID}})
	if err != nil || len(got) != 2 {
		t.Fatalf("TakeControls = %+v, %v; want the two messages", got, err)
	}
	for _, r := range got {
		if r.EventSeq >= asked {
			t.Errorf("%q stored again with EventSeq %d: the answer to the question asked at %d", r.Text, r.EventSeq, asked)
		}
	}
}

// stoppable is running, which also stops.
type stoppable struct{ running }

func (stoppable) Stop(context.Context) error { return nil }

// A task whose run gave it back to the in-process queue (its set-up
// failed), and which a person canceled and sent a message to meanwhile,
// when the server shuts down before its next try: the cancel and the
// message are stored for the next start, in the person's name. Both were
// held by its live state only, and lost with the process: the next start
// ran the task again.
func TestGivenBackInProcessAtShutdown(t *testing.T) {
	task := bulwark.Task{ID: "t_1", TenantID: "ten_a", Status: bulwark.TaskQueued, Turns: 1}
	controls := &sentControls{}
	rt := &Runtime{cfg: Config{Store: oneTask{task: task}, Controls: controls}, queue: stoppable{}, sched: &sched{},
		tasks: map[key]*live{}, stop: func(error) {}}
	l := newLive(task)
	rt.tasks[key{"ten_a", "t_1"}] = l
	ctx := context.Background()
	rt.giveBack(ctx, l) // l waits here for the next try
	if err := rt.Cancel(ctx, "ten_a", "user:1", "t_1"); err != nil {
		t.Fatal(err)
	}
	if err := l.send("hello", 0); err != nil {
		t.Fatal(err)
	}
	if err := rt.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range controls.sent {
		got = append(got, fmt.Sprintf("%s %s %q turn %d", r.Kind, r.Actor, r.Text, r.Turn))
	}
	want := []string{`message  "hello" turn 1`, `cancel user:1 "" turn 1`}
	if !slices.Equal(got, want) {
		t.Errorf("stored at the shutdown: %q, want %q", got, want)
	}
}
