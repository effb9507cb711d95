package bulwark

import (
	"fmt"
	"path"
	"strings"
)

// Decision is what a policy says about a tool call.
type Decision string

const (
	Allow Decision = "allow" // run it
	Ask   Decision = "ask"   // pause until a person decides
	Deny  Decision = "deny"  // refuse it
)

// strictness orders decisions: when several rules match, the strictest wins.
func (d Decision) strictness() int {
	switch d {
	case Allow:
		return 0
	case Ask:
		return 1
	}
	return 2 // Deny, and anything unknown
}

// Rule is one line of a policy: calls of Tool (or "*" for every tool, or
// "mcp__SERVER__*" for every tool of the MCP server SERVER) with
// a target that matches Pattern get Decision. A call's targets are what its
// tool declares it acts on (bulwark.Effects.Targets), in canonical form:
// the cleaned workspace path of a file tool, each simple command of a
// run_shell script (program resolved, flags normalised), the URL of
// fetch_url, "LANGUAGE: CODE" and the commands of run_code. Pattern is a
// glob where * matches any run of characters (spaces and slashes included)
// and ? one character, put in the same canonical form as the targets before
// it is matched (see Call.Patterns; the pattern of a rule for "*" is
// matched as written); an empty pattern matches every call of the tool.
type Rule struct {
	Tool     string   `json:"tool"`
	Pattern  string   `json:"pattern,omitempty"`
	Decision Decision `json:"decision"`
}

func (r Rule) String() string {
	if r.Pattern == "" {
		return fmt.Sprintf("%s=%s", r.Tool, r.Decision)
	}
	return fmt.Sprintf("%s(%s)=%s", r.Tool, r.Pattern, r.Decision)
}

// Policy decides, before anything runs, whether a tool call may run.
type Policy struct {
	// Default applies where no rule matches; empty means Allow.
	Default Decision `json:"default,omitempty"`
	Rules   []Rule   `json:"rules,omitempty"`
}

// Verdict is a policy's decision on one call and the rule that made it.
type Verdict struct {
	Decision Decision
	Rule     string // the deciding rule, or "default"
}

// Call is a tool call as a policy sees it: its tool and what it declared it
// will act on.
type Call struct {
	Tool string
	// Targets are what the call acts on, in canonical form
	// (Effects.Targets). A call with none is matched as one empty target.
	Targets []string
	// Dynamic reports that the call may do things that cannot be known
	// before it runs (Effects.Dynamic): every ask and deny rule that can
	// match a target of this tool then applies.
	Dynamic bool
	// Patterns returns the forms of a rule's pattern that targets are
	// matched against: the pattern in the canonical form of the tool's
	// targets. No form (or an error) means the pattern can match no target
	// of this tool, as for tools without targets. Nil Patterns matches the
	// pattern as written. A rule for "*" names no tool whose form its
	// pattern could take: it is matched as written, against the tools
	// whose Patterns accept it.
	Patterns func(pattern string) ([]string, error)
	// Match reports whether one form of a pattern matches one target; nil
	// is Glob. Tools whose targets are more than text (a shell command's
	// flags may come in any order) supply their own.
	Match func(form, target string) bool
	// Parts, if set, returns the parts of a target (a command's arguments
	// and redirected files) that a deny or ask rule whose pattern form is
	// one word (no blank: *.env, secrets/*) also matches: such a pattern
	// names a file, which a command may name anywhere in its line. Allow
	// rules are not matched against parts, so they admit no more.
	Parts func(target string) []string
	// Globs, if set, returns the parts of a target that the tool expands
	// against file names (a command's prod.e*): a deny or ask rule's
	// one-word form matches such a part when some name could match both
	// (GlobsMeet).
	Globs func(target string) []string
	// Folders, if set, returns the folders a target may act in or on,
	// as globs (GlobsMeet): the folders a command may run in (AnyText
	// for any) and its words, each of which may name a folder it walks
	// (grep -r x secrets, cd secrets; ls). A deny or ask rule's one-word
	// form that names a file in a folder (secrets/*, config/*.pem) matches
	// a target one of whose folders could be that folder or one above it
	// (see folderMeets). The workspace itself (".") is never one: a rule
	// does not refuse every command that may walk the whole workspace.
	Folders func(target string) []string
	// Resolved, if set, reports whether a pattern's form of several
	// words matches target read with its operands resolved against each
	// folder the command may run in (cd build && rm -rf x is also
	// rm -f -r build/x). Only deny and ask rules are matched so: the
	// folder is not certain (a cd may fail), so it admits nothing.
	Resolved func(form, target string) bool
}

