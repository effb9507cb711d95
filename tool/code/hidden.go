package code

import (
	"path"
	"strings"

	"github.com/bulwark-agents/bulwark"
)

// HiddenFiles returns the patterns of the workspace's files that the
// sandbox hides from the commands of run_shell and run_code
// (sandbox.Spec.Hide): the patterns of p's deny rules for either tool
// (or "*") that name a file: one word without a blank (*.env,
// secrets/*), or any pattern of a rule for "*" (*(my keys/*)), as paths
// relative to the workspace (./ and /workspace/
// dropped, cleaned as a file tool's path is). The rules read each
// command's words before it runs; a program that computes a name gets
// past any reading (python3 -c "open('sec'+'rets/k')"), and meets the
// hidden files instead. Ask rules hide nothing: a person approved the
// command they saw. A pattern for a path outside the workspace
// (/etc/*) is left out: only the workspace is the agent's.
func HiddenFiles(p bulwark.Policy) []string {
	return deniedFiles(p, func(tool string) bool { return tool == "*" || tool == "run_shell" || tool == "run_code" })
}

// FilesDeniedToAll returns the patterns, in HiddenFiles' form, of p's
// deny rules for every tool ("*") that name a file: what a program that
// reads the workspace on behalf of tools other than run_shell and
// run_code (a stdio MCP server's) must not reach. A rule for one tool
// (run_shell, or an MCP tool: its pattern is matched against the call's
// arguments as JSON, not a path, and one process serves all of its
// server's tools) does not count.
func FilesDeniedToAll(p bulwark.Policy) []string {
	return deniedFiles(p, func(tool string) bool { return tool == "*" })
}

// deniedFiles returns the patterns of p's deny rules for the tools
// that count which name a file (see HiddenFiles).
func deniedFiles(p bulwark.Policy, counts func(tool string) bool) []string {
	var out []string
	for _, r := range p.Rules {
		if r.Decision != bulwark.Deny || !counts(r.Tool) {
			continue
		}
		w := strings.TrimSpace(r.Pattern)
		// A pattern of several words in a rule for one tool is a
		// command's (run_shell(rm -rf *)); in a rule for every tool it
		// also names a file, whose name holds a blank (*(my keys/*)),
		// and which read_file refuses: hidden too. A command's words
		// hide only a file named so.
		if w == "" || (r.Tool != "*" && strings.ContainsAny(w, " \t\n")) {
			continue
		}
		c := path.Clean(w)
		if path.IsAbs(c) {
			rel, ok := inWorkspace(c)
			if !ok {
				continue
			}
			c = rel
		}
		if c == "." || c == ".." || strings.HasPrefix(c, "../") || strings.ContainsRune(c, 0) {
			continue
		}
		out = append(out, c)
	}
	return out
}
