package server

import (
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// A task's model may carry its context window; a bad one is refused
// before the task is queued.
func TestCheckModelSpecContext(t *testing.T) {
	for spec, want := range map[string]bulwark.Kind{
		"openai:gpt-4o":                              0,
		"openai:my-model?context=32768":              0,
		"ollama:qwen?tools=text&context=16384":       0,
		"anthropic:claude-sonnet-4-5?context=100000": 0,
		"openai:my-model?context=lots":               bulwark.Invalid,
		"openai:my-model?context=10":                 bulwark.Invalid,
		"openai:my-model?context=4096&context=8192":  bulwark.Invalid,
		"openai:my-model?tools=xml":                  bulwark.Invalid,
	} {
		err := checkModelSpec("op", spec, "")
		if got := bulwark.ErrorKind(err); err != nil && got != want || err == nil && want != 0 {
			t.Errorf("checkModelSpec(%q) = %v, want kind %v", spec, err, want)
		}
	}
}

// A tenant's default model may carry its window too.
func TestValidModelSpecContext(t *testing.T) {
	for spec, want := range map[string]bool{
		"openai:my-model":                   true,
		"openai:my-model?context=32768":     true,
		"ollama:qwen2.5:7b?context=16384":   true,
		"openai:my-model?tools=text":        true,
		"openai:my-model?":                  false,
		"openai:my-model?context=big":       false,
		"openai:my-model?context=12":        false,
		"openai:my-model?other=1":           false,
		"replay:script.jsonl?context=4096":  false,
		"openai:bad model?context=4096":     false,
		"openai:my-model?context=4096#frag": false,
	} {
		if got := validModelSpec(spec); got != want {
			t.Errorf("validModelSpec(%q) = %v, want %v", spec, got, want)
		}
	}
}
