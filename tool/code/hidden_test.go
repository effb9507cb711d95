package code

import (
	"slices"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

var hiddenTests = []struct {
	rules string
	want  []string
}{
	{"*(secrets/*)=deny; *(*.env)=deny", []string{"secrets/*", "*.env"}},
	{"run_shell(./secrets/*)=deny; run_code(/workspace/keys/*.pem)=deny", []string{"secrets/*", "keys/*.pem"}},
	{"*(x/../secrets/k)=deny", []string{"secrets/k"}},
	// Ask and allow rules, other tools, several words, paths outside the
	// workspace: nothing hidden.
	{"*(*.env)=ask; *(*.env)=allow; read_file(*.env)=deny", nil},
	{"run_shell(rm -rf *)=deny; run_shell(cat secrets/k)=deny", nil},
	{"*(/etc/*)=deny; *(../x)=deny; *(.)=deny; *(/workspace)=deny", nil},
	{"run_shell=deny", nil},
	{"*(./my keys/*)=deny", []string{"my keys/*"}},
}

func TestHiddenFiles(t *testing.T) {
	for _, tt := range hiddenTests {
		rules, err := bulwark.ParseRules(tt.rules)
		if err != nil {
			t.Fatalf("ParseRules(%q): %v", tt.rules, err)
		}
		if got := HiddenFiles(bulwark.Policy{Rules: rules}); !slices.Equal(got, tt.want) {
			t.Errorf("HiddenFiles(%q) = %q, want %q", tt.rules, got, tt.want)
		}
	}
}

var deniedToAllTests = []struct {
	rules string
	want  []string
}{
	{"*(secrets/*)=deny; *(/workspace/keys/*.pem)=deny", []string{"secrets/*", "keys/*.pem"}},
	// Rules for one tool, an MCP tool or server included, hide nothing
	// from a program that serves other tools.
	{"run_shell(secrets/*)=deny; run_code(*.env)=deny; read_file(*.env)=deny", nil},
	{"mcp__files__read_text_file(*secrets*)=deny; mcp__files__*(*.env)=deny; mcp__files__*=deny", nil},
	{"*(*.env)=ask; *(/etc/*)=deny", nil},
	// A pattern of several words in a rule for every tool names a file
	// too, which read_file refuses: a file whose name holds a blank.
	{"*(my keys/*)=deny; *(rm -rf *)=deny; run_shell(cat my keys/k)=deny", []string{"my keys/*", "rm -rf *"}},
}

func TestFilesDeniedToAll(t *testing.T) {
	for _, tt := range deniedToAllTests {
		rules, err := bulwark.ParseRules(tt.rules)
		if err != nil {
			t.Fatalf("ParseRules(%q): %v", tt.rules, err)
		}
		if got := FilesDeniedToAll(bulwark.Policy{Rules: rules}); !slices.Equal(got, tt.want) {
			t.Errorf("FilesDeniedToAll(%q) = %q, want %q", tt.rules, got, tt.want)
		}
	}
}
