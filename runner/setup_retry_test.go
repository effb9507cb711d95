package runner_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/runner"
)

// flakyFiles is an artifact store whose reads of a file's content fail,
// as a database that does not answer, while fail says so.
type flakyFiles struct {
	bulwark.ArtifactStore
	fail  func() bool
	reads atomic.Int32 // reads refused
}

func (s *flakyFiles) ArtifactContent(ctx context.Context, tenant bulwark.TenantID, taskID, path string) (bulwark.Artifact, []byte, error) {
	if s.fail() {
		s.reads.Add(1)
		return bulwark.Artifact{}, nil, bulwark.Errorf(bulwark.Unavailable, "test.ArtifactContent", "the database at 10.0.0.7 does not answer")
	}
	return s.ArtifactStore.ArtifactContent(ctx, tenant, taskID, path)
}

// stoppedMidTask runs a task that writes a.txt and b.txt and then thinks
// (until the model is told it resumes: then it finishes), and shuts the
// runtime down: the task's files are sealed into the store, and it
// waits, running, with its checkpoint, for the next start to resume it.
func stoppedMidTask(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		for _, m := range r.Messages {
			if strings.Contains(m.Content, "resumes now") {
				return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "resumed"})}}
			}
		}
		if n := toolResults(r); n < 2 {
			name := []string{"a.txt", "b.txt"}[n]
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": name, "content": strings.ToUpper(name[:1])})}}
		}
		return llmtest.Turn{Content: "thinking", Hang: true}
	})
	e.artifacts, e.checkpoints, e.autoResume = e.db, e.db, true
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test", Limits: bulwark.Limits{MaxSteps: 10}}))
	waitFor(t, func() bool {
		n := 0
		for _, ev := range must(e.db.Events(ctx, e.a, task.ID, 0, 0)) {
			if ev.Type == bulwark.EventToolResult {
				n++
			}
		}
		return n == 2
	})
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := e.rt.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	return e, task.ID
}

// TestResumeWaitsForTheStore: the run that resumes a task after a
// restart cannot put its files back, twice, because the store does not
// answer. The task is not failed: it goes back to the queue, files and
// checkpoint intact, and resumes once the store answers. It used to end
// failed, and its end dropped its checkpoint.
func TestResumeWaitsForTheStore(t *testing.T) {
	e, id := stoppedMidTask(t)
	ctx := context.Background()
	files := &flakyFiles{ArtifactStore: e.db}
	var reads atomic.Int32
	files.fail = func() bool { return reads.Add(1) <= 2 }
	e.artifacts = files
	e.rt = e.newRuntime(t, e.db) // Start resumes it
	got := waitStatus(t, e, e.a, id, bulwark.TaskSucceeded)
	if got.Answer != "resumed" || got.Turns != 1 {
		t.Errorf("the task ended %q in %d turns, want resumed in its one turn", got.Answer, got.Turns)
	}
	if n := files.reads.Load(); n != 2 {
		t.Errorf("%d reads were refused, want 2", n)
	}
	for _, ev := range must(e.db.Events(ctx, e.a, id, 0, 0)) {
		if ev.Type == bulwark.EventError {
			t.Errorf("an error event: %q", ev.Text)
		}
	}
	for name, want := range map[string]string{"a.txt": "A", "b.txt": "B"} {
		if _, data, err := e.rt.ReadFile(ctx, e.a, id, name); err != nil || string(data) != want {
			t.Errorf("%s = %q, %v; want %q", name, data, err, want)
		}
	}
}

