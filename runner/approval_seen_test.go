package runner_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/runner"
	"github.com/bulwark-agents/bulwark/sqlite"
)

// onApproval is a store that, as the event of an approval a task asks
// is stored, calls seen before the store returns: the earliest instant
// anyone can see the approval.
type onApproval struct {
	runner.Store
	seen func(tenant bulwark.TenantID, id string)
}

func (s onApproval) AppendEvent(ctx context.Context, tenant bulwark.TenantID, e bulwark.Event) error {
	if err := s.Store.AppendEvent(ctx, tenant, e); err != nil {
		return err
	}
	if e.Type == bulwark.EventApproval && e.Decision == "" {
		s.seen(tenant, e.TaskID)
	}
	return nil
}

// listAndDecide lists the approvals of task id through rt and allows the
// one it finds.
func listAndDecide(rt *runner.Runtime, tenant bulwark.TenantID, id string) error {
	ctx := context.Background()
	aps, err := rt.Approvals(ctx, tenant, id)
	if err != nil {
		return err
	}
	if len(aps) != 1 || aps[0].Tool != "write_file" {
		return fmt.Errorf("approvals %+v as the approval's event is stored, want the write it asks for", aps)
	}
	return rt.Decide(ctx, tenant, "user:1", id, aps[0].ID, true)
}

// TestApprovalListedAsItsEventIsSeen: a person who sees the event of an
// approval a task asks, and at once lists the task's approvals, finds it
// there, and the decision made on it is the decision. The list was empty
// until the run had begun to wait.
func TestApprovalListedAsItsEventIsSeen(t *testing.T) {
	e := newEnv(t, steps(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "notes/a.txt", "content": "A"})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "done"})}},
	))
	e.policy = bulwark.Policy{Rules: []bulwark.Rule{{Tool: "write_file", Pattern: "notes/*", Decision: bulwark.Ask}}}
	decided := make(chan error, 1)
	e.store = func(db *sqlite.DB) runner.Store {
		return onApproval{Store: db, seen: func(tenant bulwark.TenantID, id string) {
			decided <- listAndDecide(e.rt, tenant, id)
		}}
	}
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	select {
	case err := <-decided:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the approval was never asked")
	}
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	if _, data, err := e.rt.ReadFile(ctx, e.a, task.ID, "notes/a.txt"); err != nil || string(data) != "A" {
		t.Errorf("notes/a.txt = %q, %v; want the approved write", data, err)
	}
}

// TestApprovalListedAsItsEventIsSeenOnAQueue: on a River queue, where the
// run ends to wait for an approval, the approval is listed as soon as its
// event can be seen, through the node that runs the task and through
// another, and the decision made there at once is the decision. The list
// was empty until the run had stored what the task waits for, as it
// parked.
func TestApprovalListedAsItsEventIsSeenOnAQueue(t *testing.T) {
	for _, through := range []string{"the node running it", "another node"} {
		t.Run(through, func(t *testing.T) {
			c := newParkCluster(t, parkHandler)
			var nodes []*parkNode
			decided := make(chan error, 1)
			c.wrap = func(n *parkNode, db *postgres.DB) runner.Store {
				return onApproval{Store: db, seen: func(tenant bulwark.TenantID, id string) {
					via := n
					if through == "another node" {
						via = nodes[0]
						if via == n {
							via = nodes[1]
						}
					}
					select {
					case decided <- listAndDecide(via.rt, tenant, id):
					default: // asked again by the run the decision queued
					}
				}}
			}
			var puts recordedPuts
			c.config = func(name string, cfg *runner.Config) {
				cfg.Checkpoints = recordPutsPG{DB: cfg.Checkpoints.(*postgres.DB), puts: &puts}
			}
			nodes = append(nodes, c.node("node-0"), c.node("node-1"))
			id := c.submit(nodes[0], "approve")
			select {
			case err := <-decided:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the approval was never asked")
			}
			if got := c.waitStatus(id, bulwark.TaskSucceeded); got.Answer == "" || got.Answer[:8] != "approved" {
				t.Errorf("the task answered %q", got.Answer)
			}
			// Sealed into the store as the run closes, a moment after the
			// status says the task ended.
			var data []byte
			waitFor(t, func() bool {
				_, d, err := c.store.ArtifactContent(context.Background(), c.a, id, "notes/a.txt")
				data = d
				return err == nil
			})
			if string(data) != "A" {
				t.Errorf("notes/a.txt = %q, want the approved write", data)
			}
			if through == "the node running it" {
				// The run took the decision without parking: at once, its
				// checkpoint no longer says that it waits (the other
				// nodes list the approval from there), before the approved
				// call runs.
				got := puts.get()
				i := slices.IndexFunc(got, func(p put) bool { return p.waiting })
				if i < 0 || i+1 >= len(got) || got[i+1] != (put{seq: got[i].seq}) {
					t.Errorf("checkpoints put %+v, want the one that waits put again without the wait", got)
				}
			}
		})
	}
}

// TestDecideAsTheRunParksOnAQueue: a decision made through the node
// running a task after its run looked for one, as it begins to park (the
// task is marked waiting), is stored for the next run, which the task is
// queued again for: the decision is the decision. The run would park
// with it unread, and the task wait for another.
func TestDecideAsTheRunParksOnAQueue(t *testing.T) {
	c := newParkCluster(t, parkHandler)
	decided := make(chan error, 1)
	c.wrap = func(n *parkNode, db *postgres.DB) runner.Store {
		return onWaiting{DB: db, waiting: func(tenant bulwark.TenantID, id string) {
			select {
			case decided <- listAndDecide(n.rt, tenant, id):
			default: // decided once
			}
		}}
	}
	id := c.submit(c.node("node-0"), "approve")
	select {
	case err := <-decided:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the task never began to wait")
	}
	if got := c.waitStatus(id, bulwark.TaskSucceeded); !strings.HasPrefix(got.Answer, "approved") {
		t.Errorf("the task answered %q", got.Answer)
	}
}

// onWaiting calls waiting as a task is marked waiting.
type onWaiting struct {
	*postgres.DB
	waiting func(tenant bulwark.TenantID, id string)
}

func (s onWaiting) SetTaskStatus(ctx context.Context, tenant bulwark.TenantID, id string, st bulwark.TaskStatus) error {
	if err := s.DB.SetTaskStatus(ctx, tenant, id, st); err != nil {
		return err
	}
	if st == bulwark.TaskWaiting {
		s.waiting(tenant, id)
	}
	return nil
}

// put is what a checkpoint put said: its seq, and whether the task waits.
type put struct {
	seq     int64
	waiting bool
}

type recordedPuts struct {
	mu   sync.Mutex
	puts []put
}

func (r *recordedPuts) add(p put) {
	r.mu.Lock()
	r.puts = append(r.puts, p)
	r.mu.Unlock()
}

func (r *recordedPuts) get() []put {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.puts)
}

// recordPutsPG records the checkpoints put.
type recordPutsPG struct {
	*postgres.DB
	puts *recordedPuts
}

func (s recordPutsPG) PutCheckpoint(ctx context.Context, tenant bulwark.TenantID, c bulwark.Checkpoint) error {
	s.puts.add(put{seq: c.Seq, waiting: c.Waiting != nil})
	return s.DB.PutCheckpoint(ctx, tenant, c)
}
