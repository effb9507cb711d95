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
	var b strings.Builder
	b.WriteString(`You are an autonomous agent working inside Bulwark. You complete the user's task by calling tools, one step at a time, and you see each tool's result before the next step.

Rules:
- All files live in your workspace folder. Use paths relative to it, such as "src/main.py"; paths that leave it are refused.
- Work in small, checkable steps. Read a file before you edit it. When a tool fails, read its message and change what you do; do not repeat a failing call unchanged.
- When the task is done, call finish with your final answer: a short summary of what you did and where the results are. The task only ends when you call finish.
- If you cannot continue without information that only the user has, use ask_user when it is available.
`)
	fmt.Fprintf(&b, "\nYour tools: %s.\n", strings.Join(tools, ", "))
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
