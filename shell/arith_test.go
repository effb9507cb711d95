package shell_test

import (
	"testing"

	"github.com/bulwark-agents/bulwark/shell"
)

// dynamicTests are scripts that look static but run what a value, a link
// or the environment holds: each must be dynamic, so that every deny and
// ask rule applies. staticTests are their harmless neighbours, which stay
// static.
var dynamicTests = []string{
	// A wrapper's option not in its table may take a value (env -a ARG
	// came with coreutils 9.7): the word after it may be that value, not
	// the command.
	"env -X foo rm -rf x", "timeout --newer-option foo 5 rm -rf x", "stdbuf -Z foo rm -rf x",
	// bash evaluates a variable read in arithmetic, and a subscript in its
	// value runs commands: x='a[$(rm -rf /)]'; echo $((x)) runs rm.
	`x='a[$(rm -rf /)]'; echo $((x))`,
	`x='a[$(rm -rf /)]'; (( x ))`,
	`x='a[$(rm -rf /)]'; let x`,
	`x='a[$(rm -rf /)]'; [[ $x -eq 0 ]]`,
	`x='a[$(rm -rf /)]'; [[ x -gt 0 ]]`,
	`x='a[$(rm -rf /)]'; echo ${a[x]}`,
	`x='a[$(rm -rf /)]'; echo ${s:x}`,
	`x='a[$(rm -rf /)]'; echo $[x]`,
	`x='a[$(rm -rf /)]'; for ((i=x; i<1; i++)); do :; done`,
	`x='a[$(rm -rf /)]'; b[x]=1`,
	`read x < f; echo $(( x + 1 ))`,
	`n=$(cat f); (( n > 3 ))`,
	`echo $(( $1 ))`,
	`for i in $(cat f); do echo $((i * 2)); done`,
	`for i in 1 'a[$(rm -rf /)]'; do echo $((i)); done`,
	`echo $(( $(cat f) ))`,
	`declare -i y; y='a[$(rm -rf /)]'`,
	`x='a[$(rm -rf /)]'; declare -A m; echo ${n[x]}`,
	`x='a[$(rm -rf /)]'; n=([x]=1)`,
	`declare -n r=x`,
	// Builtins that take a variable name evaluate a subscript in it.
	`unset 'a[$(rm -rf /)]'`,
	`read 'a[$(rm -rf /)]' <<< 1`,
	`printf -v 'a[$(rm -rf /)]' x`,
	`test -v 'a[$(rm -rf /)]'`,
	`[ -v 'a[$(rm -rf /)]' ]`,
	`[[ -v a[$(rm -rf /)] ]]`,
	`declare 'a[$(rm -rf /)]=1'`,
	`declare -a 'x=([$(rm -rf /)]=1)'`,
	`declare 'x=($(rm -rf /))'`,
	`let 'a[$(rm -rf /)]'`,
	`command unset "$k"`,
	`x='a[$(rm -rf /)]'; echo ${!x}`,
	`x='a[$(rm -rf /)]'; echo ${!x:-d}`,
	`x='$(rm -rf /)'; echo ${x@P}`,
	// Variables that change which program a name runs, or run code.
	`PATH=/tmp:$PATH ls -rf /`,
	`export PATH=/tmp; ls`,
	`BASH_ENV=/tmp/x bash -c ls`,
	`env BASH_ENV=/tmp/x bash -c ls`,
	`env 'BASH_FUNC_ls%%=() { rm -rf /; }' bash -c ls`,
	`PS4='$(rm -rf /)'; set -x; ls`,
	`BASH_CMDS[ls]=/bin/rm; ls -rf /`,
	`read PATH < f; ls`,
	`for PATH in /tmp; do ls; done`,
	`: ${PATH:=/tmp}; ls`,
	`TAR_OPTIONS='--to-command=rm' tar -xf a.tar`,
	// A program named by a path outside the system's folders may be a
	// link to any program: ln -s /bin/rm x; ./x -rf /.
	`ln -s /bin/rm x; ./x -rf /`,
	`/tmp/x -rf /`,
	`/workspace/x -rf /`,
	`env ./x -rf /`,
}

