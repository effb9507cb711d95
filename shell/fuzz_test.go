package shell_test

import (
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/shell"
)

// FuzzParse checks that Parse never panics on any script and that Pattern
// is idempotent: a canonical pattern reads back as itself; Match never
// panics and * matches every command.
func FuzzParse(f *testing.F) {
	for _, tt := range parseTests {
		f.Add(tt.script)
	}
	for _, tt := range patternTests {
		f.Add(tt.pattern)
	}
	for _, s := range denyTests {
		f.Add(s)
	}
	for _, tt := range dirsTests {
		f.Add(tt.script)
	}
	for _, s := range []string{"cat 's[e]crets'/*", `cat s\*/k* "a?"*`, "find 'a[b' -name '*.md' -exec cat {} +",
		"find . -exec sh -c 'cat {}' \\;", "xargs -a list cat", "while read f; do cat \"$f\"; done < list", "mapfile a < l"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, _ := shell.Parse(s)
		// A script that runs nothing that changes folder runs each
		// command where it starts.
		if !strings.ContainsAny(s, "-$`\\'\"*?[{(") && !strings.Contains(s, "cd") && !strings.Contains(s, "pushd") &&
			!strings.Contains(s, "popd") && !strings.Contains(s, "trap") && !strings.Contains(s, "eval") &&
			!strings.Contains(s, "source") && !strings.Contains(s, ".") && !strings.Contains(s, "command") && !strings.Contains(s, "builtin") {
			for _, c := range sc.Commands {
				if c.AnyDir || len(c.Dirs) > 0 {
					t.Errorf("Parse(%q): %q runs in %q (anywhere: %v), want only where it starts", s, c, c.Dirs, c.AnyDir)
				}
			}
		}
		// Text only known at run time (bulwark.AnyText, which may hold
		// a /) comes from expansions and extended globs alone: no
		// script spells it, and a glob's * is not it.
		if !strings.ContainsAny(s, "$`(\x00") && !strings.Contains(s, "files0-from") {
			for _, c := range sc.Commands {
				for _, g := range c.Globs {
					// What xargs reads is ReadValue alone.
					if strings.Contains(g, bulwark.AnyText) && g != shell.ReadValue {
						t.Errorf("Parse(%q): %q has the glob %q, which holds unknown text", s, c, g)
					}
				}
			}
		}
		// A glob form read with its quoted characters as themselves is
		// text of the script, quotes removed, where it holds no
		// expansion and no program that adds forms.
		if !strings.ContainsAny(s, "$`({<\x00") && !strings.Contains(s, "find") && !strings.Contains(s, "xargs") {
			bare := strings.NewReplacer("'", "", "\"", "", "\\", "").Replace(s)
			for _, c := range sc.Commands {
				for _, g := range c.Globs {
					if u := strings.NewReplacer("'", "", "\"", "", "\\", "").Replace(unquote(g)); !strings.Contains(bare, u) {
						t.Errorf("Parse(%q): %q has the glob %q, which is not in the script", s, c, g)
					}
				}
			}
		}
		p, err := shell.Pattern(s)
		if err != nil {
			return
		}
		for _, c := range sc.Commands {
			if shell.Match("*", c) != true {
				t.Errorf("Match(*, %q) = false", c)
			}
			_ = shell.Match(p, c)
		}
		again, err := shell.Pattern(p)
		if err != nil || again != p {
			t.Errorf("Pattern(%q) = %q, but Pattern(%q) = %q, %v", s, p, p, again, err)
		}
	})
}

// unquote removes the backslashes of a glob form that quote the character
// after them.
func unquote(g string) string {
	var b strings.Builder
	for i := 0; i < len(g); i++ {
		if g[i] == '\\' && i+1 < len(g) {
			i++
		}
		b.WriteByte(g[i])
	}
	return b.String()
}