// Decide judges each target of c on its own, and returns the strictest of
// those verdicts. A target's verdict is the strictest decision of the rules
// that match it, or the default when none does. A rule matches a target
// when it names c.Tool (or "*") and either has no pattern or has a pattern
// one of whose forms matches the target. So "cd . && rm -rf *" is judged on
// "cd ." and on "rm -f -r *" both, and under a default of deny the allow
// rule run_shell(git *) does not carry "git status; rm -rf /" past the
// default: "rm -f -r /" matches no rule, so the default decides it.
//
// Where c.Dynamic is set, the part of the call that cannot be known is
// judged as one more target that every rule without a pattern and every
// ask and deny rule of the tool (whose pattern can match its targets at
// all) matches; when none does, the default decides it.
func (p Policy) Decide(c Call) Verdict {
	def := Verdict{Decision: p.Default, Rule: "default"}
	if def.Decision == "" {
		def.Decision = Allow
	}
	targets := c.Targets
	if len(targets) == 0 {
		targets = []string{""}
	}
	// judge returns the strictest rule of the tool that matches, or the default.
	judge := func(matches func(r Rule) bool) Verdict {
		v, matched := def, false
		for _, r := range p.Rules {
			if !r.names(c.Tool) {
				continue
			}
			if r.Pattern != "" && !matches(r) {
				continue
			}
			if !matched || r.Decision.strictness() > v.Decision.strictness() {
				v, matched = Verdict{Decision: r.Decision, Rule: r.String()}, true
			}
		}
		return v
	}
	var out Verdict
	stricter := func(v Verdict) {
		if out.Decision == "" || v.Decision.strictness() > out.Decision.strictness() {
			out = v
		}
	}
	for _, t := range targets {
		stricter(judge(func(r Rule) bool { return c.matches(r, t) || c.partMatches(r, t) }))
	}
	if c.Dynamic {
		stricter(judge(func(r Rule) bool { return r.Decision != Allow && len(c.forms(r)) > 0 }))
	}
	return out
}

// names reports whether r is a rule for calls of tool: it names the tool,
// or every tool ("*"), or every tool of one MCP server ("mcp__SERVER__*":
// a server's tools are not known when the policy is written).
//
// The server's name is matched in any ASCII case: an MCP configuration
// may not hold two servers whose names differ in case only, so
// mcp__GitHub__* is a rule for the server "github", not a deny rule that
// silently matches nothing.
func (r Rule) names(tool string) bool {
	if r.Tool == "*" || r.Tool == tool {
		return true
	}
	if !strings.HasPrefix(r.Tool, "mcp__") || !strings.HasPrefix(tool, "mcp__") {
		return false
	}
	rs, rt, ok := strings.Cut(r.Tool[len("mcp__"):], "__")
	ts, tt, ok2 := strings.Cut(tool[len("mcp__"):], "__")
	return ok && ok2 && rs != "" && asciiEqualFold(rs, ts) && (rt == "*" || rt == tt)
}

// asciiEqualFold is strings.EqualFold for ASCII letters only (no Unicode
// folding: the Kelvin sign is not a k).
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// forms returns the forms of r's pattern that c's targets are matched
// against; none when the pattern can match no target of c's tool.
//
// A rule for every tool is matched as written (no tool's form is put on
// its pattern), and, when it denies or asks and its one-word pattern
// names workspace paths in another spelling than the cleaned one the file
// tools' targets have (./keys/*, /workspace/keys/*.pem, keys//*), also
// in that cleaned form: the rule is not left to match nothing.
func (c Call) forms(r Rule) []string {
	if c.Patterns != nil {
		f, err := c.Patterns(r.Pattern)
		if err != nil || len(f) == 0 {
			return nil // no target of this tool could match
		}
		if r.Tool != "*" {
			return f
		}
	}
	if r.Tool == "*" && r.Decision != Allow {
		if cf, ok := cleanedForm(r.Pattern); ok {
			return []string{r.Pattern, cf}
		}
	}
	return []string{r.Pattern}
}

