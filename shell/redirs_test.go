package shell_test

import (
	"testing"

	"github.com/bulwark-agents/bulwark/shell"
)

// redirTests: a pattern naming a file matches a command that reads or
// writes it through a redirection, its own or that of a group or loop
// around it; a command without one is not matched by it.
var redirTests = []struct {
	pattern, script string
	want            bool
}{
	{"*.env", "cat < x.env", true},
	{"*.env", "cat<x.env", true},
	{"*.env", "echo x > x.env", true},
	{"*.env", "echo x >> x.env", true},
	{"*.env", "echo x &> x.env", true},
	{"*.env", "echo x >& x.env", true},
	{"*.env", "echo x >| x.env", true},
	{"*.env", "{ cat; } < x.env", true},
	{"*.env", "while read l; do echo $l; done < x.env", true},
	{"cat *.env", "cat < x.env", true},
	{"*.env", "echo x 2>&1", false},
	{"*.env", "cat x.txt", false},
	{"rm -rf /", "rm -rf / 2>/dev/null", true},
	// Redirections without a command: $(< f) is $(cat f), > f empties f.
	{"*.env", "echo $(< x.env)", true},
	{"*.env", "x=$(<x.env)", true},
	{"*.env", "> x.env", true},
	{"cat *", "echo \"$(< x.txt)\"", true},
}

func TestMatchRedirections(t *testing.T) {
	t.Parallel()
	for _, tt := range redirTests {
		p, err := shell.Pattern(tt.pattern)
		if err != nil {
			t.Fatalf("Pattern(%q): %v", tt.pattern, err)
		}
		sc, err := shell.Parse(tt.script)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.script, err)
		}
		got := false
		for _, c := range sc.Commands {
			got = got || shell.Match(p, c)
		}
		if got != tt.want {
			t.Errorf("Match(%q) on the commands of %q = %v, want %v", p, tt.script, got, tt.want)
		}
	}
}
