package shell_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/shell"
)

// parseTests give the canonical commands a script runs, or that it is
// dynamic (then commands lists those that can still be known).
var parseTests = []struct {
	script   string
	commands []string
	dynamic  bool
}{
	// Spellings of one action.
	{"rm -rf *", []string{"rm -f -r *"}, false},
	{"rm -fr *", []string{"rm -f -r *"}, false},
	{"rm  -rf *", []string{"rm -f -r *"}, false},
	{"rm\t-rf\t*", []string{"rm -f -r *"}, false},
	{"rm -r -f *", []string{"rm -f -r *"}, false},
	{"rm -R -f *", []string{"rm -f -r *"}, false},
	{"rm -f -r -f -r *", []string{"rm -f -r *"}, false},
	{"rm --recursive --force *", []string{"rm -f -r *"}, false},
	{"rm --rec --f *", []string{"rm -f -r *"}, false},
	{"rm * -rf", []string{"rm -f -r *"}, false},
	{"rm -{r,f} x", []string{"rm -f -r x"}, false},
	{`rm "-rf" x`, []string{"rm -f -r x"}, false},
	{"rm -rf -- -x", []string{"rm -f -r -- -x"}, false},
	{"rm -rf -- x", []string{"rm -f -r x"}, false},
	{`rm -rf "$HOME"`, []string{"rm -f -r $HOME"}, true}, // $HOME could hold flags: o=-rf; rm $o x
	{`rm -rf -- "$HOME"`, []string{"rm -f -r $HOME"}, false},
	{`o=-rf; rm $o x`, []string{"rm $o x"}, true},
	{`rm "$(opts)" x`, []string{"rm $(opts) x", "opts"}, true},
	// Lists, pipelines, groups, control flow.
	{"cd . && rm -rf *", []string{"cd .", "rm -f -r *"}, false},
	{"false || rm -rf x", []string{"false", "rm -f -r x"}, false},
	{"echo a; rm -rf x", []string{"echo a", "rm -f -r x"}, false},
	{"echo a\nrm -rf x", []string{"echo a", "rm -f -r x"}, false},
	{"echo a & rm -rf x", []string{"echo a", "rm -f -r x"}, false},
	{"true | rm -rf x", []string{"true", "rm -f -r x"}, false},
	{"(rm -rf x)", []string{"rm -f -r x"}, false},
	{"{ rm -rf x; }", []string{"rm -f -r x"}, false},
	{"! rm -rf x", []string{"rm -f -r x"}, false},
	{"time rm -rf x", []string{"rm -f -r x"}, false},
	{"if true; then rm -rf x; fi", []string{"true", "rm -f -r x"}, false},
	{"if rm -rf x; then :; fi", []string{"rm -f -r x", ":"}, false},
	{"while false; do rm -rf x; done", []string{"false", "rm -f -r x"}, false},
	{"for f in a; do rm -rf $f; done", []string{"rm -f -r $f"}, true},
	{"for f in a; do rm -rf -- $f; done", []string{"rm -f -r $f"}, false},
	{"case a in a) rm -rf x;; esac", []string{"rm -f -r x"}, false},
	{"f() { rm -rf x; }; f", []string{"rm -f -r x", "f"}, false},
	{"function f { rm -rf x; }", []string{"rm -f -r x"}, false},
	{"coproc rm -rf x", []string{"rm -f -r x"}, false},
	{"echo a # ; rm -rf x", []string{"echo a"}, false},
	{"# rm -rf x", nil, false},
	{"x=1", nil, false},
	{"exec 3>&1", nil, false},
	// Substitutions run commands too.
	{"echo $(rm -rf x)", []string{"echo $(rm -rf x)", "rm -f -r x"}, false},
	{"echo `rm -rf x`", []string{"echo `rm -rf x`", "rm -f -r x"}, false},
	{`echo "$(rm -rf x)"`, []string{"echo $(rm -rf x)", "rm -f -r x"}, false},
	{"x=$(rm -rf x)", []string{"rm -f -r x"}, false},
	{"echo $(( $(rm -rf x) ))", []string{"echo $(( $(rm -rf x) ))", "rm -f -r x"}, true},
	{"diff <(rm -rf x) y", []string{"diff <(rm -rf x) y", "rm -f -r x"}, false},
	{"cat <<EOF\n$(rm -rf x)\nEOF", []string{"cat", "rm -f -r x"}, false},
	{"cat > $(rm -rf x)", []string{"cat", "rm -f -r x"}, false},
	{"[[ $(rm -rf x) ]]", []string{"rm -f -r x"}, false},
	{"(( $(rm -rf x) ))", []string{"rm -f -r x"}, true},
	{"echo ${y:-$(rm -rf x)}", []string{"echo ${y:-$(rm -rf x)}", "rm -f -r x"}, false},
	{"local y=$(rm -rf x)", []string{"local y=$(rm -rf x)", "rm -f -r x"}, false},
	// Quoting and escapes of the name.
	{"'rm' -rf x", []string{"rm -f -r x"}, false},
	{`"rm" -rf x`, []string{"rm -f -r x"}, false},
	{`"r"m -rf x`, []string{"rm -f -r x"}, false},
	{"r'm' -rf x", []string{"rm -f -r x"}, false},
	{`\rm -rf x`, []string{"rm -f -r x"}, false},
	{`r\m -rf x`, []string{"rm -f -r x"}, false},
	{`$'\x72\x6d' -rf x`, []string{"rm -f -r x"}, false},
	{`$'\162m' -rf x`, []string{"rm -f -r x"}, false},
	{"r\\\nm -rf x", []string{"rm -f -r x"}, false},
	// Paths of the program.
	{"/bin/rm -rf x", []string{"rm -f -r x"}, false},
	{"/usr/bin/../bin/rm -rf x", []string{"rm -f -r x"}, false},
	{"./rm -rf x", []string{"rm -f -r x"}, true}, // ./rm may be a link to any program
	// Builtins choosing the lookup.
	{"command rm -rf x", []string{"rm -f -r x"}, false},
	{"command -p rm -rf x", []string{"rm -f -r x"}, false},
	{"command -v rm", []string{"command -v rm"}, false},
	{"builtin cd x", []string{"cd x"}, false},
	{"exec rm -rf x", []string{"rm -f -r x"}, false},
	{"exec -a y rm -rf x", []string{"rm -f -r x"}, false},
	// Wrappers.
	{"env rm -rf x", []string{"env rm -f -r x", "rm -f -r x"}, false},
	{"env -i A=1 rm -rf x", []string{"env -i A=1 rm -f -r x", "rm -f -r x"}, true}, // without the sandbox's git environment
	{"nice -n 5 rm -rf x", []string{"nice -n 5 rm -f -r x", "rm -f -r x"}, false},
	{"nice rm -rf x", []string{"nice rm -f -r x", "rm -f -r x"}, false},
	{"timeout 5 rm -rf x", []string{"timeout 5 rm -f -r x", "rm -f -r x"}, false},
	{"timeout -s KILL 5s rm -rf x", []string{"timeout -s KILL 5s rm -f -r x", "rm -f -r x"}, false},
	{"nohup rm -rf x", []string{"nohup rm -f -r x", "rm -f -r x"}, false},
	{"stdbuf -oL rm -rf x", []string{"stdbuf -oL rm -f -r x", "rm -f -r x"}, false},
	{"sudo rm -rf x", []string{"sudo rm -f -r x", "rm -f -r x"}, false},
	{"sudo -u root -- rm -rf x", []string{"sudo -u root -- rm -f -r x", "rm -f -r x"}, false},
	{"doas -u root rm -rf x", []string{"doas -u root rm -f -r x", "rm -f -r x"}, false},
	{"busybox rm -rf x", []string{"busybox rm -f -r x", "rm -f -r x"}, false},
	{"env - A=1 rm -rf x", []string{"env - A=1 rm -f -r x", "rm -f -r x"}, true},
	{"sudo -k rm -rf x", []string{"sudo -k rm -f -r x", "rm -f -r x"}, false},
	{"sudo -l rm -rf x", []string{"sudo -l rm -rf x"}, false},
	{"env nice sudo rm -rf x", []string{"env nice sudo rm -f -r x", "nice sudo rm -f -r x", "sudo rm -f -r x", "rm -f -r x"}, false},
	// Shells given a script.
	{"bash -c 'rm -rf x'", []string{"bash -c rm -rf x", "rm -f -r x"}, false},
	{"sh -c 'rm -rf x'", []string{"sh -c rm -rf x", "rm -f -r x"}, false},
	{"bash -ec 'rm -rf x'", []string{"bash -ec rm -rf x", "rm -f -r x"}, false},
	{"bash -o errexit -c 'rm -rf x'", []string{"bash -o errexit -c rm -rf x", "rm -f -r x"}, false},
	{`sh -c "bash -c 'rm -rf x'"`, []string{"sh -c bash -c 'rm -rf x'", "bash -c rm -rf x", "rm -f -r x"}, false},
	{"/bin/dash -c 'rm -rf x'", []string{"dash -c rm -rf x", "rm -f -r x"}, false},
	{"zsh -c 'rm -rf x'", []string{"zsh -c rm -rf x", "rm -f -r x"}, false},
	{"bash script.sh", []string{"bash script.sh"}, true}, // runs a file's commands, as source does
	{"trap 'rm -rf x' EXIT", []string{"rm -f -r x", "trap rm -rf x EXIT"}, false},
	{"su -c 'rm -rf x' root", []string{"su -c rm -rf x root", "rm -f -r x"}, false},
	{"watch 'rm -rf x'", []string{"watch rm -rf x", "rm -f -r x"}, false},
	// Commands run by xargs and find.
	{"ls | xargs rm -rf", []string{"ls", "xargs rm -f -r", "rm -f -r ..."}, false},
	{"xargs -0 -n 1 rm -rf < list", []string{"xargs -0 -n 1 rm -f -r", "rm -f -r ..."}, false},
	{"ls | xargs", []string{"ls", "xargs", "echo ..."}, false},
	{"find . -delete", []string{"find . -delete", "rm -f -r ."}, false},
	{"find -delete", []string{"find -delete", "rm -f -r ."}, false},
	{"find a b -name x -delete", []string{"find a b -name x -delete", "rm -f -r a b"}, false},
	{`find . -name '*.py' -exec rm {} \;`, []string{"find . -name *.py -exec rm {} ;", "rm {}"}, false},
	{`find . -execdir rm -rf {} +`, []string{"find . -execdir rm -rf {} +", "rm -f -r {}"}, false},
	{`find . -exec sh -c 'rm -rf "$1"' _ {} \;`, []string{`find . -exec sh -c rm -rf "$1" _ {} ;`, `sh -c rm -rf "$1" _ {}`, "rm -f -r $1"}, true},
	// Other tools.
	{"git -C x push --force origin main", []string{"git push -C x -f origin main"}, false},
	{"git push origin main -f", []string{"git push -f origin main"}, false},
	{"git clean -fdx", []string{"git clean -d -f -x"}, false},
	{"git status", []string{"git status"}, false},
	{"tar xzf a.tgz -C /", []string{"tar -C / -f a.tgz -x -z"}, false},
	{"tar --extract --gzip --file=a.tgz", []string{"tar -f a.tgz -x -z"}, false},
	{"curl -sSLo out http://x", []string{"curl -L -S -o out -s http://x"}, false},
	{"curl --output out --silent http://x", []string{"curl -o out -s http://x"}, false},
	{"cp -a --target-directory=/x y", []string{"cp -a -t /x y"}, false},
	{"chmod -R 777 /", []string{"chmod -R 777 /"}, false},
	{"chmod --recursive 777 /", []string{"chmod -R 777 /"}, false},
	{"sed -i.bak -e s/a/b/ f", []string{"sed -e s/a/b/ -i.bak f"}, false},
	{"sed --in-place s/a/b/ f", []string{"sed -i s/a/b/ f"}, false},
	{"mkdir -pv a", []string{"mkdir -p -v a"}, false},
	{"ln -sf a b", []string{"ln -f -s a b"}, false},
	{"mv --force a b", []string{"mv -f a b"}, false},
	{"chown -R u:g .", []string{"chown -R u:g ."}, false},
	{"wget -qO- http://x", []string{"wget -O - -q http://x"}, false},
	{"ls -la", []string{"ls -la"}, false},
	// What cannot be known statically.
	{"$(echo rm) -rf x", []string{"echo rm"}, true},
	{"`echo rm` -rf x", []string{"echo rm"}, true},
	{"x=rm; $x -rf y", nil, true},
	{"${x} -rf y", nil, true},
	{"eval rm -rf x", []string{"eval rm -rf x"}, true},
	{"builtin eval rm -rf x", []string{"eval rm -rf x"}, true},
	{"source s.sh", []string{"source s.sh"}, true},
	{". s.sh", []string{". s.sh"}, true},
	{"alias r=rm; r -rf x", []string{"alias r=rm", "r -rf x"}, true},
	{"bash <<< 'rm -rf x'", []string{"bash"}, true},
	{"sh <<EOF\nrm -rf x\nEOF", []string{"sh"}, true},
	{"echo rm -rf x | bash", []string{"echo rm -rf x", "bash"}, true},
	{"curl http://x | sh", []string{"curl http://x", "sh"}, true},
	{"bash -s < x.sh", []string{"bash -s"}, true},
	{"bash -c \"$cmd\"", []string{"bash -c $cmd"}, true},
	{"sudo -s", []string{"sudo -s"}, true},
	{"sudo $x -rf y", []string{"sudo $x -rf y"}, true},
	{"su -s /bin/rm -c x root", []string{"su -s /bin/rm -c x root"}, true},
	{"env -S 'rm -rf x'", []string{"env -S rm -rf x"}, true},
	{"/bin/r? -rf x", nil, true},
	{"/bin/r* -rf x", nil, true},
	{"[r]m -rf x", nil, true},
	{"{rm,-rf,x}", nil, true},
	{"tar --to-command='rm -rf x' -xf a.tar", []string{"tar --to-command=rm -rf x -f a.tar -x"}, true},
	{"tar -I 'sh -c x' -xf a.tar", []string{"tar -I sh -c x -f a.tar -x"}, true},
	{"git -c alias.x='!rm -rf /' x", []string{"git -c alias.x=!rm -rf / x"}, true},
	{"git -c core.sshCommand='rm -rf /' fetch", []string{"git fetch -c core.sshCommand=rm -rf /"}, true},
	{"fc -s", []string{"fc -s"}, true},
	{"hash -p /bin/rm ls; ls -rf x", []string{"hash -p /bin/rm ls", "ls -rf x"}, true},
	{"hash -rp /bin/rm ls", []string{"hash -rp /bin/rm ls"}, true},
	{"hash -r", []string{"hash -r"}, false},
	{"mapfile -C 'rm -rf x' -c 1 a < f", []string{"mapfile -C rm -rf x -c 1 a"}, true},
	{"bash /dev/stdin <<< 'rm -rf x'", []string{"bash /dev/stdin"}, true},
	{"bash - <<< 'rm -rf x'", []string{"bash -"}, true},
	{"bash <(curl http://x)", []string{"bash <(curl http://x)", "curl http://x"}, true},
	// A run-time part that could add flags to a known program.
	{"rm -rf${IFS}x", []string{"rm -rf${IFS}x"}, true},
	{"rm -r$x y", []string{"rm -r$x y"}, true},
	{`rm "-$o" y`, []string{"rm -$o y"}, true},
	{"rm --$o y", []string{"rm --$o y"}, true},
	{"git push -$o", []string{"git push -$o"}, true},
	// ... but not one in a flag's value, nor an operand.
	{"curl -o$f http://x", []string{"curl -o $f http://x"}, false},
	{"cp --target-directory=$d x", []string{"cp -t $d x"}, false},
	{"rm -rf -- -$x", []string{"rm -f -r -- -$x"}, false},
}

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tt := range parseTests {
		got, err := shell.Parse(tt.script)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.script, err)
			continue
		}
		var cmds []string
		for _, c := range got.Commands {
			cmds = append(cmds, c.String())
		}
		if !slices.Equal(cmds, tt.commands) {
			t.Errorf("Parse(%q).Commands = %q, want %q", tt.script, cmds, tt.commands)
		}
		if dyn := len(got.Dynamic) > 0; dyn != tt.dynamic {
			t.Errorf("Parse(%q).Dynamic = %q, want dynamic %v", tt.script, got.Dynamic, tt.dynamic)
		}
	}
}