// cleanedForm is pattern, a one-word path pattern, cleaned as the
// workspace cleans a file tool's path (/workspace/ read as the
// workspace), when that is another spelling of a path in the workspace.
func cleanedForm(pattern string) (string, bool) {
	if pattern == "" || strings.ContainsAny(pattern, " \t\n") {
		return "", false
	}
	p := pattern
	if p == "/workspace" || strings.HasPrefix(p, "/workspace/") {
		p = "." + p[len("/workspace"):]
	}
	if strings.HasPrefix(p, "/") {
		return "", false // outside the workspace: the file tools never name it
	}
	cleaned := path.Clean(p)
	if cleaned == pattern || cleaned == "." || cleaned == ".." || strings.HasPrefix(cleaned, "../") {
		return "", false
	}
	return cleaned, true
}

// partMatches reports whether r, a deny or ask rule, has a one-word
// form that matches a part of target (see Call.Parts), or a form of
// several words that matches target resolved (Call.Resolved).
func (c Call) partMatches(r Rule, target string) bool {
	if (c.Parts == nil && c.Globs == nil && c.Folders == nil && c.Resolved == nil) || r.Decision == Allow {
		return false
	}
	var parts, globs, folders []string
	read := false
	for _, f := range c.forms(r) {
		if strings.ContainsAny(f, " \t\n") {
			if c.Resolved != nil && c.Resolved(f, target) {
				return true
			}
			continue
		}
		if !read {
			read = true
			if c.Parts != nil {
				parts = c.Parts(target)
			}
			if c.Globs != nil {
				globs = c.Globs(target)
			}
			if c.Folders != nil {
				folders = c.Folders(target)
			}
		}
		for _, p := range parts {
			if Glob(f, p) {
				return true
			}
		}
		for _, g := range globs {
			if GlobsMeet(f, g) {
				return true
			}
		}
		for _, d := range folders {
			if folderMeets(f, d) {
				return true
			}
		}
	}
	return false
}

// folderMeets reports whether folder (a glob, as GlobsMeet reads one)
// could be a folder that pattern names a file in, or a folder above it:
// whether some part of pattern before one of its slashes, holding more
// than wildcards, meets folder whole. secrets/* and sec*/k meet the
// folder secrets, config/prod/*.pem meets config and config/prod, and
// AnyText (a command that may run anywhere) meets them all, as * (the
// folders a glob may name at the top) meets secrets; *.env names no
// folder, and */secrets/* names the folders */secrets, not every folder.
func folderMeets(pattern, folder string) bool {
	for i := 1; i < len(pattern); i++ {
		if pattern[i] != '/' || strings.Trim(pattern[:i], "*?/") == "" {
			continue
		}
		if GlobsMeet(pattern[:i], folder) {
			return true
		}
	}
	return false
}

// matches reports whether one form of r's pattern matches target.
func (c Call) matches(r Rule, target string) bool {
	match := c.Match
	if match == nil {
		match = Glob
	}
	for _, f := range c.forms(r) {
		if match(f, target) {
			return true
		}
	}
	return false
}

