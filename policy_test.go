package bulwark_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

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
	// A star in the subject is no reason to forget the star of the pattern.
	{"*", "*rm -rf /", true},
	{"*", "*", true},
	{"*.env", "*x.env", true},
	{"a*", "a*b", true},
	{"*b", "*ab", true},
	{"?", "*", true},
	{"a*c", "a*", false},
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
		v := p.Decide(bulwark.Call{Tool: tt.tool, Targets: []string{tt.target}})
		if v.Decision != tt.want || v.Rule != tt.rule {
			t.Errorf("Decide(%q, %q) = %+v, want %s by %q", tt.tool, tt.target, v, tt.want, tt.rule)
		}
	}
	if v := (bulwark.Policy{Default: bulwark.Deny}).Decide(bulwark.Call{Tool: "x", Targets: []string{"y"}}); v.Decision != bulwark.Deny {
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

// globRef is the reference Glob is checked against: the pattern turned into
// an anchored regular expression, * as .* and ? as one character.
func globRef(pattern, s string) bool {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String()).MatchString(s)
}

func FuzzGlob(f *testing.F) {
	f.Add("rm -rf *", "rm -rf /")
	f.Add("*a*?b", "xaab")
	f.Add("*", "*rm -rf /")
	for _, tt := range globTests {
		f.Add(tt.pattern, tt.s)
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		if len(pattern) > 64 || len(s) > 256 {
			return // the regexp reference grows with the pattern
		}
		got := bulwark.Glob(pattern, s)
		if utf8.ValidString(pattern) && utf8.ValidString(s) {
			if want := globRef(pattern, s); got != want {
				t.Errorf("Glob(%q, %q) = %v, want %v (the regexp reference)", pattern, s, got, want)
			}
		}
		if pattern == s && !strings.ContainsAny(s, "*?") && !got {
			t.Errorf("Glob(%q, %q) = false for an identical string without wildcards", pattern, s)
		}
		if !bulwark.Glob("*", s) {
			t.Errorf("Glob(*, %q) = false", s)
		}
		if !bulwark.Glob(s, s) {
			t.Errorf("Glob(%q, %q) = false: a string always matches itself", s, s)
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

// TestDecideCall: a call is decided on each of its targets and the strictest
// answer wins; a dynamic call meets every ask and deny rule of its tool;
// patterns are matched in the form Patterns gives them.
func TestDecideCall(t *testing.T) {
	rules, err := bulwark.ParseRules("run_shell=allow; run_shell(rm -r *)=deny; run_shell(curl *)=ask; run_shell(ls *)=allow; finish=allow")
	if err != nil {
		t.Fatal(err)
	}
	p := bulwark.Policy{Rules: rules}
	// A stand-in for shell.Pattern: flags written together are split.
	split := func(pat string) ([]string, error) {
		return []string{strings.ReplaceAll(pat, "-rf", "-r -f")}, nil
	}
	tests := []struct {
		name string
		call bulwark.Call
		want bulwark.Decision
		rule string
	}{
		{"one target", bulwark.Call{Tool: "run_shell", Targets: []string{"ls -l"}}, bulwark.Allow, "run_shell=allow"}, // the first of equals
		{"strictest of the targets", bulwark.Call{Tool: "run_shell", Targets: []string{"cd .", "rm -r -f x"}}, bulwark.Deny, "run_shell(rm -r *)=deny"},
		{"ask beats allow", bulwark.Call{Tool: "run_shell", Targets: []string{"ls", "curl x"}}, bulwark.Ask, "run_shell(curl *)=ask"},
		{"dynamic meets every deny rule", bulwark.Call{Tool: "run_shell", Targets: []string{"echo"}, Dynamic: true}, bulwark.Deny, "run_shell(rm -r *)=deny"},
		{"no targets: the empty target", bulwark.Call{Tool: "run_shell"}, bulwark.Allow, "run_shell=allow"},
		{"a pattern with no form matches nothing", bulwark.Call{Tool: "run_shell", Targets: []string{"rm -r x"},
			Patterns: func(string) ([]string, error) { return nil, nil }}, bulwark.Allow, "run_shell=allow"},
		{"a pattern the tool refuses matches nothing", bulwark.Call{Tool: "run_shell", Targets: []string{"rm -r x"}, Dynamic: true,
			Patterns: func(string) ([]string, error) { return nil, errors.New("no") }}, bulwark.Allow, "run_shell=allow"},
		{"other tools are not touched", bulwark.Call{Tool: "finish", Dynamic: true}, bulwark.Allow, "finish=allow"},
	}
	for _, tt := range tests {
		v := p.Decide(tt.call)
		if v.Decision != tt.want || v.Rule != tt.rule {
			t.Errorf("%s: Decide(%+v) = %+v, want %s by %q", tt.name, tt.call, v, tt.want, tt.rule)
		}
	}
	normalised := bulwark.Policy{Rules: []bulwark.Rule{{Tool: "run_shell", Pattern: "rm -rf *", Decision: bulwark.Deny}}}
	if v := normalised.Decide(bulwark.Call{Tool: "run_shell", Targets: []string{"rm -r -f /"}, Patterns: split}); v.Decision != bulwark.Deny {
		t.Errorf("the pattern was not matched in its normalised form: %+v", v)
	}
}

// FuzzCatchAll: a catch-all rule decides every target, whatever characters
// it holds (a leading * walked past Glob once).
func FuzzCatchAll(f *testing.F) {
	f.Add("*rm -rf /")
	f.Add("")
	f.Add("?*?")
	p := bulwark.Policy{Rules: []bulwark.Rule{{Tool: "run_shell", Pattern: "*", Decision: bulwark.Deny}}}
	f.Fuzz(func(t *testing.T, target string) {
		if v := p.Decide(bulwark.Call{Tool: "run_shell", Targets: []string{"ls", target}}); v.Decision != bulwark.Deny {
			t.Errorf("run_shell(*)=deny gave %+v for %q", v, target)
		}
	})
}

// TestStarRulePatternsAsWritten: a rule for every tool is matched as
// written: a path pattern does not turn, in the shell's form of a command
// ("src/*" names the program *), into a rule for every command.
func TestStarRulePatternsAsWritten(t *testing.T) {
	p := bulwark.Policy{Rules: []bulwark.Rule{{Tool: "*", Pattern: "src/*", Decision: bulwark.Deny}}}
	asShell := func(string) ([]string, error) { return []string{"*"}, nil }
	if v := p.Decide(bulwark.Call{Tool: "run_shell", Targets: []string{"ls"}, Patterns: asShell}); v.Decision != bulwark.Allow {
		t.Errorf("*(src/*)=deny on run_shell(ls) = %+v, want allow", v)
	}
	if v := p.Decide(bulwark.Call{Tool: "write_file", Targets: []string{"src/a.py"}, Patterns: asShell}); v.Decision != bulwark.Deny {
		t.Errorf("*(src/*)=deny on write_file(src/a.py) = %+v, want deny", v)
	}
	none := func(string) ([]string, error) { return nil, nil }
	if v := p.Decide(bulwark.Call{Tool: "finish", Patterns: none, Dynamic: true}); v.Decision != bulwark.Allow {
		t.Errorf("*(src/*)=deny on finish = %+v, want allow: finish has no targets", v)
	}
}

// TestServerWideRules: "mcp__SERVER__*" is a rule for every tool of one
// MCP server, and no other: not another server whose name starts alike,
// not a built-in tool.
func TestServerWideRules(t *testing.T) {
	p := bulwark.Policy{Rules: []bulwark.Rule{{Tool: "mcp__github__*", Decision: bulwark.Deny}, {Tool: "mcp__github__get_issue", Decision: bulwark.Allow}}}
	for tool, want := range map[string]bulwark.Decision{
		"mcp__github__create_issue": bulwark.Deny,
		"mcp__github__get_issue":    bulwark.Deny, // the strictest rule wins
		"mcp__githubx__create":      bulwark.Allow,
		"mcp__git__hub":             bulwark.Allow,
		"run_shell":                 bulwark.Allow,
		"mcp__github":               bulwark.Allow,
		// The server's name in any case (no two servers differ in case only).
		"mcp__GitHub__create_issue": bulwark.Deny,
		"mcp__GITHUB__x":            bulwark.Deny,
		"mcp__gİthub__x":            bulwark.Allow, // no Unicode folding
	} {
		if got := p.Decide(bulwark.Call{Tool: tool}).Decision; got != want {
			t.Errorf("%s: %s, want %s", tool, got, want)
		}
	}
	// A rule spelled in another case than the server's name still applies.
	p = bulwark.Policy{Rules: []bulwark.Rule{{Tool: "mcp__Everything__*", Decision: bulwark.Deny}, {Tool: "mcp__EVERYTHING__echo", Pattern: "*", Decision: bulwark.Ask}}}
	if got := p.Decide(bulwark.Call{Tool: "mcp__everything__get-env"}).Decision; got != bulwark.Deny {
		t.Errorf("mcp__Everything__*=deny on mcp__everything__get-env: %s, want deny", got)
	}
	if got := (bulwark.Policy{Rules: p.Rules[1:]}).Decide(bulwark.Call{Tool: "mcp__everything__echo", Targets: []string{"{}"}}).Decision; got != bulwark.Ask {
		t.Errorf("mcp__EVERYTHING__echo(*)=ask on mcp__everything__echo: %s, want ask", got)
	}
	if got := (bulwark.Policy{Rules: p.Rules[1:]}).Decide(bulwark.Call{Tool: "mcp__everything__Echo", Targets: []string{"{}"}}).Decision; got != bulwark.Allow {
		t.Errorf("a rule for the tool echo on the tool Echo: %s, want allow (tool names keep their case)", got)
	}
	// Not a wildcard elsewhere in a name.
	p = bulwark.Policy{Rules: []bulwark.Rule{{Tool: "mcp__*", Decision: bulwark.Deny}, {Tool: "run_*", Decision: bulwark.Deny}}}
	for _, tool := range []string{"mcp__github__create_issue", "run_shell"} {
		if got := p.Decide(bulwark.Call{Tool: tool}).Decision; got != bulwark.Allow {
			t.Errorf("%s: %s under rules that name no server, want allow", tool, got)
		}
	}
}

// TestGlobsMeet: a word the shell expands (prod.e*) meets a pattern when
// some name matches both.
func TestGlobsMeet(t *testing.T) {
	for _, tt := range []struct {
		pattern, glob string
		want          bool
	}{
		{"*.env", "prod.env", true},
		// A backslash quotes the character after it: \[ is a [, not a
		// set; it may also be read as itself.
		{"secrets/*", `s\[e]crets/*`, false},
		{"secrets/*", `secrets/\[k]`, true},
		{"secrets/k", `secrets/\[k]`, false},
		{"secrets/[k]", `secrets/\[k]`, true},
		{"secrets/k", `secrets/\*`, false},
		{"secrets/*", `secrets/\*`, true},
		{"secrets/k*", `secrets/\**`, false},
		{"secrets/**", `secrets/\**`, true},
		{"a", `\a`, true},
		{`\a`, `\a`, true},
		{`a\`, `a\`, true},
		{"*.env", `x.en\?`, false},
		{"*.env", `x.en\\?`, false},
		{`*.en\v`, `x.en\\?`, true},
		{"*.env", "prod.en?", true},
		{"*.env", "prod.e*", true},
		{"*.env", "prod.[e]nv", true},
		{"*.env", "*", true},
		{"*.env", "[!x]", false},
		{"*.env", "prod.txt", false},
		{"*.env", "*.txt", false},
		{"*.env", "prod.en[vw]x", false},
		{"secrets/*", "secre?s/k", true},
		{"secrets/*", "s*/k", true},
		{"secrets/*", "src/*", false},
		{"a?c", "*b*", true},
		{"a?c", "[", false},
		{"a?c", "a[]c", false},
		{"a?c", "a[]]c", true},
		{"x", "[x", false},
		{"[x", "[x", true},
		// A glob's *, ? and [...] match no /; ** may, as may text that
		// cannot be known (bulwark.AnyText).
		{"secrets/*", "*.md", false},
		{"secrets/*", "*", false},
		{"secrets/*", "?", false},
		{"secrets/*", "docs/*.txt", false},
		{"secrets/*", "src/?.go", false},
		{"secrets/*", "[a-z]*.go", false},
		{"secrets/k", "secrets[/]k", false},
		{"secrets[/]k", "secrets[/]k", true},
		{"secrets/*", "*/k", true},
		{"secrets/*", "s*/k", true},
		{"secrets/*", "secrets/*", true},
		{"secrets/k", "./secrets/[k]", false},
		{"secrets/k", "secrets/[k]", true},
		{"secrets/k", "secrets/[[:alpha:]]", true},
		{"secrets/k", "secrets/[![:digit:]]", true},
		{"secrets/k", "secrets/[]]", true},
		{"secrets/k", "**/k", true},
		{"secrets/k", "s**", true},
		{"secrets/k", "s***", true},
		{"secrets/k", "s*", false},
		{"*/secrets/*", "a*/b*", false},
		{"*/secrets/*", "a*/s**", true},
		{"*.env", "*", true},
		{"secrets/k", bulwark.AnyText + "k", true},
		{"secrets/k", bulwark.AnyText, true},
		{"secrets/*", bulwark.AnyText, true},
		{"secrets/*", "secre" + bulwark.AnyText + "k", true},
		{"secrets/*", "x" + bulwark.AnyText, false},
		{"secrets/k", "*" + bulwark.AnyText + "*", true},
		{"secrets/k", bulwark.AnyText + "/k", true},
		{"secrets/*", bulwark.AnyText + "/k", true},
	} {
		if got := bulwark.GlobsMeet(tt.pattern, tt.glob); got != tt.want {
			t.Errorf("GlobsMeet(%q, %q) = %v, want %v", tt.pattern, tt.glob, got, tt.want)
		}
	}
}

// folderTests: a deny or ask rule naming files in a folder matches a
// command that may run in that folder, or one above it, or names it.
var folderTests = []struct {
	rule    string
	folders []string
	want    bulwark.Decision
}{
	{"*(secrets/*)=deny", []string{"secrets"}, bulwark.Deny},
	{"*(secrets/*)=deny", []string{"secre*"}, bulwark.Deny},
	{"*(secrets/*)=deny", []string{"*"}, bulwark.Deny},
	{"*(secrets/*)=deny", []string{bulwark.AnyText}, bulwark.Deny},
	{"*(config/prod/*.pem)=deny", []string{bulwark.AnyText}, bulwark.Deny},
	{"*(config/prod/*.pem)=deny", []string{"*"}, bulwark.Deny},
	{"*(config/prod/*.pem)=deny", []string{"*/*"}, bulwark.Deny},
	{"*(config/prod/*.pem)=deny", []string{"*.md"}, bulwark.Allow},
	{"*(secrets/*)=deny", []string{"docs/*"}, bulwark.Allow},
	{"*(secrets/*)=ask", []string{"src", "secrets"}, bulwark.Ask},
	{"*(secrets/*)=deny", []string{"src"}, bulwark.Allow},
	{"*(secrets/*)=deny", []string{"secretsauce"}, bulwark.Allow},
	{"*(secrets/*)=deny", []string{"."}, bulwark.Allow},
	{"*(sec*/k)=deny", []string{"secrets"}, bulwark.Deny},
	{"*(config/prod/*.pem)=deny", []string{"config"}, bulwark.Deny},
	{"*(config/prod/*.pem)=deny", []string{"config/prod"}, bulwark.Deny},
	{"*(config/prod/*.pem)=deny", []string{"config/dev"}, bulwark.Allow},
	{"*(*/secrets/*)=deny", []string{"a/secrets"}, bulwark.Deny},
	{"*(*/secrets/*)=deny", []string{"src"}, bulwark.Allow},
	{"*(*.env)=deny", []string{"*"}, bulwark.Allow},
	{"*(*.env)=deny", []string{"config"}, bulwark.Allow},
	// Allow rules are not widened.
	{"*(secrets/*)=allow", []string{"secrets"}, bulwark.Deny},
}

// TestFolders: see folderTests.
func TestFolders(t *testing.T) {
	for _, tt := range folderTests {
		rules, err := bulwark.ParseRules(tt.rule)
		if err != nil {
			t.Fatal(err)
		}
		p := bulwark.Policy{Rules: rules}
		if rules[0].Decision == bulwark.Allow {
			p.Default = bulwark.Deny
		}
		c := bulwark.Call{Tool: "run_shell", Targets: []string{"ls"},
			Folders: func(string) []string { return tt.folders }}
		if got := p.Decide(c).Decision; got != tt.want {
			t.Errorf("%s on a command in or naming %q: %s, want %s", tt.rule, tt.folders, got, tt.want)
		}
	}
}

// TestResolved: a deny or ask pattern of several words meets a target
// read another way (Call.Resolved); an allow rule does not.
func TestResolved(t *testing.T) {
	resolved := func(form, target string) bool { return target == "rm -f -r x" && form == "rm -f -r build/*" }
	for _, tt := range []struct {
		rule string
		def  bulwark.Decision
		want bulwark.Decision
	}{
		{"*(rm -f -r build/*)=deny", "", bulwark.Deny},
		{"*(rm -f -r build/*)=ask", "", bulwark.Ask},
		{"*(rm -f -r src/*)=deny", "", bulwark.Allow},
		{"*(rm -f -r build/*)=allow", bulwark.Deny, bulwark.Deny},
	} {
		rules, err := bulwark.ParseRules(tt.rule)
		if err != nil {
			t.Fatal(err)
		}
		c := bulwark.Call{Tool: "run_shell", Targets: []string{"rm -f -r x"}, Resolved: resolved}
		if got := (bulwark.Policy{Rules: rules, Default: tt.def}).Decide(c).Decision; got != tt.want {
			t.Errorf("%s on rm -f -r x resolved to build/x: %s, want %s", tt.rule, got, tt.want)
		}
	}
}

// globInstance returns a name the shell glob g could match: each *
// replaced by a run of the characters of fill, ? and a set [...] by one,
// never a /; ** by fill whole, which may hold /. It reports false for a
// glob it does not instantiate (a set holding a / or a class, left as
// GlobsMeet reads them).
func globInstance(g, fill string) (string, bool) { return instance(g, fill, false) }

// escapedInstance is globInstance with a backslash read as quoting the
// character after it (\* is a star, \\ a backslash).
func escapedInstance(g, fill string) (string, bool) { return instance(g, fill, true) }

func instance(g, fill string, escapes bool) (string, bool) {
	var b strings.Builder
	noSlash := strings.ReplaceAll(fill, "/", "")
	one := "x"
	if r, _ := utf8.DecodeRuneInString(noSlash); noSlash != "" {
		one = string(r)
	}
	for i := 0; i < len(g); i++ {
		if escapes && g[i] == '\\' && i+1 < len(g) {
			i++
			b.WriteByte(g[i])
			continue
		}
		switch g[i] {
		case '*':
			j := i
			for j < len(g) && g[j] == '*' {
				j++
			}
			if j-i > 1 {
				b.WriteString(fill)
			} else {
				b.WriteString(noSlash)
			}
			i = j - 1
		case '?':
			b.WriteString(one)
		case '[':
			j := strings.IndexByte(g[i+1:], ']')
			if j < 0 {
				b.WriteByte('[')
				continue
			}
			set := g[i+1 : i+1+j]
			if strings.ContainsAny(set, "/[!^]-") || set == "" {
				return "", false
			}
			r, _ := utf8.DecodeRuneInString(set)
			b.WriteRune(r)
			i += j + 1
		default:
			b.WriteByte(g[i])
		}
	}
	return b.String(), true
}

// quoteGlob writes a backslash before each *, ?, [ and \ of s.
func quoteGlob(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("*?[\\", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// FuzzGlobsMeet: GlobsMeet meets whenever a name the glob could match
// (an instance of it, each wildcard filled without a /) matches the
// pattern; and text that cannot be known (AnyText) meets every pattern.
func FuzzGlobsMeet(f *testing.F) {
	f.Add("secrets/*", "*.md", "secrets/k")
	f.Add("secrets/k", "s*/k", "ecrets")
	f.Add("*.env", "prod.[e]nv", "x")
	f.Add("a?c", "**", "a/c")
	f.Add("*/secrets/*", "a*/b*", "/secrets/")
	f.Add("secrets/*", `s\[e]crets/*`, "k")
	f.Add("*", `\**\\\?`, "x/y")
	f.Add("a?", "a[", "")
	f.Fuzz(func(t *testing.T, pattern, glob, fill string) {
		if len(pattern) > 64 || len(glob) > 64 || len(fill) > 64 || strings.Contains(glob+fill, bulwark.AnyText) {
			return
		}
		if !utf8.ValidString(pattern) || !utf8.ValidString(glob) || !utf8.ValidString(fill) {
			return
		}
		if name, ok := globInstance(glob, fill); ok && bulwark.Glob(pattern, name) && !bulwark.GlobsMeet(pattern, glob) {
			t.Errorf("GlobsMeet(%q, %q) = false, but %q matches both", pattern, glob, name)
		}
		// A backslash may quote the character after it (a quoted *).
		if name, ok := escapedInstance(glob, fill); ok && bulwark.Glob(pattern, name) && !bulwark.GlobsMeet(pattern, glob) {
			t.Errorf("GlobsMeet(%q, %q) = false, but %q (backslashes quoting) matches both", pattern, glob, name)
		}
		// A name written with its glob characters and backslashes
		// quoted meets the patterns that match it.
		if bulwark.Glob(pattern, glob) && !bulwark.GlobsMeet(pattern, quoteGlob(glob)) {
			t.Errorf("GlobsMeet(%q, %q) = false for the name %q, quoted", pattern, quoteGlob(glob), glob)
		}
		if !bulwark.GlobsMeet(pattern, bulwark.AnyText) {
			t.Errorf("GlobsMeet(%q, AnyText) = false", pattern)
		}
		if bulwark.Glob(pattern, glob) && !strings.ContainsAny(glob, "*?[") && !bulwark.GlobsMeet(pattern, glob) {
			t.Errorf("GlobsMeet(%q, %q) = false for a name the pattern matches", pattern, glob)
		}
		// Unknown text in place of any part of a glob meets where the
		// glob does.
		for i := 0; i <= len(glob); i++ {
			if i < len(glob) && !utf8.RuneStart(glob[i]) || i > 0 && glob[i-1] == '\\' {
				continue // inside a rune, or between \ and what it quotes
			}
			if bulwark.GlobsMeet(pattern, glob) && !bulwark.GlobsMeet(pattern, glob[:i]+bulwark.AnyText+glob[i:]) && !strings.ContainsAny(glob, "[") {
				t.Errorf("GlobsMeet(%q, %q) = true, but not with unknown text at %d", pattern, glob, i)
			}
		}
	})
}

// TestStarDenyRuleCleanedSpelling: a rule for every tool that denies or
// asks, written with a workspace path in another spelling than the file
// tools' cleaned targets (./keys/*, /workspace/keys/*.pem, keys//*.pem),
// refuses those targets too; written for paths outside the workspace, or
// allowing, it is matched as written only (an allow rule admits nothing
// more), and a path pattern still does not become a command's form.
func TestStarDenyRuleCleanedSpelling(t *testing.T) {
	for _, tt := range []struct {
		rule   string
		target string
		want   bulwark.Decision
	}{
		{"*(/workspace/keys/*.pem)=deny", "keys/a.pem", bulwark.Deny},
		{"*(./keys/*)=deny", "keys/a", bulwark.Deny},
		{"*(keys//*.pem)=ask", "keys/a.pem", bulwark.Ask},
		{"*(x/../secrets/*)=deny", "secrets/k", bulwark.Deny},
		{"*(/workspace/keys/*.pem)=deny", "/workspace/keys/a.pem", bulwark.Deny}, // as written still
		{"*(/workspace/keys/*.pem)=deny", "src/a.pem", bulwark.Allow},
		{"*(./keys/*)=allow", "keys/a", bulwark.Deny}, // the default below: allow admits only as written
		{"*(/etc/*)=deny", "etc/passwd", bulwark.Allow},
		{"*(../keys/*)=deny", "keys/a", bulwark.Allow},
	} {
		rules, err := bulwark.ParseRules(tt.rule)
		if err != nil {
			t.Fatal(err)
		}
		p := bulwark.Policy{Rules: rules, Default: bulwark.Allow}
		if strings.HasSuffix(tt.rule, "=allow") {
			p.Default = bulwark.Deny
		}
		asFile := func(pat string) ([]string, error) { return []string{pat}, nil }
		if v := p.Decide(bulwark.Call{Tool: "read_file", Targets: []string{tt.target}, Patterns: asFile}); v.Decision != tt.want {
			t.Errorf("%s on read_file(%s) = %+v, want %s", tt.rule, tt.target, v, tt.want)
		}
	}
	// A cleaned form is a path still: it does not turn into the shell's
	// form of a command (./src/* as the program *).
	p := bulwark.Policy{Rules: []bulwark.Rule{{Tool: "*", Pattern: "./src/*", Decision: bulwark.Deny}}}
	asShell := func(string) ([]string, error) { return []string{"*"}, nil }
	if v := p.Decide(bulwark.Call{Tool: "run_shell", Targets: []string{"ls"}, Patterns: asShell}); v.Decision != bulwark.Allow {
		t.Errorf("*(./src/*)=deny on run_shell(ls) = %+v, want allow", v)
	}
}
