package runner_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/runner"
)

// readHook calls its func (once, when armed) as its runtime reads the
// events of a task: a resume reads them just before the store opens the
// next turn.
type readHook struct {
	runner.Store
	armed atomic.Bool
	once  sync.Once
	read  func()
}

func (s *readHook) Events(ctx context.Context, tenant bulwark.TenantID, id string, after int64, limit int) ([]bulwark.Event, error) {
	if s.armed.Load() {
		s.once.Do(s.read)
	}
	return s.Store.Events(ctx, tenant, id, after, limit)
}

// controlsHook calls taking (once, when armed) as its runtime takes the
// requests of a task (a cancel of an interrupted task takes them just
// before it ends the task), and sending (once) before it stores a cancel.
type controlsHook struct {
	bulwark.ControlStore
	armed           atomic.Bool
	onceTake        sync.Once
	onceSend        sync.Once
	taking, sending func()
}

func (s *controlsHook) TakeControls(ctx context.Context, tasks []bulwark.TaskRef) ([]bulwark.ControlRequest, error) {
	if s.armed.Load() && s.taking != nil {
		s.onceTake.Do(s.taking)
	}
	return s.ControlStore.TakeControls(ctx, tasks)
}

func (s *controlsHook) SendControl(ctx context.Context, tenant bulwark.TenantID, r bulwark.ControlRequest) (bulwark.ControlRequest, error) {
	if r.Kind == bulwark.ControlCancel && s.sending != nil {
		s.onceSend.Do(s.sending)
	}
	return s.ControlStore.SendControl(ctx, tenant, r)
}

// hookedCluster is a cluster whose second node's store reads through
// resumer and third node's control requests go through canceler.
type hookedCluster struct {
	*parkCluster
	resumer  *readHook
	canceler *controlsHook
}

// newHookedCluster starts a cluster whose tasks write a.txt and then wait
// for their model for ever (a run goes on until it is canceled), with
// tasks resumed by a person only. Nodes are started with node.
func newHookedCluster(t *testing.T) (*hookedCluster, chan struct{}) {
	hanging := make(chan struct{}, 1)
	c := &hookedCluster{parkCluster: newParkCluster(t, stoppingModel(hanging, new(atomic.Bool), ranOn))}
	nodes := 0
	c.wrap = func(_ *parkNode, db *postgres.DB) runner.Store {
		if nodes++; nodes == 2 {
			c.resumer = &readHook{Store: db}
			return c.resumer
		}
		return db
	}
	c.wrapControls = func(_ *parkNode, db *postgres.DB) bulwark.ControlStore {
		if nodes == 3 {
			c.canceler = &controlsHook{ControlStore: db}
			return c.canceler
		}
		return db
	}
	return c, hanging
}

// interrupted runs a task on node-0 and stops node-0 under it: the task
// is interrupted in turn 1. It starts node-1 and node-2.
func (c *hookedCluster) interrupted(hanging chan struct{}) (id string, n1, n2 *parkNode) {
	n0 := c.node("node-0")
	id = c.submit(n0, "x")
	<-hanging // it runs on node-0
	n0.shutdown(c.t)
	c.waitStatus(id, bulwark.TaskInterrupted)
	return id, c.node("node-1"), c.node("node-2")
}

// wantCanceledIn checks that task id ended canceled in turn turn, once,
// that no run of it goes on (its last event is its end), and that
// nothing is left stored for that turn.
func (c *hookedCluster) wantCanceledIn(id string, turn int) {
	c.t.Helper()
	got := c.waitStatus(id, bulwark.TaskCanceled)
	waitFor(c.t, func() bool { return c.open.Load() == 0 })
	evs := must(c.store.Events(context.Background(), c.a, id, 0, 0))
	last := evs[len(evs)-1]
	if got = must(c.store.Task(context.Background(), c.a, id)); got.Status != bulwark.TaskCanceled || got.Turns != turn {
		c.t.Errorf("the task is %s in turn %d, want canceled in turn %d", got.Status, got.Turns, turn)
	}
	if n := c.count(id, bulwark.EventTaskFinished, ""); n != 1 || last.Type != bulwark.EventTaskFinished || last.Reason != bulwark.FinishCanceled {
		c.t.Errorf("%d task_finished events, the last event %s (%s); want one, canceled, last", n, last.Type, last.Reason)
	}
	for _, r := range must(c.store.TakeControls(context.Background(), []bulwark.TaskRef{{Tenant: c.a, ID: id}})) {
		// One for an earlier turn (a cancel stored for the turn a
		// resume had ended) is never carried out: that turn is over.
		if r.Turn >= turn {
			c.t.Errorf("a request left in the store for turn %d: %+v", turn, r)
		}
	}
}

