package code_test

import (
	"testing"

	"github.com/bulwark-agents/bulwark"
)

// slashRules are one-word file rules the slash tests are judged under
// (run_shell(secrets/*)=deny is also a rule for every command, named *:
// see TestSlashRunShellRule).
var slashRules = []string{"*(secrets/*)=deny", "*(secrets/*.md)=deny", "*(secrets/k)=deny", "run_shell(secrets/k)=deny"}

// globsInOtherFolders are commands whose globs' *, ? and [...] cannot
// cross a /, so that they name no file in secrets: each is allowed under
// every rule of slashRules.
var globsInOtherFolders = []string{
	"ls *.md",
	"rm -f *.o",
	"cat docs/*.txt",
	"cp src/?.go out/",
	"cat [a-z]*.go",
	"ls -l *.md *.txt",
	"f='*.md'; ls $f",
	"for f in *.go; do cat \"$f\"; done",
	"cd docs && cat *.md",
	"wc -l src/*/*.go",
}

// globsIntoSecrets name a file in secrets through a shell glob or a
// folder walk: each is refused by every rule of slashRules it can meet.
var globsIntoSecrets = []struct {
	command string
	k       bool // also meets secrets/k
}{
	{"ls */k", true},
	{"cat s*/k", true},
	{"cat secrets/*", true},
	{"cat ./secrets/[k]", true},
	{"cat ./secrets/[[:alpha:]]", true},
	{"cat secrets/?", true},
	{"cat **/k", true},
	{"cat s**", true},
	{"shopt -s globstar; cat **", true},
	{"cat se**/k", true},
	{"cd secrets && ls *", true},
	{"cd secrets && cat *", true},
	{"ls -R secrets", false},
	{"find secrets -name k", false},
	{"find . -path './secrets/*' -execdir cat {} +", false},
	{"cat secre*s/k", true},
	{"cat sec[r]ets/k", true},
	{"f=secr*; cat $f/k", true},
	{"f='s*'; cat $f/k", true},
	{"ls secrets/*.md", false},
	// Programs reported by their own readers (find, xargs, wrappers).
	{"find s* -type f", false},
	{"find s* -delete", false},
	{"find s*/k", true},
	{"xargs -a s*/k cat", true},
	{"timeout 5 cat s*/k", true},
	{"nice -n 5 ls s*", false},
	{"echo $(< s*/k)", true},
	{"x=$(< s*/k)", true},
	// A part starting with a dot may be . or .. (globskipdots off).
	{"shopt -u globskipdots; cat .*/secrets/k", true},
	{"cat .?/workspace/secrets/k", true},
	{"cd x; cat .*/secrets/k", true},
	{"cat ./.*/secrets/k", true},
}

// unknownIntoSecrets spell a name in secrets with text only known when
// the script runs, which may hold a /: each stays refused by every rule
// of slashRules.
var unknownIntoSecrets = []string{
	"cat $(printf secrets/)k",
	"cat \"$(echo secrets)/k\"",
	"cat `printf secrets/`k",
	"x=$(echo secrets/k); cat $x",
	"x=$(printf secrets/)k; cat $x",
	"cat ${f,,}",
	"cat ${f,,}k",
	"cat ${f#x}k",
	"cat ${d:-secrets}/k",
	"cat ${d:-$(printf secrets/)}k",
	"f=secrets/kxj; IFS=x; cat $f",
	"IFS=/; f=secrets/k; cat $f",
	"f() { cat $1k; }; f secrets/",
	"f() { cat \"$1\"k; }; f secrets/",
	"shopt -s extglob; cat +(secrets)/k",
	"cat +(secrets)/k",
	"cat @(secrets/k)",
	"cat !(x)/k",
	"cat secre*s/k",
	"cat $'\\c'k",
	"declare -l f; f=SECRETS/K; cat $f",
	"printf -v f x; cat $f",
	"cd \"$d\" && cat k",
	"cd \"$d\" && ls",
	"cat <<< ${f,,}k",
	"cat < ${f,,}k",
	"a=(secrets k); cat ${a[0]}/${a[1]}",
	"cat \"$1$2\"",
	// A variable holding what a substitution prints, beside other text.
	"x=$(cat list); cat $x/k",
	"x=$(cat list)/k; cat $x",
	"for d in $(cat list); do cat $d/k; done",
	"f() { d=$1; cat $d/k; }; f x",
	"d=${1:-x}; cat $d/k",
	"f=secrets/; f+=$(printf k); cat $f",
	"f=secrets; f+=$1; cat $f/k",
	// Unknown text may hold a ../ of its own, behind any text before it
	// (a folder "took " can be made first). So what a substitution prints
	// beside other text, in place or in a variable, may name any file:
	// echo "took $(date +%s)" is refused by every rule naming files.
	"cat docs/$(printf ../secrets/k)",
	"x=$(printf ../secrets/k); cat docs/$x",
	"cat \"took $(printf /../secrets/k)\"",
	"x=$(date +%s); echo \"took $x\"",
	"name=${1:-world}; echo \"hello $name\"",
}

