package provider

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.jsonl")
	if err := os.WriteFile(script, []byte(`{"content":"hi"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys := env(map[string]string{"OPENAI_API_KEY": "sk-x", "ANTHROPIC_API_KEY": "sk-ant-x"})
	cases := []struct {
		spec string
		env  func(string) string
		name string // the model's Name, or "" for an error
		kind bulwark.Kind
		msg  string
	}{
		{"openai:gpt-4o", keys, "openai:gpt-4o", 0, ""},
		{"openai:gpt-4o?tools=text", keys, "openai:gpt-4o?tools=text", 0, ""},
		{"anthropic:claude-sonnet-4-5", keys, "anthropic:claude-sonnet-4-5", 0, ""},
		{"ollama:llama3.1:8b", env(nil), "ollama:llama3.1:8b", 0, ""},
		{"ollama:qwen?tools=native", env(map[string]string{"OLLAMA_HOST": "gpu-box:11434"}), "ollama:qwen", 0, ""},
		{"replay:" + script, env(nil), "replay:" + script, 0, ""},
		{"openai:gpt-4o", env(nil), "", bulwark.Unauthenticated, "openai: OPENAI_API_KEY is not set"},
		{"anthropic:claude", env(nil), "", bulwark.Unauthenticated, "anthropic: ANTHROPIC_API_KEY is not set"},
		{"openai:gpt-4o", env(map[string]string{"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "file:///etc/passwd"}), "", bulwark.Invalid, "OPENAI_BASE_URL is not a usable base URL: the scheme must be http or https"},
		{"openai:gpt-4o", env(map[string]string{"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "https://u:p@host/v1"}), "", bulwark.Invalid, "must not hold credentials"},
		{"ollama:x", env(map[string]string{"OLLAMA_HOST": "ftp://h"}), "", bulwark.Invalid, "OLLAMA_HOST"},
		{"gemini:pro", keys, "", bulwark.Invalid, "openai:MODEL, anthropic:MODEL, ollama:MODEL or replay:FILE"},
		{"gpt-4o", keys, "", bulwark.Invalid, "openai:MODEL"},
		{"openai:", keys, "", bulwark.Invalid, "openai:MODEL"},
		{"openai:gpt-4o?tools=xml", keys, "", bulwark.Invalid, "unknown option"},
		{"replay:" + filepath.Join(dir, "missing.jsonl"), env(nil), "", bulwark.NotFound, "cannot read the script"},
	}
	for _, tc := range cases {
		m, err := Open(tc.spec, tc.env)
		if tc.name != "" {
			if err != nil || m.Name() != tc.name {
				t.Errorf("Open(%q) = %v, %v; want a model named %q", tc.spec, m, err, tc.name)
			}
			continue
		}
		if err == nil || bulwark.ErrorKind(err) != tc.kind || !strings.Contains(bulwark.ErrorMessage(err), tc.msg) {
			t.Errorf("Open(%q) error = %q (%v), want %v with %q", tc.spec, bulwark.ErrorMessage(err), bulwark.ErrorKind(err), tc.kind, tc.msg)
		}
	}
}

func TestDescribe(t *testing.T) {
	cases := []struct{ spec, want string }{
		{"openai:gpt-4o", "openai:gpt-4o at api.openai.com"},
		{"ollama:llama3", "ollama:llama3 at 127.0.0.1:11434"},
		{"replay:x.jsonl", "replay:x.jsonl"},
	}
	for _, tc := range cases {
		if got := Describe(tc.spec, env(nil)); got != tc.want {
			t.Errorf("Describe(%q) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}
