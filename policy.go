package bulwark

import (
	"fmt"
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

// Rule is one line of a policy: calls of Tool (or "*" for every tool) whose
// target matches Pattern get Decision. The target is what the call acts on:
// the command line of run_shell, the language of run_code, the path of a
// file tool, the URL of fetch_url. Pattern is a glob where * matches any run
// of characters (spaces and slashes included) and ? one character; an empty
// pattern matches every call of the tool.
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

// Decide returns the strictest decision of the rules matching a call of
// tool on target, or the default when none matches.
func (p Policy) Decide(tool, target string) Verdict {
	v := Verdict{Decision: p.Default, Rule: "default"}
	if v.Decision == "" {
		v.Decision = Allow
	}
	matched := false
	for _, r := range p.Rules {
		if r.Tool != "*" && r.Tool != tool {
			continue
		}
		if r.Pattern != "" && !Glob(r.Pattern, target) {
			continue
		}
		if !matched || r.Decision.strictness() > v.Decision.strictness() {
			v = Verdict{Decision: r.Decision, Rule: r.String()}
			matched = true
		}
	}
	return v
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
		r.Tool, r.Pattern = strings.TrimSpace(head[:j]), head[j+1:len(head)-1]
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
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
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
