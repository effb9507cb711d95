package provider

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/llm"
)

var windowCases = []struct {
	spec string
	want llm.Window
}{
	{"openai:gpt-4o?context=128000", llm.Window{Tokens: 128000}},
	{"openai:my-finetune?context=32768", llm.Window{Tokens: 32768}},
	{"openai:gpt-4o", llm.Window{Tokens: 128000}},
	{"openai:gpt-4.1-mini", llm.Window{Tokens: 1_047_576}},
	{"openai:openai/gpt-4o-mini", llm.Window{Tokens: 128000}},
	{"anthropic:claude-sonnet-4-5", llm.Window{Tokens: 200000}},
	{"anthropic:claude-sonnet-4-5?context=100000", llm.Window{Tokens: 100000}},
	{"openai:mystery-model", llm.Window{Tokens: llm.DefaultContextWindow, Assumed: true}},
	{"ollama:llama3.1:8b", llm.Window{Tokens: llm.DefaultContextWindow, Assumed: true}}, // Ollama serves its own num_ctx
	{"ollama:llama3.1:8b?context=32768", llm.Window{Tokens: 32768}},
	{"openai:gpt-4o?tools=text&context=4096", llm.Window{Tokens: 4096}},
	{"openai:gpt-4o?context=1024", llm.Window{Tokens: 1024}},
}

func TestOpenContextWindow(t *testing.T) {
	keys := env(map[string]string{"OPENAI_API_KEY": "sk-x", "ANTHROPIC_API_KEY": "sk-ant-x"})
	for _, tc := range windowCases {
		m, err := Open(tc.spec, keys)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.spec, err)
			continue
		}
		if got := llm.ContextWindow(m); got != tc.want {
			t.Errorf("ContextWindow(Open(%q)) = %+v, want %+v", tc.spec, got, tc.want)
		}
		if err := CheckOptions(tc.spec); err != nil {
			t.Errorf("CheckOptions(%q) = %v, want nil", tc.spec, err)
		}
	}
	// A scripted model has no window unless it is given one.
	script := filepath.Join(t.TempDir(), "s.jsonl")
	if err := os.WriteFile(script, []byte(`{"content":"hi"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for spec, want := range map[string]llm.Window{"replay:" + script: {}, "replay:" + script + "?context=5000": {Tokens: 5000}} {
		m, err := Open(spec, env(nil))
		if err != nil {
			t.Fatalf("Open(%q): %v", spec, err)
		}
		if got := llm.ContextWindow(m); got != want {
			t.Errorf("ContextWindow(Open(%q)) = %+v, want %+v", spec, got, want)
		}
	}
	// The window wraps the model last: text tool calls keep their name.
	m, err := Open("openai:gpt-4o?tools=text&context=4096", keys)
	if err != nil || m.Name() != "openai:gpt-4o?tools=text" {
		t.Errorf("Open with tools=text and context: %v, %v; want the name openai:gpt-4o?tools=text", m, err)
	}
}

var badWindows = []struct{ spec, msg string }{
	{"openai:gpt-4o?context=abc", `context="abc" is not a number of tokens`},
	{"openai:gpt-4o?context=", `context="" is not a number of tokens`},
	{"openai:gpt-4o?context=128k", `context="128k" is not a number of tokens`},
	{"openai:gpt-4o?context=1e6", "is not a number of tokens"},
	{"openai:gpt-4o?context=+5000", "is not a number of tokens"},
	{"openai:gpt-4o?context=12.5", "is not a number of tokens"},
	{"openai:gpt-4o?context=0", "context=0 is out of range; want between 1024 and 100000000 tokens"},
	{"openai:gpt-4o?context=-4096", "out of range"},
	{"openai:gpt-4o?context=1023", "out of range"},
	{"openai:gpt-4o?context=100000001", "out of range"},
	{"openai:gpt-4o?context=99999999999999999999999", "is not a number of tokens"},
	{"openai:gpt-4o?context=4096&context=8192", "context is given 2 times"},
	{"openai:gpt-4o?window=4096", `unknown option "window"`},
	{"ollama:x?context=%zz", "bad options"},
}

func TestOpenBadContextWindow(t *testing.T) {
	keys := env(map[string]string{"OPENAI_API_KEY": "sk-x"})
	for _, tc := range badWindows {
		for name, err := range map[string]error{"Open": openErr(tc.spec, keys), "CheckOptions": CheckOptions(tc.spec)} {
			if bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(bulwark.ErrorMessage(err), tc.msg) {
				t.Errorf("%s(%q) = %q (%v), want Invalid with %q", name, tc.spec, bulwark.ErrorMessage(err), bulwark.ErrorKind(err), tc.msg)
			}
		}
	}
}

func openErr(spec string, getenv func(string) string) error {
	_, err := Open(spec, getenv)
	return err
}

// FuzzCheckOptions: the options of a spec from outside (a task's model,
// a tenant's settings) never panic, and a window accepted is in bounds
// and is the one Open gives the model.
func FuzzCheckOptions(f *testing.F) {
	for _, tc := range windowCases {
		f.Add(tc.spec)
	}
	for _, tc := range badWindows {
		f.Add(tc.spec)
	}
	keys := env(map[string]string{"OPENAI_API_KEY": "sk-x"})
	f.Fuzz(func(t *testing.T, query string) {
		spec := "openai:m?" + query
		if CheckOptions(spec) != nil {
			return
		}
		m, err := Open(spec, keys)
		if err != nil {
			t.Fatalf("CheckOptions(%q) accepted what Open refuses: %v", spec, err)
		}
		if w := llm.ContextWindow(m); w.Tokens < MinContextWindow || w.Tokens > MaxContextWindow {
			t.Fatalf("Open(%q) has window %+v, out of bounds", spec, w)
		}
	})
}