var staticTests = []string{
	// git's own work stays static beside the options that run a command.
	"git push -u origin main", "git grep -in foo", "git clone --depth 1 https://example.com/r.git",
	"git config user.name bot", "git fetch origin", "git bisect start", "git pull --rebase",
	`for ((i=0; i<3; i++)); do echo $i; done`,
	`i=0; while (( i < 3 )); do i=$((i+1)); done`,
	`n=5; echo $(( n * 2 ))`,
	`echo $(( 1 + 2 ))`,
	`echo $# $(( $# + 1 ))`,
	`unset x 'a[0]'`,
	`read -r -p 'Name [y/n]: ' answer`,
	`printf -v out '%s' x`,
	`[[ -v HOME ]]`,
	`export LANG=C; ls`,
	`/usr/bin/../bin/ls -la`,
	`/bin/ls`,
	`/usr/lib/git-core/git status`,
	`env FOO=1 ls`,
	`taskset 1 ls`,
	`for i in 1 2 3; do echo $((i * 2)); done`,
	`for i in {1..10}; do echo $((i * 2)); done`,
	`echo ${!prefix*} ${!arr[@]} ${x@Q}`,
	`for f in "${files[@]}"; do echo "$f" ${#files[*]}; done`,
	`declare -A m; m[key]=1; k=key; echo "${m[key]} ${m[$k]}"`,
	`declare -A m=([a]=1 [b]=2); echo ${m[a]}`,
}

func TestParseDynamicSpellings(t *testing.T) {
	t.Parallel()
	for _, s := range dynamicTests {
		got, err := shell.Parse(s)
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
			continue
		}
		if len(got.Dynamic) == 0 {
			t.Errorf("Parse(%q) = %q, not dynamic; want dynamic", s, got.Commands)
		}
	}
	for _, s := range staticTests {
		got, err := shell.Parse(s)
		if err != nil {
			t.Errorf("Parse(%q): %v", s, err)
			continue
		}
		if len(got.Dynamic) > 0 {
			t.Errorf("Parse(%q).Dynamic = %q, want static", s, got.Dynamic)
		}
	}
}

// wrapperTests are wrappers that run a command: the command is reported.
var wrapperTests = []struct{ script, want string }{
	{"taskset 1 rm -rf /", "rm -f -r /"},
	{"taskset -c 0 rm -rf /", "rm -f -r /"},
	{"chrt -f 1 rm -rf /", "rm -f -r /"},
	{"flock /tmp/l rm -rf /", "rm -f -r /"},
	{"setarch x86_64 -R rm -rf /", "rm -f -r /"},
	{"linux64 rm -rf /", "rm -f -r /"},
	{"unshare -r rm -rf /", "rm -f -r /"},
	{"nsenter -t 1 -m rm -rf /", "rm -f -r /"},
	{"setpriv --reuid=1 rm -rf /", "rm -f -r /"},
	{"prlimit --nofile=10 rm -rf /", "rm -f -r /"},
	{"numactl -N 0 rm -rf /", "rm -f -r /"},
	{"fakeroot rm -rf /", "rm -f -r /"},
	{"faketime 2020-01-01 rm -rf /", "rm -f -r /"},
	{"unbuffer rm -rf /", "rm -f -r /"},
	{"chronic rm -rf /", "rm -f -r /"},
	{"catchsegv rm -rf /", "rm -f -r /"},
	{"systemd-run --user rm -rf /", "rm -f -r /"},
	{"cpulimit -l 10 -- rm -rf /", "rm -f -r /"},
	{"sg root 'rm -rf /'", "rm -f -r /"},
	{"script -c 'rm -rf /' /dev/null", "rm -f -r /"},
	{"flock /tmp/l -c 'rm -rf /'", "rm -f -r /"},
	// An empty alternative of a brace expression is no argument (red
	// team, session 42: {build,} read as build and an empty argument
	// matched no rule on rm -rf build); a quoted one stays.
	{"rm -rf {build,}", "rm -f -r build"},
	{"rm -rf {,/}", "rm -f -r /"},
	{"rm -rf x{,}", "rm -f -r x x"},
	{`rm -rf {build,""}`, "rm -f -r build "},
}

