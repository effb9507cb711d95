package runner_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/workspace"
)

// flakyBlobsPG is a checkpoint store whose reads of a checkpoint's file
// contents fail, as a database that does not answer, while fail says so.
type flakyBlobsPG struct {
	*postgres.DB
	fail  func() bool
	reads *atomic.Int32 // reads refused
}

func (s flakyBlobsPG) Blob(ctx context.Context, tenant bulwark.TenantID, taskID, id string) ([]byte, error) {
	if s.fail() {
		s.reads.Add(1)
		return nil, bulwark.Errorf(bulwark.Unavailable, "test.Blob", "the database at 10.0.0.7 does not answer")
	}
	return s.DB.Blob(ctx, tenant, taskID, id)
}

// rescueWithFlakyBlobs has node-0 run a task that writes a.txt and b.txt
// (which only its checkpoints keep: node-0 seals nothing) and then
// thinks, and stop; node-1 rescues it, and its run puts the files back
// from the checkpoint through a store whose reads fail while fail says
// so. The rescued run finishes. It returns the task and the refused reads.
func rescueWithFlakyBlobs(t *testing.T, fail func() bool) (*parkCluster, string, *atomic.Int32) {
	t.Helper()
	var rescued atomic.Bool
	c := newParkCluster(t, func(r *llmtest.Request) llmtest.Turn {
		if rescued.Load() && toolResults(r) >= 2 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "rescued"})}}
		}
		return parkHandler(r)
	})
	reads := new(atomic.Int32)
	c.config = func(name string, cfg *runner.Config) {
		switch name {
		case "node-0":
			cfg.Artifacts = nil
		case "node-1":
			cfg.AutoResume = true
			cfg.Checkpoints = flakyBlobsPG{DB: cfg.Checkpoints.(*postgres.DB), fail: fail, reads: reads}
		}
	}
	n0 := c.node("node-0")
	id := c.submit(n0, "files")
	waitFor(t, func() bool { return c.count(id, bulwark.EventToolResult, "") == 2 })
	n0.shutdown(t)
	rescued.Store(true)
	c.node("node-1")
	return c, id, reads
}

// TestRescueWaitsForTheStore: on a River queue, the run that rescues a
// task from a node that stopped cannot put its checkpoint's files back,
// twice, because the store does not answer. The task is not failed: the
// run gives it back to the queue, which runs it again, and it goes on
// with its files once the store answers. It used to end failed, and its
// end dropped the checkpoint, which alone held the files.
func TestRescueWaitsForTheStore(t *testing.T) {
	var tries atomic.Int32
	c, id, reads := rescueWithFlakyBlobs(t, func() bool { return tries.Add(1) <= 2 })
	ctx := context.Background()
	if got := c.waitStatus(id, bulwark.TaskSucceeded); got.Answer != "rescued" {
		t.Errorf("the task answered %q", got.Answer)
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("%d reads were refused, want 2", n)
	}
	if n := c.count(id, bulwark.EventError, ""); n != 0 {
		t.Errorf("%d error events, want none", n)
	}
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

// TestRescueGivesUpOnTheStore: when the store keeps not answering, the
// rescued task fails once its tries are spent (counted by the queue over
// the nodes), saying so without the store's internals.
func TestRescueGivesUpOnTheStore(t *testing.T) {
	defer runner.SetMaxSetupRetries(1)()
	c, id, reads := rescueWithFlakyBlobs(t, func() bool { return true })
	c.waitStatus(id, bulwark.TaskFailed)
	if n := reads.Load(); n != 2 {
		t.Errorf("%d tries, want 2: the first and one more", n)
	}
	const want = "the task's workspace could not be put back as its last step left it: the database did not answer, 2 tries in a row"
	for _, typ := range []bulwark.EventType{bulwark.EventError, bulwark.EventTaskFinished} {
		if n := c.count(id, typ, ""); n != 1 || c.count(id, typ, want) != 1 {
			t.Errorf("%d %s events; want one saying %q", n, typ, want)
		}
	}
	for _, e := range must(c.store.Events(context.Background(), c.a, id, 0, 0)) {
		if strings.Contains(e.Text, "10.0.0.7") {
			t.Errorf("an event tells the store's internals: %q", e.Text)
		}
	}
}

// TestAnswerAsARescueFailsToSetUp: the run that rescues a task whose
// question its stopped node had stored takes an answer as it sets up,
// and then cannot read the task's checkpoint (the store does not
// answer): the answer is stored again for the next run, which asks the
// question again and takes it as the answer, even when its poll takes
// the answer before it asks. That run, not known for a rescue's, took
// the answer for a message from before the question, and the task
// waited for another.
func TestAnswerAsARescueFailsToSetUp(t *testing.T) {
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
				// The poll takes the answer stored again before the run
				// asks again.
				waitFor(t, func() bool {
					var n int
					err := c.store.Pool().QueryRow(ctx, `SELECT count(*) FROM task_controls WHERE task_id = $1 AND taken IS NULL`, task.ID).Scan(&n)
					return err == nil && n == 0
				})
				return prepare(ctx, task, ws)
			}
			cfg.Checkpoints = answerThenFailPG{DB: cfg.Checkpoints.(*postgres.DB), first: func(tenant bulwark.TenantID, id string) (failed bool) {
				answerOnce.Do(func() {
					<-ready
					sent <- n1.rt.Send(context.Background(), tenant, id, "green")
					failed = true
				})
				return failed
			}}
		}
	}
	n0 = c.node("node-0")
	close(ready0)
	id := c.submit(n0, "ask")
	waitFor(t, func() bool { return must(c.store.Task(ctx, c.a, id)).Status == bulwark.TaskInterrupted })
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

// answerThenFailPG calls first as the task's last checkpoint is read,
// and fails the read, as a database that does not answer, when first
// says so.
type answerThenFailPG struct {
	*postgres.DB
	first func(tenant bulwark.TenantID, id string) (failed bool)
}

func (s answerThenFailPG) LatestCheckpoint(ctx context.Context, tenant bulwark.TenantID, id string) (bulwark.Checkpoint, error) {
	if s.first(tenant, id) {
		return bulwark.Checkpoint{}, bulwark.Errorf(bulwark.Unavailable, "test.LatestCheckpoint", "the database does not answer")
	}
	return s.DB.LatestCheckpoint(ctx, tenant, id)
}