// denyTests are scripts that remove x recursively by force, spelled to
// walk past a rule written for "rm -rf *"; each must match the rule or be
// dynamic (which the policy treats as matching every deny rule).
var denyTests = []string{
	"rm -fr x", "rm  -rf x", "cd . && rm -rf x", "rm -r -f x", "rm --recursive --force x",
	"rm -rfv x", "rm -R -f x", "rm x -rf", "'rm' -rf x", `"r"m -rf x`, `\rm -rf x`,
	"command rm -rf x", "/bin/rm -rf x", "env rm -rf x", "nice -n 5 rm -rf x", "timeout 5 rm -rf x",
	"sudo rm -rf x", "sudo -u root rm -rf x", "bash -c 'rm -rf x'", `sh -c "bash -c 'rm -rf x'"`,
	"(rm -rf x)", "{ rm -rf x; }", "true | rm -rf x", "$(echo rm) -rf x", "x=rm; $x -rf y",
	"eval rm -rf x", "source s.sh", "bash <<< 'rm -rf x'", "alias r=rm; r -rf x",
	"f() { rm -rf x; }; f", "echo a\nrm -rf x", "find . -delete", "find . -exec rm -rf {} +",
	"ls | xargs rm -rf", "/bin/r? -rf x", "{rm,-rf,x}", "if true; then rm -rf x; fi",
	"for f in a; do rm -rf $f; done", "echo $(rm -rf x)", "exec rm -rf x", "busybox rm -rf x",
	"rm -{r,f} x", `$'\x72m' -rf x`, "echo rm -rf x | sh", "trap 'rm -rf x' EXIT",
	// Red team, session 35: builtins that run a command (jobs -x, compgen
	// -C and -W's command substitutions), a script that a glob, find's {}
	// or xargs makes, time's --, sed's -e in its long and attached forms,
	// a substitution inside an extended glob, env -a's value taken for the
	// command, and git configuration that runs ext:: URLs or !CMD.
	"jobs -x rm -rf x", "jobs -x -- rm -rf x", "compgen -C 'rm -rf x' w", "compgen -W '$(rm -rf x)' w",
	`echo "'rm -rf x'" | xargs sh -c`, "echo 'rm -rf x' | xargs -I{} sh -c '{}'", "xargs -i sh -c {}",
	"xargs --replace=Q bash -c Q", "xargs -IZ Z", `find 'rm -rf x' -exec sh -c {} \;`, "bash -c *",
	"time -- rm -rf x", "time -p -- rm -rf x", "sed --expression='1e rm -rf x' f",
	"sed --expr='1e rm -rf x' f", "sed -ne'1e rm -rf x' f", "shopt -s extglob\ncase a in @($(rm -rf x))) ;; esac",
	"env -a foo rm -rf x", "env --argv0 foo rm -rf x", "git -c protocol.ext.allow=always clone 'ext::rm -rf x' d",
	"GIT_ALLOW_PROTOCOL=ext git clone 'ext::rm -rf x' d", "git -c submodule.s.update='!rm -rf x' submodule update",
	"git grep -O'rm -rf x' k", "git grep -iO 'rm -rf x' k", "git clone -u 'rm -rf x' . d", "git fetch --upload='rm -rf x' .",
	"git push --receive-pack='rm -rf x' . HEAD", "git difftool -x 'rm -rf x'", "git bisect run rm -rf x",
	"git filter-branch --tree-filter 'rm -rf x' HEAD", "git archive --remote=. --exec='rm -rf x' HEAD",
	"git push --e='rm -rf x' x", "git archive --e='rm -rf x' --remote=x HEAD", "git ls-remote --u='rm -rf x' x",
	"git clone --u='rm -rf x' x d", // the shortest prefixes git takes (red team, session 42)
	"git config alias.r '!rm -rf x'; git r", "git config --global core.pager 'rm -rf x'; git log",
	// A login or interactive shell runs ~/.profile or ~/.bashrc first,
	// and the sandbox's home is the workspace, which may hold rm -rf x.
	"bash -lc true", "bash --login -c true", "sh -c -l true", "bash -ic true", "bash --rcfile r -c true",
	"LESSOPEN='|rm -rf x %s' less f", "tcsh -c 'rm -rf x'", "ksh93 -c 'rm -rf x'", "bash-static -c 'rm -rf x'",
	// A name git does not know may be an alias (!rm -rf x) that
	// ~/.gitconfig or .git/config defines: the agent writes both. The
	// sandbox's environment keeps git from the rest of what they name
	// (hooks, pager, ...): what runs without it, or writes a clone's
	// config, is not seen.
	"git r", "git $c", "git send-email x", "env -u GIT_CONFIG_COUNT git commit", "env --unset=GIT_CONFIG_GLOBAL git commit",
	"env -vu GIT_PAGER git log", "env -i git commit", "env - git commit", "exec -c git commit",
	"setpriv --reset-env git commit", "git clone -c alias.r='!rm -rf x' u d", "git clone --config=core.hooksPath=h u d",
	"git submodule update", "git submodule --quiet update --init", "git submodule--helper update",
	// The real git that the sandbox's git guard runs, which does not
	// refuse a repository whose config names a driver (rm -rf x).
	"/run/bulwark/git/0/git add .", "cd /run/bulwark/git/0 && ./git add .",
	// git beside a command that may rewrite .git/config between the
	// sandbox's check of it and git's own reading (session 37).
	"echo '[diff]external=rm -rf x' >> .git/config & git diff",
	"(sleep 0; printf '[diff]\\n\\texternal=rm -rf x\\n' >> .git/config) & git diff",
	"git diff & echo '[diff]external=rm -rf x' >> .git/config",
	"git diff | (echo '[diff]external=rm -rf x' >> .git/config)", "git diff | tee -a .git/config",
	"coproc { echo '[diff]external=rm -rf x' >> .git/config; }; git diff",
	"git diff --no-index a <(echo '[diff]external=rm -rf x' >> .git/config)",
	"git config diff.external 'rm -rf x' | git diff", "echo x | g\\it diff | sh -c 'echo >> .git/config'",
	"bash -c 'git diff | sed -i s/a/b/ .git/config'", "env git diff | cat > .git/config",
}

