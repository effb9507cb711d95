package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGitEnvStopsConfiguredCommands runs a real git in a real repository
// for each command that configuration the agent can write (~/.gitconfig,
// since the home is the workspace, and .git/config, .git/hooks) makes git
// run: with a bare environment each runs (the vector is real), with
// commandEnv's none does.
func TestGitEnvStopsConfiguredCommands(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	// Each case: the configuration (git config KEY VALUE in the
	// repository, or a file written), then the command run in it. $M is
	// the marker the configured command creates.
	cases := []struct {
		name   string
		config [][2]string
		files  map[string]string
		script string
		tty    bool
	}{
		{name: "hook", files: map[string]string{"r/.git/hooks/pre-commit": "#!/bin/sh\ntouch \"$M\"\n"},
			script: "git commit -q --allow-empty -m x"},
		{name: "core.hooksPath", config: [][2]string{{"core.hooksPath", "../h"}},
			files: map[string]string{"h/pre-commit": "#!/bin/sh\ntouch \"$M\"\n"}, script: "git commit -q --allow-empty -m x"},
		{name: "global alias", files: map[string]string{".gitconfig": "[alias]\n\tx = !touch \"$M\"\n"}, script: "git x"},
		{name: "XDG alias", files: map[string]string{".config/git/config": "[alias]\n\tx = !touch \"$M\"\n"}, script: "git x"},
		{name: "global hooksPath", files: map[string]string{".gitconfig": "[core]\n\thooksPath = ../h\n", "h/pre-commit": "#!/bin/sh\ntouch \"$M\"\n"},
			script: "git commit -q --allow-empty -m x"},
		{name: "core.fsmonitor", config: [][2]string{{"core.fsmonitor", "../run"}}, script: "git status"},
		{name: "core.pager", config: [][2]string{{"core.pager", "../run"}}, script: "git log -1", tty: true},
		{name: "pager.log", config: [][2]string{{"pager.log", "../run"}}, script: "git log -1", tty: true},
		{name: "core.editor", config: [][2]string{{"core.editor", "../run"}}, script: "git commit -q --allow-empty"},
		{name: "sequence.editor", config: [][2]string{{"sequence.editor", "../run"}}, script: "git rebase -q -i HEAD"},
		{name: "credential.helper", config: [][2]string{{"credential.helper", "!../run"}},
			script: "printf 'protocol=https\\nhost=x.example\\n\\n' | git credential fill"},
		{name: "credential.URL.helper", config: [][2]string{{"credential.https://x.example.helper", "!../run"}},
			script: "printf 'protocol=https\\nhost=x.example\\n\\n' | git credential fill"},
		{name: "core.askpass", config: [][2]string{{"core.askpass", "../run"}},
			script: "printf 'protocol=https\\nhost=x.example\\n\\n' | git credential fill"},
		{name: "core.sshCommand", config: [][2]string{{"core.sshCommand", "../run"}}, script: "git ls-remote ssh://h.example/x"},
		{name: "protocol ext", config: [][2]string{{"protocol.ext.allow", "always"}}, script: "git ls-remote 'ext::sh -c ../run'"},
		{name: "remote uploadpack", config: [][2]string{{"remote.o.url", "."}, {"remote.o.uploadpack", "../run; git-upload-pack"}},
			script: "git fetch -q o"},
		{name: "gpg.program", config: [][2]string{{"gpg.program", "../run"}}, script: "git commit -q -S --allow-empty -m s"},
		// gpg.openpgp.program sets the same program as gpg.program, which
		// the environment gives last.
		{name: "gpg.openpgp.program", config: [][2]string{{"gpg.openpgp.program", "../run"}}, script: "git commit -q -S --allow-empty -m s"},
		{name: "include.path", config: [][2]string{{"include.path", "../../hooks.cfg"}},
			files:  map[string]string{"hooks.cfg": "[core]\n\thooksPath = ../h\n", "h/pre-commit": "#!/bin/sh\ntouch \"$M\"\n"},
			script: "git commit -q --allow-empty -m x"},
		// An ext:: URL that insteadOf makes of an https one (the rule
		// allowing ext is the repository's own); includeIf bringing a
		// hooksPath; the pack-objects hook, which git reads from the
		// global config alone.
		{name: "url insteadOf ext", config: [][2]string{{"protocol.ext.allow", "always"},
			{"url.ext::sh -c touch% $M% .insteadOf", "https://x.example/"}}, script: "git ls-remote https://x.example/r"},
		{name: "includeIf", config: [][2]string{{"includeIf.gitdir:**/r/.path", "../../hooks.cfg"}},
			files:  map[string]string{"hooks.cfg": "[core]\n\thooksPath = ../h\n", "h/pre-commit": "#!/bin/sh\ntouch \"$M\"\n"},
			script: "git commit -q --allow-empty -m x"},
		{name: "uploadpack.packObjectsHook", files: map[string]string{".gitconfig": "[uploadpack]\n\tpackObjectsHook = sh -c 'touch $M' x\n"},
			script: "git clone -q --no-local . ../c"},
	}
	script := "script"
	if _, err := exec.LookPath(script); err != nil {
		script = ""
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.tty && script == "" {
				t.Skip("no script(1) for a terminal")
			}
			for _, env := range []string{"bare", "commandEnv"} {
				home := t.TempDir()
				marker := filepath.Join(home, "marker")
				base := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "M=" + marker,
					"GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@b", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@b"}
				run := func(dir string, env []string, sh string) string {
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					cmd := exec.CommandContext(ctx, "sh", "-c", sh)
					cmd.Dir, cmd.Env, cmd.WaitDelay = dir, env, time.Second
					out, _ := cmd.CombinedOutput()
					return string(out)
				}
				run(home, base, `git init -q r && git -C r commit -q --allow-empty -m 1 &&
					printf '#!/bin/sh\ntouch "$M"\n' > run && chmod +x run`)
				for name, text := range c.files {
					p := filepath.Join(home, name)
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "$M", marker)), 0o755); err != nil {
						t.Fatal(err)
					}
				}
				for _, kv := range c.config {
					k, v := strings.ReplaceAll(kv[0], "$M", marker), strings.ReplaceAll(kv[1], "$M", marker)
					run(filepath.Join(home, "r"), base, "git config '"+k+"' '"+v+"'")
				}
				e := base
				if env == "commandEnv" {
					e = append(commandEnv(Spec{}), base...)
					e = append(e, "PATH="+os.Getenv("PATH"))
				}
				sh := "{ " + c.script + "; } </dev/null"
				if c.tty {
					sh = "script -qec '" + c.script + "' /dev/null </dev/null"
				}
				out := run(filepath.Join(home, "r"), e, sh)
				_, err := os.Stat(marker)
				ran := err == nil
				if env == "bare" && !ran {
					t.Fatalf("without commandEnv, %q did not run the configured command: the case shows nothing\n%s", c.script, out)
				}
				if env == "commandEnv" && ran {
					t.Errorf("with commandEnv, %q ran the command %s names\n%s", c.script, c.name, out)
				}
			}
		})
	}
}
