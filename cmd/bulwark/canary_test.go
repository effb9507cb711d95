package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/llm/llmtest"
)

// TestCanarySecretsNeverLeak sets canary secrets for the local tenant, then
// runs a task whose tools echo them through run_shell, base64-encode them in
// Python and write them to a file that is read back. The values must appear
// in no output, event, log line, audit record, model request or raw byte of
// the data folder, in plain or common encodings. The secrets are unbound and
// the operator opted in to substitution in the sandbox
// (BULWARK_SECRETS_IN_SANDBOX=on): the path where masking is all that
// protects them.
func TestCanarySecretsNeverLeak(t *testing.T) {
	needSandbox(t)
	data := t.TempDir()
	canaries := map[string]string{
		"CANARY_TOKEN": "cnry-7Hq2-ZZ91-xP4k-LEAKME",
		"DB_PASSWORD":  "Pa55-canary-9931-LEAKME",
	}
	base := []string{"BULWARK_DATA=" + data, "BULWARK_LOG_LEVEL=debug", "BULWARK_SECRETS_IN_SANDBOX=on"}
	for name, v := range canaries {
		cmd := bulwarkCmd(t, base, "secrets", "set", name)
		cmd.Stdin = strings.NewReader(v + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("secrets set %s: %v\n%s", name, err, out)
		}
	}
	call := func(name string, args map[string]string) llmtest.ToolCall {
		b, _ := json.Marshal(args)
		return llmtest.ToolCall{Name: name, Arguments: b}
	}
	turns := []llmtest.Turn{
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("run_shell", map[string]string{"command": "echo {{secret:CANARY_TOKEN}}; echo pw={{secret:DB_PASSWORD}}"})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("run_code", map[string]string{"language": "python",
			"code": "import base64, binascii\nv = b'{{secret:CANARY_TOKEN}}'\nprint(base64.b64encode(v).decode())\nprint(binascii.hexlify(v).decode())\n"})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("run_shell", map[string]string{"command": "echo {{secret:CANARY_TOKEN}} > out.txt"})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("read_file", map[string]string{"path": "out.txt"})}},
		llmtest.Turn{ToolCalls: []llmtest.ToolCall{call("finish", map[string]string{"answer": "echoed the secrets"})}},
	}
	// Each run plays the turns from the start: the turn is chosen by the
	// number of tool results the conversation holds.
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
	env := append(base, "OPENAI_API_KEY=sk-test", "OPENAI_BASE_URL="+srv.URL+"/v1")
	ws := filepath.Join(t.TempDir(), "ws") // outside the data folder: the user's own files
	var outputs []string
	for _, mode := range []string{"--json", "--approve=auto"} {
		r := runBulwark(t, env, "run", mode, "--model", "openai:m", "--workspace", ws, "echo the secrets")
		if r.code != 0 {
			t.Fatalf("run %s: exit %d\n%s%s", mode, r.code, r.stdout, r.stderr)
		}
		outputs = append(outputs, r.stdout, r.stderr)
		if mode == "--json" && !strings.Contains(r.stdout, "[REDACTED:CANARY_TOKEN]") {
			t.Errorf("the masked value does not show in the events, so the test proves nothing:\n%s", r.stdout)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "out.txt")); !bytes.Contains(b, []byte(canaries["CANARY_TOKEN"])) {
		t.Fatalf("the secret was not put in at execution (out.txt = %q)", b)
	}

	forms := func(v string) []string {
		return []string{v, base64.StdEncoding.EncodeToString([]byte(v)), hex.EncodeToString([]byte(v))}
	}
	check := func(where, text string) {
		for name, v := range canaries {
			for _, f := range forms(v) {
				if strings.Contains(text, f) {
					t.Errorf("%s holds %s (as %q)", where, name, f)
				}
			}
		}
	}
	for i, o := range outputs {
		check("terminal output "+string(rune('A'+i)), o)
	}
	for _, req := range srv.Requests() {
		check("model request", string(req.Body))
	}
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("reading %s: %v", p, err)
			return nil
		}
		check("data folder file "+strings.TrimPrefix(p, data), string(b))
		return nil
	})
	if _, err := os.Stat(filepath.Join(data, "audit", "audit.log")); err != nil {
		t.Errorf("no audit log was written: %v", err)
	}
}
