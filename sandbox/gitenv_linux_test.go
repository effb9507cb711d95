package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestSandboxGitIgnoresAgentConfig runs git inside the sandbox, whose home
// is the workspace: a ~/.gitconfig alias, a commit-msg hook and an
// fsmonitor the workspace holds run when the script drops the sandbox's
// git variables (the vectors are real there), and not otherwise.
func TestSandboxGitIgnoresAgentConfig(t *testing.T) {
	requireSandbox(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	ws := t.TempDir()
	spec := Spec{Workspace: ws, AllowExec: append(AllowedCommands(), "git")}
	files := map[string]string{
		".gitconfig": "[alias]\n\tx = !touch /workspace/ran-alias\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(ws, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	setup := `git init -q r && cd r && git config user.name a && git config user.email a@b && git commit -q --allow-empty -m 1 && ln -s /bin/sh .git/hooks/commit-msg &&
		git config core.fsmonitor 'touch /workspace/ran-fsmonitor #'`
	if res := mustRun(t, spec, "sh", "-c", setup); res.ExitCode != 0 {
		t.Fatalf("setup: %d %s", res.ExitCode, res.Stderr)
	}
	// A hook that is a link to sh passes the allowlist: commit-msg is
	// given the message's file, which sh runs.
	vectors := `cd r; git x; git status >/dev/null; git commit -q --allow-empty -m 'touch /workspace/ran-hook'`
	for _, drop := range []bool{false, true} {
		script := vectors
		if drop {
			// The control: the agent's config is read once the
			// variables are gone (a script that does so is dynamic in
			// the shell policy).
			script = "unset GIT_CONFIG_NOSYSTEM GIT_CONFIG_GLOBAL GIT_CONFIG_COUNT; " + vectors
		}
		mustRun(t, spec, "sh", "-c", script)
		for _, m := range []string{"alias", "hook", "fsmonitor"} {
			_, err := os.Stat(filepath.Join(ws, "ran-"+m))
			if drop && err != nil {
				t.Fatalf("without the git variables the %s did not run: the test shows nothing", m)
			}
			if !drop && err == nil {
				t.Errorf("the workspace's %s ran in the sandbox", m)
			}
			os.Remove(filepath.Join(ws, "ran-"+m))
		}
	}
}
