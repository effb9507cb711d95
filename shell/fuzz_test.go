package shell_test

import (
	"testing"

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
	f.Fuzz(func(t *testing.T, s string) {
		sc, _ := shell.Parse(s)
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
