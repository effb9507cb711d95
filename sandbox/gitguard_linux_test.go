package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/sandbox/internal/initproc"
)

// gitDriverCases are the commands a repository's configuration makes git
// run under names git takes from .gitattributes or from the configuration
// itself, which no environment variable can turn off: each writes
// /workspace/ran. The repository r is set up with one committed file
// a.txt and a branch b that changes it one way, master the other.
var gitDriverCases = []struct {
	name   string
	config [][2]string
	setup  string            // more set-up, run in r before the config is written
	allow  []string          // more allowed programs
	attrs  string            // r/.gitattributes
	files  map[string]string // more files, by workspace path
	script string            // run in r
	key    string            // the key the refusal names
	marker string            // the file the command makes, by workspace path; "ran" when empty
}{
	{name: "filter clean", config: [][2]string{{"filter.x.clean", "touch /workspace/ran; cat"}},
		attrs: "* filter=x\n", script: "echo c >> a.txt; git add a.txt", key: "filter.x.clean"},
	{name: "filter smudge", config: [][2]string{{"filter.x.smudge", "touch /workspace/ran; cat"}},
		attrs: "* filter=x\n", script: "rm a.txt; git checkout -- a.txt", key: "filter.x.smudge"},
	{name: "filter process", config: [][2]string{{"filter.x.process", "touch /workspace/ran"}},
		attrs: "* filter=x\n", script: "echo c >> a.txt; git add a.txt", key: "filter.x.process"},
	{name: "diff textconv", config: [][2]string{{"diff.x.textconv", "touch /workspace/ran; cat"}},
		attrs: "* diff=x\n", script: "git log -p", key: "diff.x.textconv"},
	{name: "diff command", config: [][2]string{{"diff.x.command", "touch /workspace/ran; :"}},
		attrs: "* diff=x\n", script: "echo c >> a.txt; git diff", key: "diff.x.command"},
	{name: "merge driver", config: [][2]string{{"merge.x.driver", "touch /workspace/ran; false"}},
		attrs: "* merge=x\n", script: "git merge -q b", key: "merge.x.driver"},
	{name: "diff.external", config: [][2]string{{"diff.external", "touch /workspace/ran; :"}},
		script: "echo c >> a.txt; git diff", key: "diff.external"},
	// git runs the proxy with the host and port as its arguments.
	{name: "core.gitProxy", config: [][2]string{{"core.gitProxy", "touch"}},
		script: "git ls-remote git://h.example/x", key: "core.gitproxy", marker: "r/h.example"},
	{name: "man viewer", config: [][2]string{{"man.viewer", "x"}, {"man.x.cmd", "touch /workspace/ran;"}},
		script: "git help git", key: "man.x.cmd"},
	{name: "trailer command", config: [][2]string{{"trailer.x.command", "touch /workspace/ran; echo"}},
		script: "echo m | git interpret-trailers", key: "trailer.x.command"},
	{name: "gpg.ssh.defaultKeyCommand", config: [][2]string{{"gpg.format", "ssh"}, {"gpg.ssh.defaultKeyCommand", "touch /workspace/ran"}},
		script: "git commit -q -S --allow-empty -m s", key: "gpg.ssh.defaultkeycommand"},
	// An include is refused as such: the check does not open it, for a
	// file the check and git each open may give them different contents.
	{name: "include.path", config: [][2]string{{"include.path", "../x.cfg"}},
		files: map[string]string{"r/x.cfg": "[filter \"x\"]\n\tclean = touch /workspace/ran; cat\n"},
		attrs: "* filter=x\n", script: "echo c >> a.txt; git add a.txt", key: "include.path"},
	{name: "includeIf", config: [][2]string{{"includeIf.gitdir:/workspace/.path", "/workspace/x.cfg"}},
		files: map[string]string{"x.cfg": "[diff \"x\"]\n\ttextconv = touch /workspace/ran; cat\n"},
		attrs: "* diff=x\n", script: "git show", key: "includeif.gitdir:/workspace/.path"},
	// A FIFO included, which a process of the same command serves:
	// empty to some readers, a diff.external to others, in an irregular
	// order (ignoring SIGPIPE: a reader that saw the end of one text may
	// close before the next is written). The check read one, git another: once in a few tries, the
	// check saw nothing and git the driver.
	{name: "include FIFO", config: [][2]string{{"include.path", "../x.fifo"}}, setup: "mkfifo x.fifo",
		script: `(trap "" PIPE; while :; do for x in 0 1 0 0 1 1 0 1 0 0 0 1 1 0 0 1; do
				if [ $x = 1 ]; then printf '[diff]\n\texternal = touch /workspace/ran; :\n' > x.fifo; else : > x.fifo; fi
			done; done) &
			for i in $(seq 30); do echo c >> a.txt; git diff >/dev/null; st=$?; [ -e /workspace/ran ] && break; done
			kill $!; exit $st`, key: "include.path"},
	// .git/config itself a FIFO, served the same way: the check reads it
	// as git does, and then finds it is no regular file.
	{name: "config FIFO", config: [][2]string{{"core.x", "y"}},
		script: `[ -p .git/config ] || { cp .git/config ../safe.cfg && cp ../safe.cfg ../evil.cfg &&
				printf '[diff]\n\texternal = touch /workspace/ran; :\n' >> ../evil.cfg && rm .git/config && mkfifo .git/config; }
			(trap "" PIPE; while :; do for x in 0 1 0 0 1 1 0 1 0 0 0 1 1 0 0 1; do
				if [ $x = 1 ]; then cat ../evil.cfg > .git/config; else cat ../safe.cfg > .git/config; fi
			done; done) &
			for i in $(seq 30); do echo c >> a.txt; git diff >/dev/null; st=$?; [ -e /workspace/ran ] && break; done
			kill $!; exit $st`, key: "/workspace/r/.git/config is not a regular file"},
	// The same, the repository outside the working folder's line, named
	// by --git-dir, relative to -C's folder.
	{name: "config FIFO, --git-dir", config: [][2]string{{"core.x", "y"}},
		script: `[ -d ../g ] || { mv .git ../g && cp ../g/config ../safe.cfg && cp ../safe.cfg ../evil.cfg &&
				printf '[diff]\n\texternal = touch /workspace/ran; :\n' >> ../evil.cfg && rm ../g/config && mkfifo ../g/config; }
			(trap "" PIPE; while :; do for x in 0 1 0 0 1 1 0 1 0 0 0 1 1 0 0 1; do
				if [ $x = 1 ]; then cat ../evil.cfg > ../g/config; else cat ../safe.cfg > ../g/config; fi
			done; done) &
			cd ..
			for i in $(seq 30); do echo c >> r/a.txt; git -C r --git-dir=../g --work-tree=. diff >/dev/null; st=$?; [ -e /workspace/ran ] && break; done
			kill $!; exit $st`, key: "../g/config is not a regular file"},
	// .git/config a link to /proc/self/fd/1, which git reads as the file
	// it writes its output to (the check, reading its own pipe, hung).
	{name: "config a link to stdout", config: [][2]string{{"core.x", "y"}},
		script: `[ -h .git/config ] || { cp .git/config ../evil.cfg && printf '[diff]\n\texternal = touch /workspace/ran; :\n' >> ../evil.cfg &&
				ln -sf /proc/self/fd/1 .git/config; }
			echo c >> a.txt; git diff 1<../evil.cfg`, key: "/workspace/r/.git/config is not a regular file"},
	// The check's standard output, when read from a pipe, was not git's:
	// /proc/self/fd/1 is a folder only for git, here the repository,
	// which .git links to (the check, with git's descriptors, fails to
	// write the key there); or a file that names one (gitdir:), where .git, a
	// link, is refused first.
	{name: "stdout a folder", config: [][2]string{{"diff.external", "touch /workspace/ran; :"}},
		script: "[ -h .git ] || { mv .git ../g && ln -s /proc/self/fd/1 .git; }; echo c >> a.txt; git diff 1<../g",
		key:    "the check of its configuration failed"},
	{name: "stdout a gitfile", config: [][2]string{{"diff.external", "touch /workspace/ran; :"}},
		script: `[ -h .git ] || { mv .git ../g && echo gitdir: /workspace/g > ../gf && ln -s /proc/self/fd/1 .git; }
			echo c >> a.txt; git diff 1<../gf`,
		key: "/workspace/r/.git is not a regular file"},
	// git archive --format=x filters the tar through tar.x.command.
	{name: "tar command", config: [][2]string{{"tar.x.command", "touch /workspace/ran; cat"}},
		script: "git archive --format=x HEAD >/dev/null", key: "tar.x.command"},
	// git submodule update (here its builtin half, the script is not
	// executable in the sandbox) runs update=!CMD in a submodule whose
	// checkout is not the recorded commit. It runs git rev-list through
	// the exec path's git, which the sandbox runs only where allowed
	// (guarded then, as every allowed git).
	{name: "submodule update", config: [][2]string{{"submodule.s.update", "!touch /workspace/ran"}},
		setup: `git init -q s && git -C s config user.name a && git -C s config user.email a@b && git -C s commit -q --allow-empty -m s1 && h=$(git -C s rev-parse HEAD) &&
			git -C s commit -q --allow-empty -m s2 && printf '[submodule "s"]\n\tpath = s\n\turl = ./s\n' > .gitmodules &&
			git update-index --add --cacheinfo 160000,$h,s && git add .gitmodules && git commit -qm s &&
			git config submodule.s.url ./s && git config submodule.s.active true`,
		script: "git submodule--helper update", key: "submodule.s.update", allow: []string{"/usr/lib/git-core/git"}},
	// -c and -C are given to the check; --namespace's value is no
	// subcommand (git config is let through).
	{name: "option values", config: [][2]string{{"filter.x.clean", "touch /workspace/ran; cat"}},
		attrs: "* filter=x\n", script: "echo c >> a.txt; git --namespace config -C . add a.txt", key: "filter.x.clean"},
}

