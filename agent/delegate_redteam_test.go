package agent_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm"
)

// TestDelegateNamingItselfGoesNoDeeper: a child given "delegate" by name
// in tools, at every level, still stops at MaxDepth.
func TestDelegateNamingItselfGoesNoDeeper(t *testing.T) {
	m := &scripted{reply: func(_ context.Context, n int, _ llm.Request) (llm.Message, error) {
		if n < 4 {
			return callMsg("delegate", map[string]any{"task": fmt.Sprintf("level %d", n+1), "tools": []string{"delegate"}}), nil
		}
		return callMsg("finish", map[string]any{"answer": "deep"}), nil
	}}
	tr := newTree(t)
	agent.Run(context.Background(), tr.config(m, 2), bulwark.Task{ID: "t_root", Input: "go"})
	if len(tr.tasks) != 2 {
		t.Fatalf("children = %d (%+v), want two levels at most", len(tr.tasks), tr.tasks)
	}
	if slices.Contains(m.offered[2], "delegate") {
		t.Errorf("delegate offered at the limit: %v", m.offered[2])
	}
	if r, _ := tr.result("t_child2", "delegate"); !r.IsError {
		t.Errorf("delegate at the limit, named in tools = %+v, want refused", r)
	}
}
