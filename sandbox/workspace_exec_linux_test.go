package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// workspaceWithPrograms makes a workspace holding a script and a copy of
// an ELF program (echo).
func workspaceWithPrograms(t *testing.T) string {
	t.Helper()
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "script.sh"), []byte("#!/bin/bash\necho script-ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	echo, err := os.ReadFile("/bin/echo")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "tool"), echo, 0o755); err != nil {
		t.Fatal(err)
	}
	return ws
}

// Off (the default), the workspace is noexec: programs written there do
// not run, and an allowlist entry naming one is refused up front with the
// reason, not left to fail with "permission denied".
func TestWorkspaceExecOff(t *testing.T) {
	requireSandbox(t)
	ws := workspaceWithPrograms(t)
	_, err := Run(context.Background(), Spec{Workspace: ws, AllowExec: []string{"bash", "/workspace/tool"}}, []string{"/workspace/tool", "hi"})
	if bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(bulwark.ErrorMessage(err), "BULWARK_WORKSPACE_EXEC=on") ||
		!strings.Contains(bulwark.ErrorMessage(err), "noexec") {
		t.Errorf("allowing /workspace/tool with the workspace noexec: %v, want an invalid spec naming noexec and BULWARK_WORKSPACE_EXEC", err)
	}
	res := mustRun(t, Spec{Workspace: ws, AllowExec: []string{"bash"}}, "bash", "-c",
		"./tool ESCAPED tool ran || echo BLOCKED tool; ./script.sh || echo BLOCKED script; bash ./script.sh >/dev/null && echo control-ok")
	assertContained(t, res, 2)
	if !strings.Contains(string(res.Stdout), "control-ok") {
		t.Errorf("bash could not read the script: %s %s", res.Stdout, res.Stderr)
	}
}

// On, programs in the workspace run: started by the sandbox, from bash,
// and named in the allowlist.
func TestWorkspaceExecOn(t *testing.T) {
	requireSandbox(t)
	ws := workspaceWithPrograms(t)
	spec := Spec{Workspace: ws, WorkspaceExec: true, AllowExec: []string{"bash", "/workspace/tool"}}
	res := mustRun(t, spec, "/workspace/tool", "tool-ran")
	if res.ExitCode != 0 || !strings.Contains(string(res.Stdout), "tool-ran") {
		t.Errorf("/workspace/tool: exit %d, %q %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	res = mustRun(t, spec, "bash", "-c", "./script.sh && ./tool from-bash")
	if res.ExitCode != 0 || !strings.Contains(string(res.Stdout), "script-ran") || !strings.Contains(string(res.Stdout), "from-bash") {
		t.Errorf("programs run from bash: exit %d, %q %q", res.ExitCode, res.Stdout, res.Stderr)
	}
	// Only the workspace: /tmp stays noexec, the system stays read-only.
	res = mustRun(t, spec, "bash", "-c", "cp ./tool /tmp/tool && /tmp/tool ESCAPED tmp || echo BLOCKED tmp")
	assertContained(t, res, 1)
}
