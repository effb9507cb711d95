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
	"github.com/bulwark-agents/bulwark/workspace"
)

// flakyBlobsPG is a checkpoint store whose reads of a checkpoint's file
// contents fail, as a database that does not answer, while fail says so.
type flakyBlobsPG struct {
	*postgres.DB
	fail  func() bool
	reads *atomic.Int32 // reads refused
	// onRead, when set, is called as a file's content is read, first.
	onRead func(tenant bulwark.TenantID, taskID string)
}

func (s flakyBlobsPG) Blob(ctx context.Context, tenant bulwark.TenantID, taskID, id string) ([]byte, error) {
	if s.onRead != nil {
		s.onRead(tenant, taskID)
	}
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
	return rescueWith(t, flakyBlobsPG{fail: fail}, nil)
}

// rescueWith is rescueWithFlakyBlobs with blobs (its DB and reads set
// here) as node-1's checkpoint store, and more, when set, called with the
// cluster before its nodes start.
func rescueWith(t *testing.T, blobs flakyBlobsPG, more func(*parkCluster)) (*parkCluster, string, *atomic.Int32) {
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
			blobs.DB, blobs.reads = cfg.Checkpoints.(*postgres.DB), reads
			cfg.Checkpoints = blobs
		}
	}
	if more != nil {
		more(c)
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

// TestCancelAsARescueKeepsFailingToSetUp: on a River queue, a cancel is
// sent through the store (as through another node) while the run that
// rescues a task puts back its files, which it cannot (the store does
// not answer, ever), and the run ends before its node's poll takes the
// cancel (the poll is off here). The next run takes it as it starts,
// before its set-up fails in turn: the task ends canceled once its tries
// are spent. That run left the cancel to the poll, which a set-up that
// fails at once ended before: the task ended failed.
func TestCancelAsARescueKeepsFailingToSetUp(t *testing.T) {
	defer runner.SetMaxSetupRetries(2)()
	var c *parkCluster // set before the nodes start
	var once sync.Once
	blobs := flakyBlobsPG{fail: func() bool { return true }}
	blobs.onRead = func(tenant bulwark.TenantID, id string) {
		once.Do(func() { c.storeCancel(tenant, id) })
	}
	chains := must(audit.OpenChains(context.Background(), audit.NewMemoryDir(), audit.Options{}))
	_, id, reads := rescueWith(t, blobs, func(cc *parkCluster) {
		c = cc
		c.controlEvery = time.Hour
		config := c.config
		c.config = func(name string, cfg *runner.Config) {
			config(name, cfg)
			cfg.Audit = chains
		}
	})
	c.wantCanceledAfter(id, reads, 3)
	// Each try that gave the task back stored the cancel again: it was
	// audited again each time, as made by "system".
	var actors []string
	for rec, err := range chains.Read(context.Background(), string(c.a), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if rec.Action == "task.cancel_requested" && rec.Target == id {
			actors = append(actors, rec.Actor)
		}
	}
	if len(actors) != 1 || actors[0] != "user:1" {
		t.Errorf("task.cancel_requested audited by %q, want once, by user:1", actors)
	}
}

// storeCancel stores a person's cancel of task id, as a node that does
// not run it does (sendElsewhere).
func (c *parkCluster) storeCancel(tenant bulwark.TenantID, id string) {
	ctx := context.Background()
	task := must(c.store.Task(ctx, tenant, id))
	must(c.store.SendControl(ctx, tenant, bulwark.ControlRequest{Kind: bulwark.ControlCancel, Actor: "user:1", TaskID: id, Turn: task.Turns}))
}

// TestCancelTakenAsARescueGivesTheTaskBack: on a River queue, a cancel
// sent through the store (as through another node) while the run that
// rescues a task sets up is taken by that node's poll just as the run,
// whose set-up failed (the store did not answer), gives the task back to
// the queue. The cancel is stored again for the next run, which takes it
// as it starts: the task ends canceled once its tries are spent. The
// poll found the run gone and dropped the cancel ("the turn it was made
// for has ended") though the turn went on, and the task ended failed.
// (The run now gives the task back only once the poll has carried the
// cancel out to it: see TestMessageTakenAsTheNodeStops.)
func TestCancelTakenAsARescueGivesTheTaskBack(t *testing.T) {
	defer runner.SetMaxSetupRetries(2)()
	ctx := context.Background()
	var c *parkCluster // set before the nodes start
	var sendOnce, holdOnce sync.Once
	blobs := flakyBlobsPG{fail: func() bool { return true }}
	blobs.onRead = func(tenant bulwark.TenantID, id string) {
		sendOnce.Do(func() {
			c.storeCancel(tenant, id)
			// The run's node takes it before the run fails its set-up.
			waitFor(t, func() bool { return untakenControls(c, id) == 0 })
		})
	}
	_, id, reads := rescueWith(t, blobs, func(cc *parkCluster) {
		c = cc
		c.wrapControls = func(_ *parkNode, db *postgres.DB) bulwark.ControlStore {
			return onTaken{DB: db, taken: func(rs []bulwark.ControlRequest) {
				for _, r := range rs {
					if r.Kind != bulwark.ControlCancel {
						continue
					}
					// The poll carries it out once the run has given the
					// task back (its queue row waits for the next try), or,
					// as the run gives it back only once the poll is done
					// (handOver takes ctlMu), after a while: then the cancel
					// reaches the run, which stores it with the rest.
					holdOnce.Do(func() {
						for i := 0; i < 100; i++ {
							var state string
							var failures int
							err := db.Pool().QueryRow(ctx, `SELECT state, failures FROM bulwark_queue WHERE task_id = $1`, r.TaskID).Scan(&state, &failures)
							if err == nil && state == "queued" && failures >= 1 {
								return
							}
							time.Sleep(10 * time.Millisecond)
						}
					})
				}
			}}
		}
	})
	c.wantCanceledAfter(id, reads, 3)
}

// wantCanceledAfter waits for task id to end, and checks that it ended
// canceled, without an error, after tries reads of its files were
// refused: the cancel waits for the files, up to the last try.
func (c *parkCluster) wantCanceledAfter(id string, reads *atomic.Int32, tries int32) {
	c.t.Helper()
	var got bulwark.Task
	waitFor(c.t, func() bool {
		got = must(c.store.Task(context.Background(), c.a, id))
		return got.Status.Ended()
	})
	if got.Status != bulwark.TaskCanceled {
		c.t.Fatalf("the task ended %s, want canceled", got.Status)
	}
	if n := reads.Load(); n != tries {
		c.t.Errorf("%d tries, want %d", n, tries)
	}
	if n := c.count(id, bulwark.EventError, ""); n != 0 {
		c.t.Errorf("%d error events, want none", n)
	}
}

// untakenControls counts the control requests of task id not taken yet.
func untakenControls(c *parkCluster, id string) int {
	var n int
	if err := c.store.Pool().QueryRow(context.Background(), `SELECT count(*) FROM task_controls WHERE task_id = $1 AND taken IS NULL`, id).Scan(&n); err != nil {
		return -1
	}
	return n
}

// onTaken calls taken with the control requests a poll takes, before the
// poll carries them out.
type onTaken struct {
	*postgres.DB
	taken func([]bulwark.ControlRequest)
}

func (s onTaken) TakeControls(ctx context.Context, refs []bulwark.TaskRef) ([]bulwark.ControlRequest, error) {
	rs, err := s.DB.TakeControls(ctx, refs)
	if err == nil {
		s.taken(rs)
	}
	return rs, err
}
