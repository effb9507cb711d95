package agent_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/agent"
	"github.com/bulwark-agents/bulwark/llm/llmtest"
	"github.com/bulwark-agents/bulwark/secret"
	"github.com/bulwark-agents/bulwark/tool"
	"github.com/bulwark-agents/bulwark/tool/code"
)

const canary = "CANARY-s3cr3t-VALUE-9f8e7d"

// withSecrets gives the harness one secret, a redactor that masks it, the
// code tools, and an Exec that echoes its command line back as stdout (as
// `echo` would), recording what it was given.
func withSecrets(h *harness, ran *[][]string) {
	red := secret.NewRedactor()
	red.Add("API_TOKEN", canary)
	h.cfg.Mask = red.String
	h.cfg.MaskStream = func() agent.StreamMasker { return red.NewStream() }
	h.cfg.Secrets = map[string]string{"API_TOKEN": canary}
	h.cfg.SecretTools = []string{"run_shell"}
	h.cfg.Tools.Add(code.Shell())
	h.cfg.Env.Exec = func(_ context.Context, cmd []string) (*tool.ExecResult, error) {
		*ran = append(*ran, cmd)
		return &tool.ExecResult{Stdout: []byte(strings.Join(cmd, " ") + "\n")}, nil
	}
}

func TestSecretsAreSubstitutedAtExecutionAndMaskedEverywhere(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("run_shell", map[string]string{"command": "curl -H 'Authorization: {{secret:API_TOKEN}}' x"})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("write_file", map[string]string{"path": "leak.txt", "content": "{{secret:API_TOKEN}}"})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("run_shell", map[string]string{"command": "echo {{secret:NOPE}}"})}},
		// A model that somehow knows the value, streamed in tiny pieces.
		llmtest.Turn{Content: "the token is " + canary + " ok", Quirks: llmtest.SmallChunks, ToolCalls: []llmtest.ToolCall{
			call("finish", map[string]string{"answer": "done with " + canary}),
		}},
	))
	var ran [][]string
	withSecrets(h, &ran)
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishDone {
		t.Fatalf("outcome %+v", out)
	}
	if len(ran) != 1 || !strings.Contains(ran[0][2], canary) {
		t.Fatalf("run_shell ran %q, want the secret's value put in", ran)
	}
	if _, err := h.ws.ReadFile("leak.txt"); err == nil {
		t.Errorf("write_file, which may not use secrets, wrote the file")
	}
	results := h.ofType(bulwark.EventToolResult)
	if !strings.Contains(results[1].Text, "may not use secrets") || !strings.Contains(results[2].Text, "NOPE") {
		t.Errorf("results = %q, %q; want a refusal for write_file and an unknown-secret error", results[1].Text, results[2].Text)
	}
	// The value is nowhere: not in an event, not in a request to the model.
	h.mu.Lock()
	var deltas strings.Builder
	for _, e := range h.events {
		b, _ := json.Marshal(e)
		if strings.Contains(string(b), canary) {
			t.Errorf("event %s holds the secret: %s", e.Type, b)
		}
		if e.Type == bulwark.EventModelDelta {
			deltas.WriteString(e.Text)
		}
	}
	h.mu.Unlock()
	if strings.Contains(deltas.String(), canary) || !strings.Contains(deltas.String(), "[REDACTED:API_TOKEN]") {
		t.Errorf("streamed text = %q, want the secret masked across pieces", deltas.String())
	}
	for _, r := range h.srv.Requests() {
		if strings.Contains(string(r.Body), canary) {
			t.Errorf("request %d to the model holds the secret", r.N)
		}
		if r.N == 1 && !strings.Contains(string(r.Body), "API_TOKEN") {
			t.Errorf("the model was not told the secret's name")
		}
	}
	if strings.Contains(out.Answer, canary) {
		t.Errorf("answer %q holds the secret", out.Answer)
	}
}

// TestInstructionsAreMasked: the instructions a task starts with (the
// tenant's, the skills' descriptions) were checked for secret values when
// they were saved, but a secret set since may have a value they hold: the
// system prompt the model gets has it masked (a sub-agent's starts from
// the same instructions, through the same loop).
func TestInstructionsAreMasked(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("list_files", map[string]string{})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "done"})}},
	))
	var ran [][]string
	withSecrets(h, &ran)
	h.cfg.Instructions = "Skills:\n- deploy: pushes with the key " + canary + " to the server\n"
	out := h.run(t, context.Background())
	if out.Reason != bulwark.FinishDone {
		t.Fatalf("outcome %+v", out)
	}
	reqs := h.srv.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests to the model, want 2", len(reqs))
	}
	for _, r := range reqs {
		if strings.Contains(string(r.Body), canary) {
			t.Errorf("request %d to the model holds the secret", r.N)
		}
		if !strings.Contains(string(r.Body), "deploy: pushes with the key [REDACTED:API_TOKEN]") {
			t.Errorf("request %d to the model lacks the masked instructions", r.N)
		}
	}
}

// run_code with a secret: the program runs with the value, and the file
// it ran from is the one its effects declared, named after the code as the
// model wrote it, which the loop hands the tool (tool.WithModelArgs); after
// the run, the workspace holds no value.
func TestRunCodeWithASecretLeavesNoValue(t *testing.T) {
	h := newHarness(t, "openai", llmtest.Script(
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("run_code", map[string]string{"language": "python", "code": `t = "{{secret:API_TOKEN}}"`})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "done"})}},
	))
	var ran [][]string
	withSecrets(h, &ran)
	h.cfg.SecretTools = []string{"run_code"}
	h.cfg.Tools.Add(code.Code())
	var during string
	exec := h.cfg.Env.Exec
	h.cfg.Env.Exec = func(ctx context.Context, cmd []string) (*tool.ExecResult, error) {
		b, _ := h.ws.ReadFile(strings.TrimPrefix(cmd[len(cmd)-1], "/workspace/"))
		during = string(b)
		return exec(ctx, cmd)
	}
	if out := h.run(t, context.Background()); out.Reason != bulwark.FinishDone {
		t.Fatalf("outcome %+v", out)
	}
	if !strings.Contains(during, canary) {
		t.Fatalf("the program ran as %q, want the value put in", during)
	}
	e, err := tool.EffectsOf(code.Code(), json.RawMessage(`{"language":"python","code":"t = \"{{secret:API_TOKEN}}\""}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ran) != 1 || ran[0][len(ran[0])-1] != "/workspace/"+e.Writes[0] {
		t.Errorf("ran %q, want the declared file %s", ran, e.Writes[0])
	}
	infos, err := h.ws.ReadDir(".bulwark/code")
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		b, _ := h.ws.ReadFile(".bulwark/code/" + info.Name())
		if strings.Contains(string(b), canary) || strings.Contains(info.Name(), canary) {
			t.Errorf("the workspace keeps the value in %s: %q", info.Name(), b)
		}
	}
}
