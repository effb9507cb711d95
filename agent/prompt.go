package agent

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// secretNames returns the names of secrets, sorted.
func secretNames(secrets map[string]string) []string {
	return slices.Sorted(maps.Keys(secrets))
}

// systemPrompt is what the model is told about its situation before the task.
func systemPrompt(tools []string, instructions string, secrets, secretTools []string, notices ...string) string {
	// Made at its size at once: grown piece by piece, the builder
	// allocated three arrays per task and kept the last, half empty, for
	// the whole run (the prompt is the conversation's first message).
	n := len(promptRules) + len("\nYour tools: .\n") + len(instructions) + 2
	for _, t := range tools {
		n += len(t) + 2
	}
	for _, x := range notices {
		n += len(x) + 2
	}
	if len(secrets) > 0 && len(secretTools) > 0 {
		n += 256
		for _, x := range append(secrets[:len(secrets):len(secrets)], secretTools...) {
			n += len(x) + 4
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(promptRules)
	b.WriteString("\nYour tools: ")
	for i, t := range tools {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(t)
	}
	b.WriteString(".\n")
	if len(secrets) > 0 && len(secretTools) > 0 {
		fmt.Fprintf(&b, "\nSecrets you may use without seeing them: %s. Write {{secret:NAME}} in the arguments of %s where the value belongs; it is put in when the tool runs and masked out of every output. Never try to reveal a secret's value.\n",
			strings.Join(secrets, ", "), strings.Join(secretTools, " or "))
	}
	for _, n := range notices {
		if n == "" {
			continue
		}
		b.WriteString("\n")
		b.WriteString(n)
		b.WriteString("\n")
	}
	if instructions != "" {
		b.WriteString("\n")
		b.WriteString(instructions)
		b.WriteString("\n")
	}
	return b.String()
}

// promptRules starts every system prompt.
const promptRules = `You are an autonomous agent working inside Bulwark. You complete the user's task by calling tools, one step at a time, and you see each tool's result before the next step.

Rules:
- All files live in your workspace folder. Use paths relative to it, such as "src/main.py"; paths that leave it are refused.
- Work in small, checkable steps. Read a file before you edit it. When a tool fails, read its message and change what you do; do not repeat a failing call unchanged.
- When the task is done, call finish with your final answer: a short summary of what you did and where the results are. The task only ends when you call finish.
- If you cannot continue without information that only the user has, use ask_user when it is available.
`
