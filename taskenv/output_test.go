package taskenv

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/bulwark-agents/bulwark/tool"
)

// TestExecStreamsOutput: the task's Exec hands a command's output, as it
// comes, to the tool.OutputFunc of its context (unsandboxed here, and in
// a real sandbox where the host has one), and the result holds all of it.
func TestExecStreamsOutput(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    SandboxOptions
	}{
		{"unsandboxed", SandboxOptions{Off: true}},
		{"sandboxed", SandboxOptions{AllowExec: []string{"bash"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.o.Off {
				requireSandbox(t)
			}
			e, _ := newEnv(t, Options{Sandbox: tc.o})
			var mu sync.Mutex
			var got strings.Builder
			ctx := tool.WithOutput(context.Background(), func(stderr bool, p []byte) {
				mu.Lock()
				defer mu.Unlock()
				if stderr {
					got.WriteString("E:")
				}
				got.Write(p)
			})
			r, err := e.Exec(ctx, []string{"bash", "-c", "echo out; echo err >&2"})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if s := got.String(); !strings.Contains(s, "out\n") || !strings.Contains(s, "E:err\n") {
				t.Errorf("the output callback got %q, want out and err (from stderr)", s)
			}
			if string(r.Stdout) != "out\n" || string(r.Stderr) != "err\n" {
				t.Errorf("the result holds %q / %q, want the whole output too", r.Stdout, r.Stderr)
			}
		})
	}
}