// TestGlobsDoNotCrossSlash: a shell glob's *, ? and [...] match no /, so
// a glob in another folder does not meet a rule for files in secrets.
func TestGlobsDoNotCrossSlash(t *testing.T) {
	for _, c := range globsInOtherFolders {
		for _, r := range slashRules {
			if got := decide(t, r, c); got != bulwark.Allow {
				t.Errorf("%s on %q: %s, want allow", r, c, got)
			}
		}
	}
}

// TestGlobsIntoSecrets: a glob that could name a file in secrets, or a
// command that walks the folder, is refused.
func TestGlobsIntoSecrets(t *testing.T) {
	for _, tt := range globsIntoSecrets {
		rules := slashRules[:1]
		if tt.k {
			rules = []string{slashRules[0], slashRules[2], slashRules[3]}
		}
		for _, r := range rules {
			if got := decide(t, r, tt.command); got != bulwark.Deny {
				t.Errorf("%s on %q: %s, want deny", r, tt.command, got)
			}
		}
	}
}

// TestUnknownTextCrossesSlash: text only known at run time may hold a /,
// so it still meets a rule for files in secrets.
func TestUnknownTextCrossesSlash(t *testing.T) {
	for _, c := range unknownIntoSecrets {
		for _, r := range []string{slashRules[0], slashRules[2], slashRules[3]} {
			if got := decide(t, r, c); got != bulwark.Deny {
				t.Errorf("%s on %q: %s, want deny", r, c, got)
			}
		}
	}
}

// TestSlashRunShellRule: run_shell(secrets/*)=deny is read as a command
// too, whose program is its base name, *: it refuses every command, as
// the README says, whatever its globs.
func TestSlashRunShellRule(t *testing.T) {
	for _, c := range []string{"ls *.md", "cat README.md"} {
		if got := decide(t, "run_shell(secrets/*)=deny", c); got != bulwark.Deny {
			t.Errorf("run_shell(secrets/*)=deny on %q: %s, want deny", c, got)
		}
	}
}

// moreUnknownIntoSecrets reach secrets/k through unknown text in other
// ways: a .. after text that may hold a /, a NUL bash drops, too many
// values to list, a folder above one that cannot be known.
var moreUnknownIntoSecrets = []string{
	"cat $(printf secrets/x)/../k",
	"cat `printf secrets/x`/../k",
	"shopt -s globstar; cat **/../k",
	"cat ${f,,}/../k",
	"cat secrets/\x00k",
	"echo start\ncat secrets/\x00k",
	"for a in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 secrets; do for b in /x /y /z /k; do cat $a$b; done; done",
	"cd x; cd y; cat \"$OLDPWD/../secrets/k\"",
	"xargs cat <<EOF\n$(printf secre)$(printf ts/k)\nEOF",
	"f=SECRETS/K; xargs cat <<EOF\n${f,,}\nEOF",
}

// TestMoreUnknownIntoSecrets: see moreUnknownIntoSecrets.
func TestMoreUnknownIntoSecrets(t *testing.T) {
	for _, c := range moreUnknownIntoSecrets {
		for _, r := range []string{slashRules[0], slashRules[2], slashRules[3]} {
			if got := decide(t, r, c); got != bulwark.Deny {
				t.Errorf("%s on %q: %s, want deny", r, c, got)
			}
		}
	}
	// A .. after a glob's * stays in the folder the * is in.
	for _, c := range []string{"cat s*/../README.md", "cat $(pwd)/README.md"} {
		if got := decide(t, "*(secrets/k)=deny", c); got != bulwark.Allow {
			t.Errorf("*(secrets/k)=deny on %q: %s, want allow", c, got)
		}
	}
}