// ParseRule reads a rule written as TOOL=DECISION or TOOL(PATTERN)=DECISION,
// for example "run_shell(rm -rf *)=deny".
func ParseRule(s string) (Rule, error) {
	const op = "bulwark.ParseRule"
	s = strings.TrimSpace(s)
	i := strings.LastIndexByte(s, '=')
	if i < 0 {
		return Rule{}, Errorf(Invalid, op, "policy rule %q: want TOOL=DECISION or TOOL(PATTERN)=DECISION", s)
	}
	head, dec := strings.TrimSpace(s[:i]), Decision(strings.TrimSpace(s[i+1:]))
	if dec != Allow && dec != Ask && dec != Deny {
		return Rule{}, Errorf(Invalid, op, "policy rule %q: the decision must be allow, ask or deny", s)
	}
	r := Rule{Tool: head, Decision: dec}
	if j := strings.IndexByte(head, '('); j >= 0 {
		if !strings.HasSuffix(head, ")") {
			return Rule{}, Errorf(Invalid, op, "policy rule %q: the pattern must be closed with )", s)
		}
		// Blanks around a pattern are layout, not part of a path or URL:
		// write_file( *.env ) must not silently match nothing. A pattern
		// of blanks stays as written, for the tool to refuse.
		r.Tool, r.Pattern = strings.TrimSpace(head[:j]), head[j+1:len(head)-1]
		if p := strings.TrimSpace(r.Pattern); p != "" {
			r.Pattern = p
		}
	}
	if r.Tool == "" || strings.ContainsAny(r.Tool, " ()=") {
		return Rule{}, Errorf(Invalid, op, "policy rule %q: name a tool, such as run_shell, or * for every tool", s)
	}
	return r, nil
}