func TestDenyRuleCatchesSpellings(t *testing.T) {
	t.Parallel()
	rule, err := shell.Pattern("rm -rf *")
	if err != nil {
		t.Fatal(err)
	}
	for _, script := range denyTests {
		s, err := shell.Parse(script)
		if err != nil {
			t.Errorf("Parse(%q): %v", script, err)
			continue
		}
		matched := len(s.Dynamic) > 0
		for _, c := range s.Commands {
			matched = matched || bulwark.Glob(rule, c.String())
		}
		if !matched {
			t.Errorf("Parse(%q) = %q: no command matches %q and it is not dynamic", script, s.Commands, rule)
		}
	}
	// And what the rule is not about stays allowed.
	for _, script := range []string{"rm x", "rm -r x", "echo rm -rf x", "ls -rf", "cat rm", "# rm -rf x", "echo 'rm -rf x'",
		"git status", "git commit -m x", "git help r", "env -u FOO git status", "git clone -c user.name=x u d",
		"git log | head -5", "git diff | cat", "git log --oneline | grep x | wc -l", "echo msg | git commit -F -",
		"ls | sort | uniq; git status", "sleep 1 & wait; ls", "git config user.name x & wait"} {
		s, err := shell.Parse(script)
		if err != nil {
			t.Fatalf("Parse(%q): %v", script, err)
		}
		for _, c := range s.Commands {
			if bulwark.Glob(rule, c.String()) || len(s.Dynamic) > 0 {
				t.Errorf("Parse(%q) = %q, %q: matches %q", script, s.Commands, s.Dynamic, rule)
			}
		}
	}
}

