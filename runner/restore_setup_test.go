package runner_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// TestSetupThatFailsAfterRestoreLeavesTheFilesStored: a new turn's run
// puts the task's files back into its folder, then cannot read the
// task's checkpoint (the database does not answer) and gives the task
// back to the queue; its end cannot seal the folder either. The files
// stay in the store, where the next run, on any node, finds them. They
// were taken out of the store as they were put back: only that node's
// folder held them, and a run on another node began the turn without
// them.
func TestSetupThatFailsAfterRestoreLeavesTheFilesStored(t *testing.T) {
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if toolResults(r) == 0 {
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "a.txt", "content": "A"})}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "done"})}}
	})
	arts := &flakyArtifacts{ArtifactStore: e.db}
	cps := &flakyCheckpoints{CheckpointStore: e.db}
	e.artifacts, e.checkpoints = arts, cps
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	waitFor(t, func() bool {
		_, _, err := e.db.ArtifactContent(ctx, e.a, task.ID, "a.txt")
		return err == nil
	})
	// The next turn's first run: its checkpoint read and its seal fail.
	arts.fail(true)
	cps.failNextRead()
	// What the store holds as the next run puts the files back.
	var mu sync.Mutex
	var seen []string
	listed := false
	arts.setOnList(func(as []bulwark.Artifact) {
		mu.Lock()
		defer mu.Unlock()
		if cps.failed() && !listed {
			listed = true
			for _, a := range as {
				seen = append(seen, a.Path)
			}
			arts.fail(false)
		}
	})
	if _, err := e.rt.Continue(ctx, e.a, "k", task.ID, "again", nil); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	mu.Lock()
	defer mu.Unlock()
	if !listed || len(seen) != 1 || seen[0] != "a.txt" {
		t.Errorf("the store held %q as the run after the failed set-up put the files back, want a.txt", seen)
	}
}

// flakyArtifacts fails PutArtifact while failing, and tells onList what
// Artifacts returns.
type flakyArtifacts struct {
	bulwark.ArtifactStore
	mu      sync.Mutex
	failing bool
	onList  func([]bulwark.Artifact)
}

func (s *flakyArtifacts) setOnList(f func([]bulwark.Artifact)) {
	s.mu.Lock()
	s.onList = f
	s.mu.Unlock()
}

func (s *flakyArtifacts) fail(on bool) {
	s.mu.Lock()
	s.failing = on
	s.mu.Unlock()
}

func (s *flakyArtifacts) PutArtifact(ctx context.Context, tenant bulwark.TenantID, a bulwark.Artifact, content []byte) (bulwark.Artifact, error) {
	s.mu.Lock()
	failing := s.failing
	s.mu.Unlock()
	if failing {
		return a, bulwark.E(bulwark.Unavailable, "test", "the database does not answer", errors.New("down"))
	}
	return s.ArtifactStore.PutArtifact(ctx, tenant, a, content)
}

func (s *flakyArtifacts) Artifacts(ctx context.Context, tenant bulwark.TenantID, id string) ([]bulwark.Artifact, error) {
	as, err := s.ArtifactStore.Artifacts(ctx, tenant, id)
	s.mu.Lock()
	onList := s.onList
	s.mu.Unlock()
	if err == nil && onList != nil {
		onList(as)
	}
	return as, err
}

// flakyCheckpoints fails one LatestCheckpoint, once asked to.
type flakyCheckpoints struct {
	bulwark.CheckpointStore
	mu          sync.Mutex
	armed, done bool
}

func (s *flakyCheckpoints) failNextRead() {
	s.mu.Lock()
	s.armed = true
	s.mu.Unlock()
}

func (s *flakyCheckpoints) failed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.done
}

func (s *flakyCheckpoints) LatestCheckpoint(ctx context.Context, tenant bulwark.TenantID, id string) (bulwark.Checkpoint, error) {
	s.mu.Lock()
	fail := s.armed && !s.done
	s.done = s.done || fail
	s.mu.Unlock()
	if fail {
		return bulwark.Checkpoint{}, bulwark.E(bulwark.Unavailable, "test", "the database does not answer", errors.New("down"))
	}
	return s.CheckpointStore.LatestCheckpoint(ctx, tenant, id)
}