func TestParseMoreWrappers(t *testing.T) {
	t.Parallel()
	for _, tt := range wrapperTests {
		got, err := shell.Parse(tt.script)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.script, err)
			continue
		}
		found := false
		for _, c := range got.Commands {
			found = found || c.String() == tt.want
		}
		if !found {
			t.Errorf("Parse(%q).Commands = %q, want one %q", tt.script, got.Commands, tt.want)
		}
	}
}

// othersTests: programs of the default allowlist that run commands when
// asked to (red team): what they run is reported, or the script is dynamic.
var othersTests = []struct {
	script  string
	command string // a command reported; "" for dynamic
}{
	{`echo x | split --filter='rm -rf /'`, "rm -f -r /"},
	{`split --fil 'rm -rf /' f`, "rm -f -r /"},
	{`sort -S 1k --compress-program=bash f`, ""},
	{`sort --compress-program sh f`, ""},
	{`sort --compress-prog=rm f`, "rm"},
	// Every prefix GNU getopt takes (red team, session 42: --f and --co
	// were not read).
	{`echo 'rm -rf /' | split --f=sh`, ""},
	{`split --f 'rm -rf /' f`, "rm -f -r /"},
	{`split --fi='rm -rf /' f`, "rm -f -r /"},
	{`sort -S 1 --co=sh f`, ""},
	{`sort --co rm f`, "rm"},
	{`awk 'BEGIN { system("rm -rf /") }'`, ""},
	{`awk '{ print | "sh" }' f`, ""},
	{`awk 'BEGIN { "rm -rf /" | getline }'`, ""},
	{`sed -n '1e rm -rf /' f`, ""},
	{`sed 's/.*/rm -rf \//e' f`, ""},
	{`sed -e 's|x|y|ge' f`, ""},
	{`awk "$prog" f`, ""},
	{`awk -v x=1 -F: 'BEGIN { system("rm") }'`, ""},
	// gawk's program as an option's value, --assign's value taken for
	// the program, and an indirect call of system.
	{`awk --source='BEGIN { system("rm -rf /") }'`, ""},
	{`awk --so='BEGIN { system("rm -rf /") }'`, ""},
	{`awk -Wsource='BEGIN { system("rm -rf /") }'`, ""},
	{`awk --assign x=1 'BEGIN { system("rm -rf /") }'`, ""},
	{`awk 'BEGIN { f = "system"; @f("rm -rf /") }'`, ""},
}

var othersStatic = []string{
	`sed 's/hello/world/g' f`,
	`sed -n '/error/p' f`,
	`sed -i.bak -e 's|a|b|' f`,
	`awk '{ print $1 > "out.txt" }' f`,
	`awk -F: '{ s += $3 } END { print s }' /etc/passwd`,
	`sort -n -k2 f | split -l 10`,
	`sed -i "s/version/$VERSION/" f`,
	`awk -v n="$n" -F, '{ print $n }' f`,
	`awk '{ print $1 "@example.com" }' f`,
}

func TestParseProgramsThatRunOthers(t *testing.T) {
	t.Parallel()
	for _, tt := range othersTests {
		got, err := shell.Parse(tt.script)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.script, err)
		}
		if tt.command == "" {
			if len(got.Dynamic) == 0 {
				t.Errorf("Parse(%q) = %q, not dynamic; want dynamic", tt.script, got.Commands)
			}
			continue
		}
		found := false
		for _, c := range got.Commands {
			found = found || c.String() == tt.command
		}
		if !found {
			t.Errorf("Parse(%q).Commands = %q, want one %q", tt.script, got.Commands, tt.command)
		}
	}
	for _, s := range othersStatic {
		got, err := shell.Parse(s)
		if err != nil || len(got.Dynamic) > 0 {
			t.Errorf("Parse(%q) = %q, %v; want static", s, got.Dynamic, err)
		}
	}
}