func TestParseError(t *testing.T) {
	t.Parallel()
	for _, script := range []string{"rm 'x", "if true; then", "echo $(", "(rm x"} {
		if s, err := shell.Parse(script); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", script, s)
		}
	}
	// A nested script that does not parse is dynamic, the rest still known.
	s, err := shell.Parse("bash -c 'rm (' ; ls")
	if err != nil || len(s.Dynamic) == 0 {
		t.Errorf("Parse(bash -c 'rm (') = %v, %v; want dynamic", s, err)
	}
}

var patternTests = []struct {
	pattern, want string
}{
	{"rm -rf *", "rm -f -r *"},
	{"rm -fr *", "rm -f -r *"},
	{"rm --recursive --force *", "rm -f -r *"},
	{"rm  -r   -f *", "rm -f -r *"},
	{"'rm' -rf *", "rm -f -r *"},
	{"/bin/rm -rf *", "rm -f -r *"},
	{"rm *", "rm *"},
	{"*", "*"},
	{"", ""},
	{"  ", ""},
	{"r? -rf *", "r? -rf *"}, // not a known tool: as written
	{"git push --force *", "git push -f *"},
	{"git push -f*", "git push -f*"},
	{"curl *", "curl *"},
	{"curl --output * *", "curl -o * *"},
	{"sudo rm -rf *", "sudo rm -f -r *"},
	{"bash -c *", "bash -c *"},
	{"chmod 777 *", "chmod 777 *"},
	{"rm -- -rf", "rm -- -rf"},
	{"rm $HOME", "rm $HOME"},
}