// TestResumeAsTheInterruptedTaskIsCanceled: a person cancels an
// interrupted task through node-2 as another resumes it through node-1,
// and the resume reaches the store first. The cancel, which named the
// interrupted turn, finds the task resumed and cancels its new turn: the
// task ends canceled in turn 2, no run of it goes on. The cancel ended
// the interrupted turn as the resume opened the next, which ran on under
// a task shown canceled.
func TestResumeAsTheInterruptedTaskIsCanceled(t *testing.T) {
	c, hanging := newHookedCluster(t)
	id, n1, n2 := c.interrupted(hanging)
	ctx := context.Background()
	var resumeErr error
	c.canceler.taking = func() { _, resumeErr = n1.rt.Resume(ctx, c.a, "user:1", id) }
	c.canceler.armed.Store(true)
	if err := n2.rt.Cancel(ctx, c.a, "alice", id); err != nil {
		t.Errorf("Cancel through node-2 as node-1 resumed the task: %v", err)
	}
	if resumeErr != nil {
		t.Errorf("Resume through node-1 before the cancel was stored: %v", resumeErr)
	}
	c.wantCanceledIn(id, 2)
}

// TestCancelAsTheInterruptedTaskIsResumed: as above, the cancel reaching
// the store first: the resume, which read the task interrupted, changes
// nothing and is Conflict; the task ends canceled in turn 1, and does not
// run again. The resume opened a turn of the canceled task, which ran.
func TestCancelAsTheInterruptedTaskIsResumed(t *testing.T) {
	c, hanging := newHookedCluster(t)
	id, n1, n2 := c.interrupted(hanging)
	ctx := context.Background()
	var cancelErr error
	c.resumer.read = func() { cancelErr = n2.rt.Cancel(ctx, c.a, "alice", id) }
	c.resumer.armed.Store(true)
	if _, err := n1.rt.Resume(ctx, c.a, "user:1", id); bulwark.ErrorKind(err) != bulwark.Conflict {
		t.Errorf("Resume through node-1 after node-2 canceled the task: %v, want Conflict", err)
	}
	if cancelErr != nil {
		t.Errorf("Cancel through node-2 as node-1 resumed the task: %v", cancelErr)
	}
	c.wantCanceledIn(id, 1)
	if n := c.count(id, bulwark.EventTaskStarted, ""); n != 1 {
		t.Errorf("%d task_started events, want the first run's alone", n)
	}
}

// TestCancelStoredAfterTheResume: node-2 reads a task running on node-0
// and stores a cancel for its turn; in between, node-0 stops and a person
// resumes the task through node-1, which opens turn 2. The cancel is not
// lost: it cancels the turn the task is in. It was stored for the turn
// the resume had ended, which no run takes up: the task ran on.
func TestCancelStoredAfterTheResume(t *testing.T) {
	c, hanging := newHookedCluster(t)
	ctx := context.Background()
	n0 := c.node("node-0")
	id := c.submit(n0, "x")
	<-hanging // it runs on node-0
	n1, n2 := c.node("node-1"), c.node("node-2")
	var resumeErr error
	c.canceler.sending = func() {
		n0.shutdown(t)
		c.waitStatus(id, bulwark.TaskInterrupted)
		_, resumeErr = n1.rt.Resume(ctx, c.a, "user:1", id)
	}
	if err := n2.rt.Cancel(ctx, c.a, "alice", id); err != nil {
		t.Errorf("Cancel through node-2 of the task running on node-0: %v", err)
	}
	if resumeErr != nil {
		t.Fatalf("Resume through node-1 as the cancel was sent: %v", resumeErr)
	}
	c.wantCanceledIn(id, 2)
}
