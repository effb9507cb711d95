package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/files"
	"github.com/bulwark-agents/bulwark/tool/interact"
	"github.com/bulwark-agents/bulwark/workspace"
)

// benchModel is the model of `bulwark bench agents` in the process: each
// reply streams "Writing the next file." in four pieces and writes a file,
// the tenth finishes.
type benchModel struct{}

func (benchModel) Name() string { return "bench" }

func (benchModel) Stream(_ context.Context, req llm.Request, onText func(string)) (*llm.Response, error) {
	n := 0
	for _, m := range req.Messages {
		if m.Role == llm.ToolRole {
			n++
		}
	}
	if n >= 9 {
		return &llm.Response{Message: llm.Message{Role: llm.Assistant,
			ToolCalls: []llm.ToolCall{{ID: "done", Name: "finish", Arguments: json.RawMessage(`{"answer":"done"}`)}}}}, nil
	}
	for _, p := range []string{"Writing", " the", " next", " file."} {
		onText(p)
	}
	args, _ := json.Marshal(map[string]string{"path": fmt.Sprintf("step-%d.txt", n), "content": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"})
	return &llm.Response{Message: llm.Message{Role: llm.Assistant, Content: "Writing the next file.",
		ToolCalls: []llm.ToolCall{{ID: fmt.Sprintf("c%d", n), Name: "write_file", Arguments: args}}}}, nil
}

// BenchmarkTask is one task of `bulwark bench agents` without the HTTP
// and the store: ten replies of a line of text and a write_file call,
// streamed through a secret masker to a sink that drops the events.
func BenchmarkTask(b *testing.B) {
	ws, err := workspace.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()
	red := secret.NewRedactor()
	red.Add("API_TOKEN", "tok-0123456789abcdef")
	cfg := agent.Config{
		Model:      benchModel{},
		Tools:      tool.NewRegistry(append(files.Tools(), interact.Finish())...),
		Env:        &tool.Env{Workspace: ws},
		Mask:       red.String,
		MaskStream: func() agent.StreamMasker { return red.NewStream() },
		Sink:       func(bulwark.Event) {},
	}
	b.ReportAllocs()
	for b.Loop() {
		out, err := agent.Run(context.Background(), cfg, bulwark.Task{ID: "t_bench", Input: "write ten files"})
		if err != nil || out.Reason != bulwark.FinishDone {
			b.Fatalf("%+v %v", out, err)
		}
	}
}
