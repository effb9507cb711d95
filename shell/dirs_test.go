package shell_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/shell"
)

// dirsTests give a script and where its last command may run: the
// folders (nil: only where the script starts) or "*" for anywhere.
var dirsTests = []struct {
	script string
	want   []string
}{
	{"cat k", nil},
	{"cd a; cat k", []string{".", "a"}},
	{"cd a && cat k", []string{".", "a"}},
	{"cd a || exit 1\ncat k", []string{".", "a"}},
	{"cd a; cd b; cat k", []string{".", "a", "a/b", "b"}},
	{"cd a/../b/./c; cat k", []string{".", "b/c"}},
	{"cd /tmp; cat k", []string{".", "/tmp"}},
	{"cd; cat k", []string{".", "~"}},
	{"cd ~/a; cat k", []string{".", "~/a"}},
	{"cd -P -- a; cat k", []string{".", "a"}},
	{"builtin cd a; cat k", []string{".", "a"}},
	{"command cd a; cat k", []string{".", "a"}},
	{"command -v cd; cat k", nil},
	{"(cd a; cat j); cat k", nil},
	{"(cd a; cat k)", []string{".", "a"}},
	{"cd a & cat k", nil},
	{"x=$(cd a); cat k", nil},
	{"echo $(cd a; cat k)", []string{".", "a"}},
	{"cd a | cat j; cat k", nil},
	{"cat j | cd a; cat k", []string{".", "a"}}, // lastpipe
	{"{ cd a; }; cat k", []string{".", "a"}},
	{"if x; then cd a; else cd b; fi; cat k", []string{".", "a", "b"}},
	{"case $x in a) cd a;; esac; cat k", []string{".", "a"}},
	{"pushd a; cat k", []string{".", "a"}},
	{"pushd a; popd; cat k", []string{".", "a"}},
	{"pushd -n a; cat k", nil},
	{"sh -c 'cd a; cat k'", []string{".", "a"}},
	{"cd a; sh -c 'cat k'", []string{".", "a"}},
	{"env -C a cat k", []string{".", "a"}},
	{"env --chdir=a cat k", []string{".", "a"}},
	{"sudo -D a cat k", []string{".", "a"}},
	{"git -C a -C b log", []string{".", "a", "a/b", "b"}},
	{"make --directory a", []string{".", "a"}},
	{"tar -C a -cf - k", []string{".", "a"}},
	{"foo --directory=a k", []string{".", "a"}},
	{"foo -C a k", nil}, // -C means many things
	{"for x in a; do cd b; done; cat k", []string{"*"}},
	{"cd $d; cat k", []string{"*"}},
	{"cd \"$(pwd)/a\"; cat k", []string{"*"}},
	{"cd -; cat k", []string{"*"}},
	{"cd a*; cat k", []string{"*"}},
	{"CDPATH=/x; cd a; cat k", []string{"*"}},
	{"CDPATH=/x; cd ./a; cat k", []string{".", "a"}},
	{"HOME=/x; cd; cat k", []string{"*"}},
	{"popd; cat k", []string{"*"}},
	{"pushd; cat k", []string{"*"}},
	{"f() { cd a; }; f; cat k", []string{"*"}},
	{"cd a; f() { cat k; }", []string{"*"}},
	{"'c'd a; f() { cat k; }", []string{"*"}},
	{"f() { cat k; }", nil},
	{"trap 'cd a' DEBUG; cat k", []string{"*"}},
	{"$c a; cat k", []string{"*"}},
	{"env -C \"$d\" cat k", []string{"*"}},
	{"find . -execdir cat {} +", []string{"*"}},
}

// TestDirs: each command is given the folders it may run in, a cd that
// fails leaving the folder where it was.
func TestDirs(t *testing.T) {
	for _, tt := range dirsTests {
		sc, err := shell.Parse(tt.script)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.script, err)
			continue
		}
		last := sc.Commands[len(sc.Commands)-1]
		got := last.Dirs
		if last.AnyDir {
			got = []string{"*"}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Parse(%q): %q runs in %q, want %q", tt.script, last, got, tt.want)
		}
	}
}

// TestDirsBudget: a script too long to follow runs anywhere.
func TestDirsBudget(t *testing.T) {
	s := "cd a\n" + strings.Repeat(":\n", 1<<16) + "cat k"
	sc, err := shell.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	if last := sc.Commands[len(sc.Commands)-1]; !last.AnyDir {
		t.Errorf("after %d statements, %q runs in %q, want anywhere", 1<<16, last, last.Dirs)
	}
}

// TestValues: the values a script gives variables are listed, for a
// reader to try in place of $d.
func TestValues(t *testing.T) {
	for _, tt := range []struct {
		script, name string
		want         []string
	}{
		{"d=secrets; cat $d/k", "d", []string{"secrets"}},
		{"export d=a; d=b", "d", []string{"a", "b"}},
		{"for f in a b{c,d}; do :; done", "f", []string{"a", "bc", "bd"}},
		// A value known in part is its glob form, naming what it
		// appends to; an element set by index may be any text
		// (bulwark.AnyText, which a / may be part of).
		{"d=$(pwd); d+=x; d[1]=y", "d", []string{shell.ReadValue, shell.SubstValue, "${d}x", bulwark.AnyText}},
		{"f=${1:-x}", "f", []string{"x", "", shell.SubstValue}},
		{"for f in $(ls); do :; done", "f", []string{shell.ReadValue, shell.SubstValue}},
		{"f=x; f+=$(ls)", "f", []string{"x", "${f}" + shell.ReadValue, "${f}" + shell.SubstValue, "${f}$(ls)"}},
		{"f=$1", "f", []string{shell.SubstValue}},
		{"a=(x y); f=${g,,}", "a", []string{"x", "y"}},
		{"a=(x y); f=${g,,}", "f", []string{bulwark.AnyText}},
		{"declare -l f=X", "f", []string{bulwark.AnyText, "X"}},
		{"printf -v f %s x", "f", []string{bulwark.AnyText}},
		{"f=$(printf secrets/)k", "f", []string{bulwark.AnyText + "k"}},
		{"f=${g:-x}/k", "f", []string{"${g}/k", "x/k", "/k"}},
		// A glob is a value as written: the shell expands it where $f
		// is read unquoted, and its * crosses no /.
		{"f='*.md'", "f", []string{"*.md"}},
		{": ${f:=x}", "f", []string{"x"}},
		{"bash -c 'd=a'", "d", []string{"a"}},
	} {
		sc, err := shell.Parse(tt.script)
		if err != nil {
			t.Fatal(err)
		}
		if got := sc.Values[tt.name]; !slices.Equal(got, tt.want) {
			t.Errorf("Parse(%q).Values[%q] = %q, want %q", tt.script, tt.name, got, tt.want)
		}
	}
}
