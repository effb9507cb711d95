package taskenv

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/llm/provider"
	"github.com/bulwark-agents/bulwark/skill"
	"github.com/bulwark-agents/bulwark/workspace"
)

// conversation is the text of every message of a request.
func conversation(r *llmtest.Request) string {
	var b strings.Builder
	for _, m := range r.Messages {
		b.WriteString(m.Content)
		b.WriteString("\n")
	}
	return b.String()
}

// TestSkillsOnlyDescriptionsUntilLoaded: the model's first request names
// each skill with its description but holds no body; the body is in the
// request after load_skill, and a file beside it after read_skill_file.
func TestSkillsOnlyDescriptionsUntilLoaded(t *testing.T) {
	dir := t.TempDir()
	sk := filepath.Join(dir, "pdf-forms")
	if err := os.MkdirAll(filepath.Join(sk, "reference"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(sk, skill.Main), []byte("---\nname: pdf-forms\ndescription: Fill in PDF forms with pdftk.\n---\nOPERATOR-SKILL-BODY: read reference/fields.md first.\n"), 0o644)
	os.WriteFile(filepath.Join(sk, "reference", "fields.md"), []byte("FIELDS-FILE-TEXT"), 0o644)
	ops, err := skill.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	mine, err := skill.FromFiles("house-style", map[string]string{skill.Main: "---\nname: house-style\ndescription: Our writing style.\n---\nTENANT-SKILL-BODY"})
	if err != nil {
		t.Fatal(err)
	}

	srv := llmtest.NewServer(llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "load_skill", Arguments: json.RawMessage(`{"name":"pdf-forms"}`)}}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "read_skill_file", Arguments: json.RawMessage(`{"name":"pdf-forms","path":"reference/fields.md"}`)}}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{{Name: "finish", Arguments: json.RawMessage(`{"answer":"ok"}`)}}},
	))
	t.Cleanup(srv.Close)
	model, err := provider.Open("openai:test-model", func(k string) string {
		return map[string]string{"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": srv.URL + "/v1"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	ws, err := workspace.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	e, err := New(context.Background(), Options{Tenant: "tn_skills", TaskID: "t_1", Model: model, Workspace: ws,
		Skills: skill.NewSet(ops, []*skill.Skill{mine})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cfg := e.Config()
	cfg.Env.Workspace = ws
	out, err := agent.Run(context.Background(), cfg, bulwark.Task{ID: "t_1", Input: "fill the form"})
	if err != nil || out.Reason != bulwark.FinishDone {
		t.Fatalf("Run = %+v, %v", out, err)
	}
	reqs := srv.Requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	first := conversation(reqs[0])
	if reqs[0].Messages[0].Role != llm.System {
		t.Fatal("the first message is not the system prompt")
	}
	for _, want := range []string{"pdf-forms: Fill in PDF forms with pdftk.", "house-style: Our writing style.", "not by the operator"} {
		if !strings.Contains(reqs[0].Messages[0].Content, want) {
			t.Errorf("the system prompt lacks %q", want)
		}
	}
	for _, body := range []string{"OPERATOR-SKILL-BODY", "TENANT-SKILL-BODY", "FIELDS-FILE-TEXT"} {
		if strings.Contains(first, body) {
			t.Errorf("the first request holds %q before any skill was loaded", body)
		}
	}
	var names []string
	for _, s := range reqs[0].Tools {
		names = append(names, s.Name)
	}
	if !strings.Contains(strings.Join(names, ","), "load_skill") || !strings.Contains(strings.Join(names, ","), "read_skill_file") {
		t.Errorf("tools offered = %v, want load_skill and read_skill_file", names)
	}
	if c := conversation(reqs[1]); !strings.Contains(c, "OPERATOR-SKILL-BODY") || strings.Contains(c, "FIELDS-FILE-TEXT") || strings.Contains(c, "TENANT-SKILL-BODY") {
		t.Errorf("after load_skill the request holds: %s", c)
	}
	if c := conversation(reqs[2]); !strings.Contains(c, "FIELDS-FILE-TEXT") {
		t.Errorf("after read_skill_file the request lacks the file")
	}
}

// TestNoSkillsNoTools: a task without skills is not offered the tools.
func TestNoSkillsNoTools(t *testing.T) {
	e, _ := newEnv(t, Options{})
	if _, ok := e.Tools.Get("load_skill"); ok {
		t.Error("load_skill offered to a task without skills")
	}
}