// TestResumeGivesUpOnTheStore: when the store keeps not answering as the
// resumed run puts the files back, the task fails once the tries are
// spent, saying so without the store's internals, and its files are
// still in the store.
func TestResumeGivesUpOnTheStore(t *testing.T) {
	defer runner.SetMaxSetupRetries(2)()
	e, id := stoppedMidTask(t)
	ctx := context.Background()
	files := &flakyFiles{ArtifactStore: e.db, fail: func() bool { return true }}
	e.artifacts = files
	e.rt = e.newRuntime(t, e.db)
	waitStatus(t, e, e.a, id, bulwark.TaskFailed)
	if n := files.reads.Load(); n != 3 {
		t.Errorf("%d tries, want 3: the first and two more", n)
	}
	const want = "the task's files could not be put back in its workspace: the database did not answer, 3 tries in a row"
	var errs []string
	for _, ev := range must(e.db.Events(ctx, e.a, id, 0, 0)) {
		if ev.Type == bulwark.EventError || ev.Type == bulwark.EventTaskFinished {
			errs = append(errs, ev.Text)
		}
	}
	if len(errs) != 2 || errs[0] != want || errs[1] != want {
		t.Errorf("the task ended with %q, want an error and an end saying %q", errs, want)
	}
	for name, want := range map[string]string{"a.txt": "A", "b.txt": "B"} {
		if _, data, err := e.db.ArtifactContent(ctx, e.a, id, name); err != nil || string(data) != want {
			t.Errorf("%s in the store = %q, %v; want %q", name, data, err, want)
		}
	}
}

// TestCancelWhileResumeWaitsForTheStore: a task whose resumed run gave
// it back to the queue (the store did not answer) is canceled while it
// waits to be tried again: it ends canceled, and its files stay in the
// store.
func TestCancelWhileResumeWaitsForTheStore(t *testing.T) {
	defer runner.SetMaxSetupRetries(3)()
	e, id := stoppedMidTask(t)
	ctx := context.Background()
	files := &flakyFiles{ArtifactStore: e.db, fail: func() bool { return true }}
	e.artifacts = files
	e.rt = e.newRuntime(t, e.db)
	waitFor(t, func() bool { return files.reads.Load() >= 1 })
	if err := e.rt.Cancel(ctx, e.a, "user:1", id); err != nil {
		t.Fatalf("Cancel while the task waits to be tried again: %v", err)
	}
	waitStatus(t, e, e.a, id, bulwark.TaskCanceled)
	for name, want := range map[string]string{"a.txt": "A", "b.txt": "B"} {
		if _, data, err := e.db.ArtifactContent(ctx, e.a, id, name); err != nil || string(data) != want {
			t.Errorf("%s in the store = %q, %v; want %q", name, data, err, want)
		}
	}
}

// TestCancelAsResumeSetsUpAndTheStoreNeverAnswers: a cancel that reaches
// a resumed run as it puts the files back, which the store does not let
// it do, is carried out by the run that gives up on the store: the task
// ends canceled, not failed, its files still in the store.
func TestCancelAsResumeSetsUpAndTheStoreNeverAnswers(t *testing.T) {
	defer runner.SetMaxSetupRetries(2)()
	e, id := stoppedMidTask(t)
	ctx := context.Background()
	var once sync.Once
	var rt *runner.Runtime
	ready := make(chan struct{}) // rt is set
	files := &flakyFiles{ArtifactStore: e.db}
	files.fail = func() bool {
		once.Do(func() {
			<-ready
			if err := rt.Cancel(ctx, e.a, "user:1", id); err != nil {
				t.Errorf("Cancel as the files are put back: %v", err)
			}
		})
		return true
	}
	e.artifacts = files
	rt = e.newRuntime(t, e.db)
	close(ready)
	waitStatus(t, e, e.a, id, bulwark.TaskCanceled)
	if n := files.reads.Load(); n != 3 {
		t.Errorf("%d tries, want 3: the cancel waits for the files, up to the last try", n)
	}
	for name, want := range map[string]string{"a.txt": "A", "b.txt": "B"} {
		if _, data, err := e.db.ArtifactContent(ctx, e.a, id, name); err != nil || string(data) != want {
			t.Errorf("%s in the store = %q, %v; want %q", name, data, err, want)
		}
	}
}