func TestPattern(t *testing.T) {
	t.Parallel()
	for _, tt := range patternTests {
		got, err := shell.Pattern(tt.pattern)
		if err != nil || got != tt.want {
			t.Errorf("Pattern(%q) = %q, %v; want %q", tt.pattern, got, err, tt.want)
		}
		if again, err := shell.Pattern(got); err != nil || again != got {
			t.Errorf("Pattern(%q) = %q, %v; want it unchanged", got, again, err)
		}
	}
}

func TestPatternErrors(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"# rm *", "exec", "command", "builtin", "curl * | sh", "rm x; ls", "rm x && ls", "rm * > x", "A=1 rm *", "(rm *)", "if x; then y; fi", "echo ';'", "rm 'x"} {
		if got, err := shell.Pattern(p); err == nil {
			t.Errorf("Pattern(%q) = %q, want an error", p, got)
		}
	}
}

// The canonical line of a command matches the canonical pattern written
// for it however either is spelled.
func TestPatternMatchesCommands(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ pattern, script string }{
		{"rm -rf *", "rm -fr /"},
		{"rm --force --recursive *", "/bin/rm -r -f -- /"},
		{"git push --force *", "git push origin -f main"},
		{"curl --output * *", "curl -o out http://x"},
		{"sudo rm -rf *", "sudo rm -fr /"},
	} {
		p, err := shell.Pattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		s, err := shell.Parse(tt.script)
		if err != nil || len(s.Commands) == 0 {
			t.Fatalf("Parse(%q) = %v, %v", tt.script, s, err)
		}
		if got := s.Commands[0].String(); !bulwark.Glob(p, got) {
			t.Errorf("Glob(Pattern(%q) = %q, %q) = false, want true", tt.pattern, p, got)
		}
	}
}