// ParseRules reads rules separated by semicolons or newlines.
func ParseRules(s string) ([]Rule, error) {
	var rules []Rule
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == ';' || r == '\n' }) {
		if strings.TrimSpace(part) == "" {
			continue
		}
		r, err := ParseRule(part)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// Glob reports whether s matches pattern, where * matches any run of
// characters and ? exactly one. It runs in O(len(pattern) x len(s)) time
// whatever the input.
func Glob(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && p[pi] == '*':
			// A star in the pattern is a wildcard even where the subject
			// has a star too: matching them literally would forget it.
			star, mark = pi, ti
			pi++
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// AnyText stands, in a glob given to GlobsMeet, for text that cannot be
// known before a command runs (what a substitution prints beside other
// text, a parameter expansion with an operator, an extended glob): any run
// of characters, slashes included. It is a NUL, which no argument of a
// command can hold, so that no script can spell it.
const AnyText = "\x00"

// GlobsMeet reports whether some name matches both pattern (a policy
// pattern: * any run of characters, ? one) and glob, a word the shell
// expands against file names, so that a rule naming a file meets a
// command naming it through a glob: *.env meets prod.e* and prod.[e]nv.
// In glob, as in bash, *, ? and a set [...] match no /: secrets/* does
// not meet *.md, but meets */k and s*/k. A run of two or more stars
// (globstar's **, on or not) and AnyText match any run of characters,
// slashes included. A backslash quotes the character after it (a quoted
// *, ? or [ is written \*, \?, \[: see shell.Command.Globs), and may also
// be read as itself. It errs towards meeting: a set counts as any
// character but /, a [ may also be read as itself (bash reads it so where
// the set does not close), and * and ? match a leading dot. It runs in
// O(len(pattern) x len(glob)) time.
func GlobsMeet(pattern, glob string) bool {
	const (
		lit    = iota // the character r
		one           // one character but /
		oneAny        // one character
		run           // a run of characters without /
		anyRun        // any run of characters
	)
	type tok struct {
		kind int
		r    rune
		// set, for a [ that opens a set, is the index of the token
		// after the set: the set is one character but /, or the [ is
		// read as itself.
		set int
		// esc, for a backslash, is the index of the token after the
		// character it escapes, escR: the backslash is read as itself,
		// or as quoting escR.
		esc  int
		escR rune
	}
	var p, g []tok
	for _, r := range pattern {
		switch r {
		case '*':
			p = append(p, tok{kind: anyRun})
		case '?':
			p = append(p, tok{kind: oneAny})
		default:
			p = append(p, tok{kind: lit, r: r})
		}
	}
	gr := []rune(glob)
	// at[i] is the index in g of the token of gr[i].
	at := make([]int, len(gr)+1)
	var sets [][2]int // [index in gr of the [, index in gr after its ]]
	var escs []int    // index in gr of a \ before a character
	for i := 0; i < len(gr); i++ {
		at[i] = len(g)
		switch gr[i] {
		case '\\':
			if i+1 < len(gr) && gr[i+1] != 0 {
				escs = append(escs, i)
			}
		case 0:
			g = append(g, tok{kind: anyRun})
			continue
		case '*':
			if n := len(escs); n > 0 && escs[n-1] == i-1 {
				// An escaped star is a token of its own, so that
				// read as itself it is one character; read after
				// the backslash, as a star, it stays as wide as
				// the run it begins.
				k := run
				if i+1 < len(gr) && gr[i+1] == '*' {
					k = anyRun
				}
				g = append(g, tok{kind: k})
				continue
			}
			j := i
			for j < len(gr) && gr[j] == '*' {
				at[j] = len(g)
				j++
			}
			if j-i > 1 {
				g = append(g, tok{kind: anyRun})
			} else {
				g = append(g, tok{kind: run})
			}
			i = j - 1
			continue
		case '?':
			g = append(g, tok{kind: one})
			continue
		case '[':
			if end, ok := setEnd(gr, i); ok {
				sets = append(sets, [2]int{i, end})
			}
		}
		g = append(g, tok{kind: lit, r: gr[i]})
	}
	at[len(gr)] = len(g)
	for _, s := range sets {
		g[at[s[0]]].set = at[s[1]]
	}
	for _, e := range escs {
		g[at[e]].esc, g[at[e]].escR = at[e+2], gr[e+1]
	}
	// A walk of the product of the two automata: state (i, j) has read
	// the same text with p[:i] and g[:j].
	w := len(g) + 1
	seen := make([]bool, (len(p)+1)*w)
	stack := []int{0}
	seen[0] = true
	push := func(i, j int) {
		if !seen[i*w+j] {
			seen[i*w+j] = true
			stack = append(stack, i*w+j)
		}
	}
	// step moves on one character that p[i] and a glob token of kind k
	// may both read, to (i or i+1, nj).
	step := func(i, k int, r rune, nj int) {
		pt := p[i]
		switch {
		case pt.kind == lit && k == lit && pt.r != r:
			return
		case pt.kind == lit && (k == one || k == run) && pt.r == '/':
			return
		}
		ni := i + 1
		if pt.kind == anyRun {
			ni = i
		}
		push(ni, nj)
	}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i, j := s/w, s%w
		if i == len(p) && j == len(g) {
			return true
		}
		if i < len(p) && p[i].kind == anyRun {
			push(i+1, j)
		}
		if j < len(g) && (g[j].kind == run || g[j].kind == anyRun) {
			push(i, j+1)
		}
		if i == len(p) || j == len(g) {
			continue
		}
		gt := g[j]
		nj := j + 1
		if gt.kind == run || gt.kind == anyRun {
			nj = j
		}
		step(i, gt.kind, gt.r, nj)
		if gt.set > 0 {
			step(i, one, 0, gt.set)
		}
		if gt.esc > 0 {
			step(i, lit, gt.escR, gt.esc)
		}
	}
	return false
}

// setEnd reports whether the [ at g[i] opens a set, as bash reads one in
// a file name, and returns the index after its ]: a ] first (after ! or
// ^) is a member, [:class:], [=c=] and [.c.] are read whole, and a set
// holding a / is no set (bash matches each part of a name between /s on
// its own).
func setEnd(g []rune, i int) (int, bool) {
	j := i + 1
	if j < len(g) && (g[j] == '!' || g[j] == '^') {
		j++
	}
	if j < len(g) && g[j] == ']' {
		j++
	}
	for ; j < len(g); j++ {
		switch c := g[j]; {
		case c == ']':
			return j + 1, true
		case c == '/':
			return 0, false
		case c == '[' && j+1 < len(g) && (g[j+1] == ':' || g[j+1] == '=' || g[j+1] == '.'):
			d := g[j+1]
			for k := j + 2; k+1 < len(g) && g[k] != '/'; k++ {
				if g[k] == d && g[k+1] == ']' {
					j = k + 1
					break
				}
			}
		}
	}
	return 0, false
}
