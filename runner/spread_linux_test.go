package runner_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/workspace"
)

// topDir reports whether folder dir carries FS_TOPDIR_FL, and whether its
// file system has inode flags at all.
func topDir(t *testing.T, dir string) (on, flags bool) {
	t.Helper()
	on, flags, err := workspace.IsSpread(dir)
	if err != nil {
		t.Fatal(err)
	}
	return on, flags
}

// A tenant's workspaces are made in a folder the file system spreads
// (workspace.Spread), where it can (ext4, the machines' root file
// system), and the task's own workspace is not.
func TestTenantWorkspacesSpread(t *testing.T) {
	e := newEnv(t, steps(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "wrote a.txt"})}},
	))
	if _, ok := topDir(t, e.dir); !ok {
		t.Skipf("the file system of %s has no inode flags", e.dir)
	}
	ctx := context.Background()
	task, err := e.rt.Submit(ctx, e.a, "user:1", bulwark.Task{Input: "write a.txt", Model: "openai:test"})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	dir := filepath.Join(e.dir, "workspaces", string(e.a))
	if on, _ := topDir(t, dir); !on {
		t.Errorf("the tenant's workspaces folder %s is not spread", dir)
	}
	if on, _ := topDir(t, filepath.Join(dir, task.ID)); on {
		t.Errorf("the task's own workspace is spread: only the folder of workspaces should be")
	}
}
