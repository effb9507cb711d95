package runner_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// TestFilesAreSealedWhenTheTaskStops uploads a file into a queued task,
// lets the agent write another, and checks that once the task has ended
// both are listed and read from the store and the folder is gone.
func TestFilesAreSealedWhenTheTaskStops(t *testing.T) {
	release := make(chan struct{})
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		if toolResults(r) == 0 {
			<-release
			return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "out/b.txt", "content": "B"})}}
		}
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}}
	})
	e.artifacts = e.db
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	if _, err := e.rt.PutFile(ctx, e.a, task.ID, "in/a.txt", []byte("A")); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.PutFile(ctx, e.b, task.ID, "x.txt", []byte("x")); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("PutFile by another tenant: %v, want not found", err)
	}
	for _, bad := range []string{"../x", "/etc/passwd", "a/../../b", "a\x00b", "."} {
		if _, err := e.rt.PutFile(ctx, e.a, task.ID, bad, []byte("x")); bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("PutFile(%q) = %v, want invalid", bad, err)
		}
	}
	live := must(e.rt.Files(ctx, e.a, task.ID))
	if len(live) != 1 || live[0].Path != "in/a.txt" || !live[0].Uploaded {
		t.Errorf("Files while running = %+v, want in/a.txt, uploaded", live)
	}
	close(release)
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	dir := filepath.Join(e.dir, "workspaces", string(e.a), task.ID)
	waitFor(t, func() bool { _, err := os.Stat(dir); return os.IsNotExist(err) })
	files := must(e.rt.Files(ctx, e.a, task.ID))
	if len(files) != 2 || files[0].Path != "in/a.txt" || !files[0].Uploaded || files[1].Path != "out/b.txt" || files[1].Uploaded {
		t.Fatalf("Files after the end = %+v, want in/a.txt (uploaded) and out/b.txt", files)
	}
	a, data, err := e.rt.ReadFile(ctx, e.a, task.ID, "out/b.txt")
	if err != nil || string(data) != "B" || a.SHA256 == "" {
		t.Errorf("ReadFile(out/b.txt) = %+v, %q, %v", a, data, err)
	}
	if _, _, err := e.rt.ReadFile(ctx, e.b, task.ID, "out/b.txt"); bulwark.ErrorKind(err) != bulwark.NotFound {
		t.Errorf("ReadFile by another tenant: %v, want not found", err)
	}
	// An upload into an ended task goes straight into the store.
	if _, err := e.rt.PutFile(ctx, e.a, task.ID, "late.txt", []byte("L")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("an upload into an ended task made its folder again")
	}
	if n := must(e.rt.StorageUsed(ctx, e.a)); n != 3 {
		t.Errorf("StorageUsed = %d, want 3", n)
	}
}

// TestStartSealsLeftoverFolders leaves a folder behind as a crashed
// process would, and checks that Start seals it.
func TestStartSealsLeftoverFolders(t *testing.T) {
	e := newEnv(t, steps(llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}}))
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	dir := filepath.Join(e.dir, "workspaces", string(e.a), task.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "left.txt"), []byte("left behind"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.artifacts = e.db
	e.rt = e.newRuntime(t, e.db)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Start left the folder of an ended task: %v", err)
	}
	if _, data, err := e.rt.ReadFile(ctx, e.a, task.ID, "left.txt"); err != nil || string(data) != "left behind" {
		t.Errorf("ReadFile(left.txt) = %q, %v", data, err)
	}
}

// TestUploadToldBeforeWritten: an upload to a running task is told to
// its Setup.Uploading before the file is in the workspace (taskenv stops
// there the MCP servers whose sandboxes would not hide it).
func TestUploadToldBeforeWritten(t *testing.T) {
	release, started := make(chan struct{}), make(chan struct{})
	e := newEnv(t, func(r *llmtest.Request) llmtest.Turn {
		close(started)
		<-release
		return llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "ok"})}}
	})
	var told []string
	var existed []bool
	e.uploading = func(path string) {
		dir := filepath.Join(e.dir, "workspaces", string(e.a))
		matches, _ := filepath.Glob(filepath.Join(dir, "*", path))
		told, existed = append(told, path), append(existed, len(matches) > 0)
	}
	e.rt = e.newRuntime(t, e.db)
	ctx := context.Background()
	task := must(e.rt.Submit(ctx, e.a, "k", bulwark.Task{Input: "x", Model: "openai:test"}))
	<-started
	if _, err := e.rt.PutFile(ctx, e.a, task.ID, "secrets/new", []byte("S")); err != nil {
		t.Fatal(err)
	}
	close(release)
	waitStatus(t, e, e.a, task.ID, bulwark.TaskSucceeded)
	if len(told) != 1 || told[0] != "secrets/new" || existed[0] {
		t.Errorf("Uploading was told %q (the file there already: %v); want secrets/new, before it was written", told, existed)
	}
}
