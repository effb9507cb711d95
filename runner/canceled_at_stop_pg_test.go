package runner_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/audit"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/runner"
)

// TestCancelAtStopOnACluster: the node that runs a task stops, and as
// it does "alice" cancels the task through another node (the request is
// stored for the turn the stop cut off). The task ends canceled, in her
// name, without running again: at once, with its files as they were,
// when tasks are not resumed by themselves (it showed interrupted until
// a person resumed it, and a resume through the other node is
// Conflict), or when the other node rescues it (they are). The resume opened a new turn and dropped
// the cancel: the task ran on; the rescue carried it out only after its
// run had started (a sandbox, a "resumes now" step).
func TestCancelAtStopOnACluster(t *testing.T) {
	for _, auto := range []bool{false, true} {
		name := "resumed by a person"
		if auto {
			name = "rescued by another node"
		}
		t.Run(name, func(t *testing.T) { cancelAtStopOnACluster(t, auto) })
	}
}

func cancelAtStopOnACluster(t *testing.T, auto bool) {
	hanging := make(chan struct{}, 1)
	restarted := new(atomic.Bool)
	c := newParkCluster(t, stoppingModel(hanging, restarted, ranOn))
	ctx := context.Background()
	chains := must(audit.OpenChains(ctx, audit.NewMemoryDir(), audit.Options{}))
	var n1 atomic.Pointer[parkNode]
	canceled := make(chan error, 1)
	c.config = func(name string, cfg *runner.Config) {
		cfg.Audit, cfg.AutoResume = chains, auto
		if name == "node-0" {
			cfg.Checkpoints = &sealHook{CheckpointStore: cfg.Checkpoints, sealed: func(tenant bulwark.TenantID, id string) {
				restarted.Store(true)
				canceled <- n1.Load().rt.Cancel(ctx, tenant, "alice", id)
			}}
		}
	}
	n0 := c.node("node-0")
	id := c.submit(n0, "x")
	<-hanging // it runs on node-0
	n1.Store(c.node("node-1"))
	n0.shutdown(t)
	select {
	case err := <-canceled:
		if err != nil {
			t.Fatalf("the cancel through node-1 as node-0 stopped: %v", err)
		}
	case <-time.After(30 * time.Second): // a hang guard
		t.Fatal("the stopping run never marked its checkpoint sealed")
	}
	if !auto {
		// Ended canceled by node-0 as it stopped (or by node-1 once the
		// cancel was stored): not interrupted until a person acts on it.
		if got := must(c.store.Task(ctx, c.a, id)); got.Status != bulwark.TaskCanceled {
			t.Errorf("the task canceled as node-0 stopped is %s once node-0 has stopped, want canceled", got.Status)
		}
		if _, data, err := c.store.ArtifactContent(ctx, c.a, id, "a.txt"); err != nil || string(data) != "A" {
			t.Errorf("a.txt of the task canceled as it stopped: %q, %v; want \"A\"", data, err)
		}
		if _, err := n1.Load().rt.Resume(ctx, c.a, "user:1", id); bulwark.ErrorKind(err) != bulwark.Conflict {
			t.Errorf("Resume through node-1 of the task canceled as it stopped: %v, want conflict", err)
		}
	}
	got := c.waitStatus(id, bulwark.TaskCanceled)
	if got.Turns != 1 || got.Answer == "ran on" {
		t.Errorf("the task ended canceled in turn %d, answering %q; want turn 1, without running again", got.Turns, got.Answer)
	}
	if n := c.count(id, bulwark.EventTaskStarted, ""); n != 1 {
		t.Errorf("%d task_started events, want the first run's alone", n)
	}
	var actors []string
	for rec, err := range chains.Read(ctx, string(c.a), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Action == "task.cancel_requested" && rec.Target == id {
			actors = append(actors, rec.Actor)
		}
	}
	if len(actors) != 1 || actors[0] != "alice" {
		t.Errorf("task.cancel_requested audited by %q, want once, by alice", actors)
	}
	if rs := must(c.store.TakeControls(ctx, []bulwark.TaskRef{{Tenant: c.a, ID: id}})); len(rs) != 0 {
		t.Errorf("requests left in the store: %+v", rs)
	}
}

// takeHook calls its func (once) when TakeControls takes a message,
// before it returns it.
type takeHook struct {
	bulwark.ControlStore
	once  sync.Once
	taken func()
}

func (s *takeHook) TakeControls(ctx context.Context, tasks []bulwark.TaskRef) ([]bulwark.ControlRequest, error) {
	rs, err := s.ControlStore.TakeControls(ctx, tasks)
	for _, r := range rs {
		if r.Kind == bulwark.ControlMessage {
			s.once.Do(s.taken)
		}
	}
	return rs, err
}

// TestMessageTakenAsTheNodeStops: the poll of the node that runs a task
// takes a message for it (sent through another node) just as the node
// stops; a person resumes the task through the other node as soon as it
// is marked interrupted. The resumed run reads the message. The stopping
// run had handed over what it held and the task was marked interrupted
// before the poll carried the message out: it was stored again for the
// turn the resume had ended, or found that turn over, and was dropped.
func TestMessageTakenAsTheNodeStops(t *testing.T) {
	hanging := make(chan struct{}, 1)
	restarted := new(atomic.Bool)
	c := newParkCluster(t, stoppingModel(hanging, restarted, func(r *llmtest.Request) string {
		for _, m := range r.Messages {
			if strings.Contains(m.Content, "green") {
				return "read: green"
			}
		}
		return "read:"
	}))
	ctx := context.Background()
	var n0, n1 *parkNode
	var id string
	var resumed bool
	var resumeErr error
	hooked, stopped := make(chan struct{}), make(chan struct{})
	nodes := 0
	c.wrapControls = func(n *parkNode, db *postgres.DB) bulwark.ControlStore {
		if nodes++; nodes > 1 {
			return db // node-1's
		}
		return &takeHook{ControlStore: db, taken: func() {
			defer close(hooked)
			go func() { n0.shutdown(t); close(stopped) }()
			// Until the stopping run has marked the task interrupted (it
			// may wait for this poll: then, after a while, the poll goes
			// on), and the resume through node-1 at once.
			for i := 0; i < 100 && !resumed; i++ {
				if must(c.store.Task(ctx, c.a, id)).Status == bulwark.TaskInterrupted {
					restarted.Store(true)
					_, resumeErr = n1.rt.Resume(ctx, c.a, "user:1", id)
					resumed = true
				}
				time.Sleep(10 * time.Millisecond)
			}
		}}
	}
	n0 = c.node("node-0")
	id = c.submit(n0, "x")
	<-hanging // it runs on node-0
	n1 = c.node("node-1")
	if err := n1.rt.Send(ctx, c.a, id, "green"); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []chan struct{}{hooked, stopped} {
		select {
		case <-ch:
		case <-time.After(30 * time.Second): // a hang guard
			t.Fatal("node-0's poll never took the message, or node-0 never stopped")
		}
	}
	if resumeErr != nil {
		t.Fatalf("Resume as the task was marked interrupted: %v", resumeErr)
	}
	if !resumed {
		c.waitStatus(id, bulwark.TaskInterrupted)
		restarted.Store(true)
		must(n1.rt.Resume(ctx, c.a, "user:1", id))
	}
	got := c.waitStatus(id, bulwark.TaskSucceeded)
	if got.Answer != "read: green" {
		t.Errorf("the resumed task answered %q, want \"read: green\" (it read the message)", got.Answer)
	}
	if n := c.count(id, bulwark.EventUserMessage, "green"); n != 1 {
		t.Errorf("%d user messages hold the message, want 1", n)
	}
}
