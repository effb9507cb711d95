package bulwark

import "strings"

// Effects are what one tool call will do, declared by its tool from the
// call's arguments before it runs (see tool.Tool's Effects method). Policy,
// taint, canary checks, the audit log and the Agent Protocol's artifacts all
// read this declaration instead of knowing tools by name or parsing their
// arguments. Paths are workspace paths in canonical form (workspace.Clean:
// "./src/../main.py" is "main.py"); an absolute path appears only where the
// workspace is unrestricted.
type Effects struct {
	// Reads and Writes are the files and folders the call reads and
	// changes. A deleted file is a write, and is listed in Removes too.
	Reads   []string `json:"reads,omitempty"`
	Writes  []string `json:"writes,omitempty"`
	Removes []string `json:"removes,omitempty"`
	// Runs are the command lines the call runs, in canonical form
	// (shell.Command.String: the program's resolved name, flags
	// normalised).
	Runs []string `json:"runs,omitempty"`
	// Dynamic lists why the call may run something that cannot be known
	// before it runs (eval, a command name from a variable, a script that
	// does not parse). Where it is not empty, every ask and deny rule for
	// the tool applies.
	Dynamic []string `json:"dynamic,omitempty"`
	// URLs are the URLs the call fetches; Hosts their host names, lowercase.
	URLs  []string `json:"urls,omitempty"`
	Hosts []string `json:"hosts,omitempty"`
	// Secrets are the names of the secrets the call uses through
	// {{secret:NAME}} placeholders, found in its decoded arguments.
	Secrets []string `json:"secrets,omitempty"`
	// Targets are what the tool's policy patterns are matched against:
	// the path of a file tool, each command of a shell script, the URL of
	// a fetch, "LANGUAGE: CODE" and the commands of run_code. Empty for
	// tools a pattern cannot name (finish, ask_user).
	Targets []string `json:"targets,omitempty"`
	// Display is what a person asked to approve the call is shown:
	// exactly what will run (a command line or program as written, since
	// the canonical commands leave out redirections and the like), or the
	// cleaned path, or the URL.
	Display string `json:"display,omitempty"`
	// Calls are the tools of other programs the call invokes, as
	// "SERVER/TOOL" (an MCP server's tool), whose effects Bulwark cannot
	// see: a side effect, unless the tool declares itself read-only (then
	// Calls is empty).
	Calls []string `json:"calls,omitempty"`
	// Destructive says the tool declares that it may destroy or overwrite
	// data beyond the workspace (MCP's destructiveHint): without a policy
	// rule that allows it, the call is asked about.
	Destructive bool `json:"destructive,omitempty"`
	// Idempotent declares that running the call again changes nothing
	// and gives the same result (it only reads): a call that a restart
	// cut off is then run again rather than reported interrupted.
	Idempotent bool `json:"idempotent,omitempty"`
}

// SideEffects reports whether the call can change or leak something beyond
// the workspace folder scratch (a folder name such as "scratch"): writes
// elsewhere, any program run or unknown, a fetch to a host not in known, any
// use of a secret, any call of another program's tool (Calls). Reading files is not a side effect.
func (e Effects) SideEffects(scratch string, known func(host string) bool) bool {
	if len(e.Runs) > 0 || len(e.Dynamic) > 0 || len(e.Secrets) > 0 || len(e.Calls) > 0 {
		return true
	}
	for _, w := range e.Writes {
		if !strings.HasPrefix(w, scratch+"/") {
			return true
		}
	}
	for _, h := range e.Hosts {
		if known == nil || !known(h) {
			return true
		}
	}
	return false
}

// Summary is a one-line account of the effects for people and the audit
// log: "writes src/main.py; runs rm -f -r build; hosts example.com".
func (e Effects) Summary() string {
	var parts []string
	add := func(verb string, list []string) {
		if len(list) > 0 {
			parts = append(parts, verb+" "+strings.Join(list, ", "))
		}
	}
	add("reads", e.Reads)
	add("writes", e.Writes)
	add("removes", e.Removes)
	add("runs", e.Runs)
	add("runs unknown programs:", e.Dynamic)
	add("fetches", e.URLs)
	add("calls", e.Calls)
	add("uses secrets", e.Secrets)
	return strings.Join(parts, "; ")
}

// Mask returns a copy of e with every string passed through mask.
func (e Effects) Mask(mask func(string) string) Effects {
	m := func(list []string) []string {
		if list == nil {
			return nil
		}
		out := make([]string, len(list))
		for i, s := range list {
			out[i] = mask(s)
		}
		return out
	}
	return Effects{Reads: m(e.Reads), Writes: m(e.Writes), Removes: m(e.Removes), Runs: m(e.Runs),
		Dynamic: m(e.Dynamic), URLs: m(e.URLs), Hosts: m(e.Hosts), Secrets: m(e.Secrets), Targets: m(e.Targets),
		Calls: m(e.Calls), Destructive: e.Destructive, Display: mask(e.Display), Idempotent: e.Idempotent}
}
