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