// TestSandboxGitDriversRefused runs git in the sandbox in a repository
// whose configuration names a driver (each of gitDriverCases): git is
// refused, with the key named, and the driver does not run. The control
// runs the same script with the real git the guard hides: the driver
// runs there, so the vector is real in the sandbox.
func TestSandboxGitDriversRefused(t *testing.T) {
	requireSandbox(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	for _, c := range gitDriverCases {
		t.Run(c.name, func(t *testing.T) {
			ws := t.TempDir()
			spec := Spec{Workspace: ws, AllowExec: append(append(AllowedCommands(), "git", "mkfifo"), c.allow...)}
			setup := `git init -q r && cd r && git config user.name a && git config user.email a@b &&
				echo a > a.txt && git add a.txt && git commit -qm 1 && git checkout -qb b && echo b > a.txt &&
				git commit -qam b && git checkout -q - && echo m > a.txt && git commit -qam m`
			if c.setup != "" {
				setup += " && " + c.setup
			}
			for _, kv := range c.config {
				setup += " && git config '" + kv[0] + "' '" + kv[1] + "'"
			}
			if res := mustRun(t, spec, "sh", "-c", setup); res.ExitCode != 0 {
				t.Fatalf("setup: %d %s", res.ExitCode, res.Stderr)
			}
			files := map[string]string{}
			for k, v := range c.files {
				files[k] = v
			}
			if c.attrs != "" {
				files["r/.gitattributes"] = c.attrs
			}
			for name, text := range files {
				if err := os.WriteFile(filepath.Join(ws, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			marker := filepath.Join(ws, "ran")
			if c.marker != "" {
				marker = filepath.Join(ws, c.marker)
			}
			script := "cd r && { " + c.script + "; } </dev/null"
			res := mustRun(t, spec, "sh", "-c", script)
			if _, err := os.Stat(marker); err == nil {
				t.Fatalf("%q in the sandbox ran the command %s names\n%s", c.script, c.name, res.Stderr)
			}
			if res.ExitCode == 0 || !strings.Contains(string(res.Stderr), c.key) {
				t.Errorf("%q: exit %d, stderr %q; want a refusal naming %s", c.script, res.ExitCode, res.Stderr, c.key)
			}
			// The control: the real git, which only the guard runs.
			real := gitGuardDir + "/0/git"
			// git's own subprocesses (git merge runs git stash) find it
			// through GIT_EXEC_PATH.
			res = mustRun(t, spec, "sh", "-c", "git() { GIT_EXEC_PATH="+gitGuardDir+"/0 "+real+` "$@"; }; `+script)
			if _, err := os.Stat(marker); err != nil {
				t.Fatalf("the real git did not run the command %s names: the case shows nothing\n%s", c.name, res.Stderr)
			}
		})
	}
}

// gitGuardDir is where the sandbox keeps the guard and the real git.
const gitGuardDir = initproc.GitGuardDir

// TestSandboxGitGuardLetsGitWork runs everyday git in the sandbox: in a
// repository without drivers the guard is not seen (in a folder below
// the top, a bare repository; a submodule's update
// mode that is no command), and with one, git config (which
// runs none) still removes it.
func TestSandboxGitGuardLetsGitWork(t *testing.T) {
	requireSandbox(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	ws := t.TempDir()
	spec := Spec{Workspace: ws, AllowExec: append(AllowedCommands(), "git")}
	script := `set -e; git --version; git init -q r; cd r; git config user.name a; git config user.email a@b
		echo a > a.txt; git add a.txt; git commit -qm 1; echo b >> a.txt; git diff --stat; git commit -qam 2
		mkdir d; git -C d status >/dev/null
		git init -q --bare ../b.git; git --git-dir=../b.git rev-parse --is-bare-repository >/dev/null
		git -C .. -c core.quotePath=false --git-dir=r/.git --work-tree=r log -p --format=%s | grep -c '^+'
		git status --short; git branch -q x; git checkout -q x; git checkout -q -; git log --oneline | wc -l
		git config submodule.x.update rebase; git status --short; git config --unset submodule.x.update
		git config filter.x.clean cat; echo '* filter=x' > .gitattributes
		if git status >../out 2>../err; then echo "not refused"; exit 1; fi
		git config --unset filter.x.clean; git status --short`
	res := mustRun(t, spec, "sh", "-c", script)
	if res.ExitCode != 0 {
		t.Fatalf("git in the sandbox: exit %d\n%s\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	want := "2\n?? .gitattributes\n"
	if out := string(res.Stdout); !strings.HasPrefix(out, "git version ") || !strings.HasSuffix(out, want) {
		t.Errorf("git in the sandbox wrote %q, want git's version first and %q last", out, want)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "err")); !strings.Contains(string(b), "filter.x.clean") {
		t.Errorf("the refusal %q does not name filter.x.clean", b)
	}
	// The check ran with git's standard output, and wrote the key there.
	if b, _ := os.ReadFile(filepath.Join(ws, "out")); string(b) != "filter.x.clean\n" {
		t.Errorf("the refused git wrote %q on its standard output, want the key", b)
	}
}

// TestSandboxGitNeedsSh: the guard is a sh script, so an allowlist with
// git and without sh is refused, saying so.
func TestSandboxGitNeedsSh(t *testing.T) {
	requireSandbox(t)
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	_, err := Run(context.Background(), Spec{Workspace: t.TempDir(), AllowExec: []string{"git"}}, []string{"git", "--version"})
	if err == nil || !strings.Contains(err.Error(), "sh is not") {
		t.Fatalf("Run(git) with git alone allowed: %v, want the refusal that asks for sh", err)
	}
}
