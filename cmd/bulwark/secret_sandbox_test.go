package main

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// By default secrets never enter the sandbox: a bound secret reaches code as
// its placeholder (the sandbox trusts the task CA of the egress proxy that
// would put it in), and an unbound one is refused with a reason the model
// can act on. The values are nowhere: not in the output, the files, the
// events or the model's requests.
func TestSecretsStayOutOfSandbox(t *testing.T) {
	needSandbox(t)
	data := t.TempDir()
	const bound, loose = "ghp-bound-value-8812-LEAKME", "loose-value-5531-LEAKME"
	base := []string{"BULWARK_DATA=" + data, "BULWARK_ALLOWED_DOMAINS=api.github.com"}
	for _, s := range []struct{ name, value, hosts string }{{"GH", bound, "api.github.com"}, {"LOOSE", loose, ""}} {
		args := []string{"secrets", "set", s.name}
		if s.hosts != "" {
			args = append(args, "--hosts", s.hosts)
		}
		cmd := bulwarkCmd(t, base, args...)
		cmd.Stdin = strings.NewReader(s.value + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("secrets set %s: %v\n%s", s.name, err, out)
		}
	}
	call := func(name string, args map[string]string) llmtest.ToolCall {
		b, _ := json.Marshal(args)
		return llmtest.ToolCall{Name: name, Arguments: b}
	}
	turns := []llmtest.Turn{
		{ToolCalls: []llmtest.ToolCall{call("run_shell", map[string]string{"command": "echo {{secret:GH}} | rev; echo {{secret:GH}} | base64; echo {{secret:GH}} > gh.txt; echo CA=$SSL_CERT_FILE; head -1 /run/bulwark/ca.pem"})}},
		{ToolCalls: []llmtest.ToolCall{call("run_shell", map[string]string{"command": "echo {{secret:LOOSE}} > loose.txt"})}},
		{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "done"})}},
	}
	srv := llmtest.NewServer(func(r *llmtest.Request) llmtest.Turn {
		n := 0
		for _, m := range r.Messages {
			if m.Role == "tool" {
				n++
			}
		}
		return turns[min(n, len(turns)-1)]
	})
	defer srv.Close()
	ws := filepath.Join(t.TempDir(), "ws")
	r := runBulwark(t, append(base, "OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL="+srv.URL+"/v1"),
		"run", "--json", "--approve=auto", "--model", "openai:m", "--workspace", ws, "use the secrets")
	if r.code != 0 {
		t.Fatalf("run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"}}HG:terces{{",                         // rev of the placeholder
		"CA=/run/bulwark/ca-bundle.pem",         // the sandbox trusts the task CA
		"-----BEGIN CERTIFICATE-----",           // which is there
		"secret LOOSE is not bound to any host", // the refusal the model reads
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("events lack %q:\n%s", want, r.stdout)
		}
	}
	if b, err := os.ReadFile(filepath.Join(ws, "gh.txt")); err != nil || string(b) != "{{secret:GH}}\n" {
		t.Errorf("gh.txt = %q, %v; want the placeholder", b, err)
	}
	if _, err := os.Stat(filepath.Join(ws, "loose.txt")); err == nil {
		t.Errorf("the refused command ran: loose.txt exists")
	}
	texts := map[string]string{"stdout": r.stdout, "stderr": r.stderr}
	for i, req := range srv.Requests() {
		texts["model request "+string(rune('A'+i))] = string(req.Body)
	}
	filepath.Walk(ws, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			texts[p] = string(b)
		}
		return nil
	})
	for where, text := range texts {
		for _, v := range []string{bound, loose} {
			if strings.Contains(text, v) || strings.Contains(text, base64.StdEncoding.EncodeToString([]byte(v+"\n"))) {
				t.Errorf("%s holds a secret value:\n%s", where, text)
			}
		}
	}
}