func TestCommandString(t *testing.T) {
	t.Parallel()
	c := shell.Command{Name: "rm", Args: []string{"-f", "-r", "x"}}
	if got, want := c.String(), "rm -f -r x"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := strings.TrimSpace((shell.Command{Name: "ls"}).String()); got != "ls" {
		t.Errorf("String() = %q, want %q", got, "ls")
	}
}

var matchTests = []struct {
	pattern, script string
	want            bool
}{
	{"rm -rf *", "rm -fr /", true},
	{"rm -rf *", "rm -I -rf /", true},
	{"rm -rf *", "rm -d --interactive=never -rf /", true},
	{"rm -rf *", "rm -r x", false},
	{"rm -rf *", "rm -f x", false},
	{"rm -rf *", "ls -rf x", false},
	{"rm -rf /", "rm -rf /", true},
	{"rm -rf /", "rm -I -rf /", false}, // no *: exactly what it says
	{"rm -f *", "rm -rf x", true},
	{"git push --force *", "git -C x push origin --force", true},
	{"git push --force *", "git push origin", false},
	{"git push --force *", "git fetch --force origin", false},
	{"curl --output * *", "curl -s -o out http://x", true},
	{"curl -o /etc/* *", "curl -s -o /tmp/x http://x", false},
	{"*", "anything at all", true},
	{"*", "'*rm' -rf /", true},
	{"chmod -R 777 *", "chmod -v -R 777 /", true},
	{"chmod -R 777 *", "chmod -R 755 /", false},
}

func TestMatch(t *testing.T) {
	t.Parallel()
	for _, tt := range matchTests {
		p, err := shell.Pattern(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		s, err := shell.Parse(tt.script)
		if err != nil || len(s.Commands) != 1 {
			t.Fatalf("Parse(%q) = %v, %v", tt.script, s, err)
		}
		if got := shell.Match(p, s.Commands[0]); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", p, s.Commands[0], got, tt.want)
		}
	}
}
