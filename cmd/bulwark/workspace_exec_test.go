package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BULWARK_WORKSPACE_EXEC reaches the sandbox: on, a program in the
// workspace runs and the warning is logged; off, it does not run.
func TestWorkspaceExecSetting(t *testing.T) {
	needSandbox(t)
	ws := t.TempDir()
	if err := os.WriteFile(filepath.Join(ws, "hello.sh"), []byte("#!/bin/bash\necho hello-from-workspace\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"sandbox", "exec", "--workspace", ws, "--allow-exec", "bash", "--", "bash", "-c", "./hello.sh"}

	r := runBulwark(t, []string{"BULWARK_WORKSPACE_EXEC=on"}, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "hello-from-workspace") {
		t.Errorf("on: exit %d, want the script's output\n%s%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "BULWARK_WORKSPACE_EXEC=on") {
		t.Errorf("on: no warning logged:\n%s", r.stderr)
	}

	r = runBulwark(t, nil, args...)
	if r.code == 0 || strings.Contains(r.stdout, "hello-from-workspace") || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("off: exit %d, want the script refused\n%s%s", r.code, r.stdout, r.stderr)
	}
}
