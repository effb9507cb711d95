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
