package bulwark_test

import (
	"testing"

	"github.com/bulwark-agents/bulwark"
)

var globTests = []struct {
	pattern, s string
	want       bool
}{
	{"rm -rf *", "rm -rf /", true},
	{"rm -rf *", "rm -rf ./build/x", true},
	{"rm -rf *", "echo rm -rf /", false},
	{"*rm -rf*", "echo hi; rm -rf /", true},
	{"*.py", "src/app.py", true},
	{"*.py", "src/app.pyc", false},
	{"a?c", "abc", true},
	{"a?c", "ac", false},
	{"", "", true},
	{"", "x", false},
	{"**", "", true},
	{"*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	{"héllo*", "héllo wörld", true},
}

func TestGlob(t *testing.T) {
	for _, tt := range globTests {
		if got := bulwark.Glob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestPolicyDecide(t *testing.T) {
	rules, err := bulwark.ParseRules("run_shell=allow; run_shell(rm -rf *)=deny; run_shell(curl *)=ask; *(*.env)=deny\nwrite_file=ask")
	if err != nil {
		t.Fatal(err)
	}
	p := bulwark.Policy{Rules: rules}
	tests := []struct {
		tool, target string
		want         bulwark.Decision
		rule         string
	}{
		{"run_shell", "ls -la", bulwark.Allow, "run_shell=allow"},
		{"run_shell", "rm -rf /", bulwark.Deny, "run_shell(rm -rf *)=deny"},
		{"run_shell", "curl example.com", bulwark.Ask, "run_shell(curl *)=ask"},
		{"read_file", "config/.env", bulwark.Deny, "*(*.env)=deny"},
		{"write_file", "a.txt", bulwark.Ask, "write_file=ask"},
		{"write_file", "prod.env", bulwark.Deny, "*(*.env)=deny"}, // strictest wins
		{"list_files", ".", bulwark.Allow, "default"},
	}
	for _, tt := range tests {
		v := p.Decide(tt.tool, tt.target)
		if v.Decision != tt.want || v.Rule != tt.rule {
			t.Errorf("Decide(%q, %q) = %+v, want %s by %q", tt.tool, tt.target, v, tt.want, tt.rule)
		}
	}
	if v := (bulwark.Policy{Default: bulwark.Deny}).Decide("x", "y"); v.Decision != bulwark.Deny {
		t.Errorf("default deny gave %+v", v)
	}
}

func TestParseRuleErrors(t *testing.T) {
	for _, s := range []string{"run_shell", "run_shell=maybe", "run_shell(rm=deny", "=allow", "a b=allow", "(x)=deny"} {
		if r, err := bulwark.ParseRule(s); err == nil {
			t.Errorf("ParseRule(%q) = %+v, want an error", s, r)
		} else if bulwark.ErrorKind(err) != bulwark.Invalid {
			t.Errorf("ParseRule(%q) error kind = %v, want invalid", s, bulwark.ErrorKind(err))
		}
	}
}

func FuzzGlob(f *testing.F) {
	f.Add("rm -rf *", "rm -rf /")
	f.Add("*a*?b", "xaab")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		got := bulwark.Glob(pattern, s)
		if pattern == s && !got {
			t.Errorf("Glob(%q, %q) = false for an identical string without wildcards", pattern, s)
		}
		if bulwark.Glob("*", s) != true {
			t.Errorf("Glob(*, %q) = false", s)
		}
	})
}

func FuzzParseRules(f *testing.F) {
	f.Add("run_shell(rm -rf *)=deny; write_file=ask")
	f.Fuzz(func(t *testing.T, s string) {
		rules, err := bulwark.ParseRules(s)
		if err != nil {
			return
		}
		for _, r := range rules {
			back, err := bulwark.ParseRule(r.String())
			if err != nil || back != r {
				t.Errorf("rule %+v does not survive String/ParseRule: %+v, %v", r, back, err)
			}
		}
	})
}
