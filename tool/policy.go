package tool

import (
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
)

// mcpPrefix starts the names of tools of MCP servers, which are not known
// when a policy loads.
const mcpPrefix = "mcp__"

// CheckPolicy refuses a policy with a rule that can never match a call of
// the tools known (see CheckRule). The error, of kind bulwark.Invalid,
// names the rule and says why. known is every tool a task may be given,
// offered or not.
func CheckPolicy(p bulwark.Policy, known []Tool) error {
	for _, r := range p.Rules {
		if err := CheckRule(r, known); err != nil {
			return bulwark.E(bulwark.Invalid, "tool.CheckPolicy", "policy rule "+r.String()+": "+bulwark.ErrorMessage(err), err)
		}
	}
	return nil
}

// CheckRule refuses, with an error of kind bulwark.Invalid whose message
// says why without repeating the rule, a rule that can never match a call
// of the tools known: one naming a tool that does not exist (rules for "*"
// and for MCP tools, "mcp__SERVER__TOOL" or "mcp__SERVER__*" for all of a
// server's, are accepted when the name has that form), a pattern for a
// tool whose calls have no target (finish(x)), or a pattern that cannot be
// a target of its tool (a path outside the workspace such as "../x", a
// pattern that is empty once normalised).
func CheckRule(r bulwark.Rule, known []Tool) error {
	const op = "tool.CheckRule"
	if r.Tool == "*" {
		if r.Pattern != "" && !anyTarget(r.Pattern, known) {
			return bulwark.Errorf(bulwark.Invalid, op, "it can never match: no tool has a target the pattern could name")
		}
		return nil
	}
	if strings.HasPrefix(r.Tool, mcpPrefix) {
		return checkMCPName(r.Tool)
	}
	var t Tool
	var names []string
	for _, k := range known {
		names = append(names, k.Name())
		if k.Name() == r.Tool {
			t = k
		}
	}
	if t == nil {
		slices.Sort(names)
		return bulwark.Errorf(bulwark.Invalid, op, "it names no tool: the tools are %s (or * for every tool)", strings.Join(names, ", "))
	}
	if r.Pattern == "" {
		return nil
	}
	pt, ok := t.(Patterner)
	if !ok {
		return bulwark.Errorf(bulwark.Invalid, op,
			"it can never match: %s calls have no target a pattern can name; leave the pattern out", r.Tool)
	}
	forms, err := pt.Patterns(r.Pattern)
	if err != nil {
		return bulwark.E(bulwark.Invalid, op, "it can never match: "+bulwark.ErrorMessage(err), err)
	}
	if len(forms) == 0 {
		return bulwark.Errorf(bulwark.Invalid, op, "it can never match a %s call", r.Tool)
	}
	return nil
}

// anyTarget reports whether pattern has a form for one of tools.
func anyTarget(pattern string, tools []Tool) bool {
	for _, t := range tools {
		if pt, ok := t.(Patterner); ok {
			if forms, err := pt.Patterns(pattern); err == nil && len(forms) > 0 {
				return true
			}
		}
	}
	return false
}

// checkMCPName refuses a tool name that starts like an MCP tool's but
// cannot be one: "mcp__SERVER__TOOL", where SERVER is a server's name
// (letters, digits, _ and -, at most 32, no "__", not ending with _) and
// TOOL a tool's as offered (letters, digits, _ and -, at most 128) or * for
// all of the server's.
func checkMCPName(name string) error {
	const op = "tool.CheckRule"
	const want = "an MCP tool is named mcp__SERVER__TOOL (or mcp__SERVER__* for all of a server's tools)"
	server, rest, ok := strings.Cut(name[len(mcpPrefix):], "__")
	if !ok || server == "" || rest == "" {
		return bulwark.Errorf(bulwark.Invalid, op, "it names no tool: %s", want)
	}
	if len(server) > 32 || !nameChars(server, "_-") || strings.HasSuffix(server, "_") {
		return bulwark.Errorf(bulwark.Invalid, op, "it names no tool: the server name %q is not one (letters, digits, _ and -, at most 32, not ending with _); %s", server, want)
	}
	if rest == "*" {
		return nil
	}
	// A server's tool named "a.b" is offered as mcp__SERVER__a_b (model
	// providers refuse other characters): a rule naming it with the dot
	// would never match.
	if len(rest) > 128 || !nameChars(rest, "_-") {
		return bulwark.Errorf(bulwark.Invalid, op, "it names no tool: the tool name %q is not one (letters, digits, _ and -, at most 128; other characters of a server's tool name become _); %s", rest, want)
	}
	return nil
}

// nameChars reports whether s has only ASCII letters, digits and the
// characters of extra.
func nameChars(s, extra string) bool {
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)
		if !ok {
			return false
		}
	}
	return true
}
