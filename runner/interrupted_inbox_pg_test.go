package runner_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/postgres"
	"github.com/bulwark-agents/bulwark/runner"
)

// resumeOnInterrupt resumes the task through another node the moment its
// node marks it interrupted.
type resumeOnInterrupt struct {
	*postgres.DB
	resume func(tenant bulwark.TenantID, id string)
}

func (s resumeOnInterrupt) SetTaskStatus(ctx context.Context, tenant bulwark.TenantID, id string, status bulwark.TaskStatus) error {
	err := s.DB.SetTaskStatus(ctx, tenant, id, status)
	if err == nil && status == bulwark.TaskInterrupted {
		s.resume(tenant, id)
	}
	return err
}

// TestMessageNotReadAtInterruptOnACluster: the node that runs a task
// stops (tasks are not resumed by themselves) while the task has not
// read two messages, one sent to that node, one through another; a
// person resumes the task through the other node, the moment it is
// marked interrupted (its node's run has not returned yet) or once that
// node is gone. The resumed run reads both, at its first step. They
// were kept for the interrupted turn, which the resume ends; the node
// stored the first only after the task said interrupted, when a resume
// had gone on without it; and a run that rescued the turn kept them for
// its first question or after its first step, which ended the task.
func TestMessageNotReadAtInterruptOnACluster(t *testing.T) {
	for _, early := range []bool{true, false} {
		name := "once its node is gone"
		if early {
			name = "as it is marked interrupted"
		}
		t.Run(name, func(t *testing.T) { messageNotReadAtInterruptOnACluster(t, early) })
	}
}

func messageNotReadAtInterruptOnACluster(t *testing.T, early bool) {
	hanging := make(chan struct{}, 1)
	restarted := new(atomic.Bool)
	c := newParkCluster(t, func(r *llmtest.Request) llmtest.Turn {
		green, blue := false, false
		for _, m := range r.Messages {
			green = green || strings.Contains(m.Content, "green")
			blue = blue || strings.Contains(m.Content, "blue")
		}
		switch {
		case toolResults(r) == 0:
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}}
		case restarted.Load():
			answer := "read:"
			if green {
				answer += " green"
			}
			if blue {
				answer += " blue"
			}
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": answer})}}
		}
		select {
		case hanging <- struct{}{}:
		default:
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	// The nodes poll for requests too seldom to matter: what the resumed
	// run reads, it took as it began.
	c.controlEvery = time.Hour
	ctx := context.Background()
	var n1 atomic.Pointer[parkNode]
	resumed := make(chan error, 1)
	wrapped := !early
	c.wrap = func(n *parkNode, db *postgres.DB) runner.Store {
		if wrapped {
			return db // node-1's own
		}
		wrapped = true
		return resumeOnInterrupt{DB: db, resume: func(tenant bulwark.TenantID, id string) {
			restarted.Store(true)
			_, err := n1.Load().rt.Resume(ctx, tenant, "user:1", id)
			resumed <- err
		}}
	}
	n0 := c.node("node-0")
	id := c.submit(n0, "x")
	<-hanging // it runs on node-0
	n1.Store(c.node("node-1"))
	if err := n0.rt.Send(ctx, c.a, id, "green"); err != nil {
		t.Fatal(err)
	}
	if err := n1.Load().rt.Send(ctx, c.a, id, "blue"); err != nil {
		t.Fatal(err)
	}
	n0.shutdown(t)
	if !early {
		c.waitStatus(id, bulwark.TaskInterrupted)
		// The queue gave the stopped run's task to node-1, which left it
		// interrupted: the resume queues it anew, not as a rescue.
		waitFor(t, func() bool {
			var n int
			err := c.store.Pool().QueryRow(ctx, `SELECT count(*) FROM bulwark_queue WHERE task_id = $1`, id).Scan(&n)
			return err == nil && n == 0
		})
		restarted.Store(true)
		_, err := n1.Load().rt.Resume(ctx, c.a, "user:1", id)
		resumed <- err
	}
	select {
	case err := <-resumed:
		if err != nil {
			t.Fatalf("Resume through the other node as the task was marked interrupted: %v", err)
		}
	case <-time.After(30 * time.Second): // a hang guard
		t.Fatal("the task was never marked interrupted")
	}
	got := c.waitStatus(id, bulwark.TaskSucceeded)
	if got.Answer != "read: green blue" || got.Turns != 2 {
		t.Errorf("the resumed task answered %q in turn %d, want \"read: green blue\" in turn 2", got.Answer, got.Turns)
	}
	for _, text := range []string{"green", "blue"} {
		if n := c.count(id, bulwark.EventUserMessage, text); n != 1 {
			t.Errorf("%d user messages hold %q, want 1", n, text)
		}
	}
}
