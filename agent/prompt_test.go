package agent

import (
	"fmt"
	"strings"
	"testing"
)

// promptBefore is systemPrompt as it was written before it sized its
// builder: the text must not change.
func promptBefore(tools []string, instructions string, secrets, secretTools []string, notices ...string) string {
	var b strings.Builder
	b.WriteString(promptRules)
	fmt.Fprintf(&b, "\nYour tools: %s.\n", strings.Join(tools, ", "))
	if len(secrets) > 0 && len(secretTools) > 0 {
		fmt.Fprintf(&b, "\nSecrets you may use without seeing them: %s. Write {{secret:NAME}} in the arguments of %s where the value belongs; it is put in when the tool runs and masked out of every output. Never try to reveal a secret's value.\n",
			strings.Join(secrets, ", "), strings.Join(secretTools, " or "))
	}
	for _, n := range notices {
		if n == "" {
			continue
		}
		b.WriteString("\n" + n + "\n")
	}
	if instructions != "" {
		b.WriteString("\n" + instructions + "\n")
	}
	return b.String()
}

var promptCases = []struct {
	tools, secrets, secretTools []string
	instructions                string
	notices                     []string
}{
	{},
	{tools: []string{"read_file"}},
	{tools: []string{"read_file", "write_file", "finish"}, instructions: "Be brief.", notices: []string{"", "a notice", strings.Repeat("n", 3000)}},
	{tools: []string{"run_shell"}, secrets: []string{"API_KEY", "TOKEN"}, secretTools: []string{"run_shell", "fetch_url"}, notices: []string{"x"}},
	{tools: []string{"run_shell"}, secrets: []string{"API_KEY"}},
}

// The system prompt's text is the same as before, and its builder's
// array is made once, at its size.
func TestSystemPrompt(t *testing.T) {
	for _, c := range promptCases {
		got := systemPrompt(c.tools, c.instructions, c.secrets, c.secretTools, c.notices...)
		if want := promptBefore(c.tools, c.instructions, c.secrets, c.secretTools, c.notices...); got != want {
			t.Errorf("systemPrompt(%q, %q, %q, %q, %q) =\n%q\nwant\n%q", c.tools, c.instructions, c.secrets, c.secretTools, c.notices, got, want)
		}
		if c.secrets != nil {
			continue // the secrets' line is written by fmt
		}
		if n := testing.AllocsPerRun(10, func() { systemPrompt(c.tools, c.instructions, c.secrets, c.secretTools, c.notices...) }); n > 2 {
			t.Errorf("systemPrompt(%q, ...) made %v allocations, want 2 (the builder, its array)", c.tools, n)
		}
	}
}
