package initproc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGitDriverKeys asks git which keys of a configuration gitDriverKeys
// matches, as the guard does: those of the families the sandbox cannot
// run in a test (git gui, instaweb and send-email are not executable
// there) and others, in any case; keys of the same sections that run
// nothing are not matched.
func TestGitDriverKeys(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	refused := []string{"guitool.x.cmd", "instaweb.httpd", "sendemail.tocmd", "sendemail.id.cccmd",
		"sendemail.headercmd", "imap.tunnel", "tar.tar.xz.command", "include.path",
		"includeif.onbranch:main.path", "filter.x.clean", "mergetool.x.path"}
	let := []string{"submodule.s.update", "sendemail.smtpserver", "imap.folder", "tar.umask", "submodule.s.url",
		"include.x", "guitool.x.title", "instaweb.port", "filter.x.required"}
	cfg := filepath.Join(t.TempDir(), "config")
	var text strings.Builder
	for _, k := range append(append([]string(nil), refused...), let...) {
		i, j := strings.Index(k, "."), strings.LastIndex(k, ".")
		if i == j {
			text.WriteString("[" + k[:i] + "]\n\t" + k[j+1:] + " = v\n")
		} else {
			text.WriteString("[" + k[:i] + " \"" + k[i+1:j] + "\"]\n\t" + k[j+1:] + " = v\n")
		}
	}
	if err := os.WriteFile(cfg, []byte(text.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", "config", "--file", cfg, "--no-includes", "--name-only", "--get-regexp", gitDriverKeys)
	cmd.Env = []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=/nonexistent"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git config --get-regexp: %v", err)
	}
	got := strings.Fields(string(out))
	if strings.Join(got, " ") != strings.Join(refused, " ") {
		t.Errorf("gitDriverKeys matched %q, want %q", got, refused)
	}
}
