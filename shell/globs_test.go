package shell_test

import (
	"slices"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/shell"
)

// TestGlobForms: a command's globs keep the shell's *, ? and [...] as
// written, and write a part whose text cannot be known as
// bulwark.AnyText, which no script can spell: a glob's * crosses no /,
// unknown text may.
func TestGlobForms(t *testing.T) {
	const u = bulwark.AnyText
	for _, tt := range []struct {
		script string
		want   []string
	}{
		{"ls *.md", []string{"*.md"}},
		{"cat s*/k", []string{"s*/k"}},
		{"cat secrets/$(echo k)", []string{"secrets/" + u}},
		{"cat $(printf secrets/)k", []string{u + "k"}},
		{"cat \"$1\"k", []string{u + "k"}},
		{"cat ${f,,}", []string{u}},
		{"cat +(secrets)/k", []string{u + "/k"}},
		{"cat secrets/*(k)", []string{"secrets/" + u}},
		{"cat ${d:-secrets}/k", []string{"${d}/k", "secrets/k", "/k"}},
		{"cat ${1:-secrets}/k", []string{u + "/k", "secrets/k", "/k"}},
		// A default that reads like a substitution's old marker is text.
		{"cat ${f:-${g,,}subst}", []string{"${f}", u + "subst", ""}},
		{"cat < ${f,,}k", []string{u + "k"}},
		{"echo '*'", nil},
		// Quoted glob characters are themselves: quoted in the form.
		{"cat 's[e]crets'/*", []string{`s\[e]crets/*`}},
		{"cat \"a?\"*", []string{`a\?*`}},
		{"cat s\\*/k*", []string{`s\*/k*`}},
		{"cat 'a\\b'*", []string{`a\\b*`}},
		{"cat ${d:-'[k]'}*", []string{"${d}*", `\[k]*`, "*"}},
		// find's {} is any file below its start points; below a plain
		// -name, one of that name. xargs's words are read text.
		{"find docs -exec cat {} +", []string{"docs", "docs/**"}},
		{"find 'a[b' -name '*.md' -exec cat {} +", []string{`a\[b`, `a\[b/*.md`, `a\[b/**/*.md`}},
		{"find . -name x -delete", []string{".", "./x", "./**/x"}},
		{"xargs cat", []string{shell.ReadValue}},
	} {
		sc, err := shell.Parse(tt.script)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range sc.Commands {
			got = append(got, c.Globs...)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Parse(%q) globs = %q, want %q", tt.script, got, tt.want)
		}
	}
}
