package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/shell"
)

// A tool call is audited by what an auditor needs and nothing of its
// content (what a file holds, what a command says, what a page returned;
// the task's sealed steps keep those):
//
//   - target: what it acts on: the cleaned path of a file tool, the origin
//     (scheme://host:port) of a URL, the programs a command runs;
//   - args_sha256: SHA-256 of the arguments as the model sent them, to
//     match the record with the task's steps;
//   - summary: each argument by name, with its value where the value is
//     a path, an origin, a short number, true or false, or a known
//     language, and its size otherwise (a "name" or an "id" the model
//     chose can hold anything).
//
// All of it is cut short (maxTarget, maxSummary) and masked again by the
// Log's redactor.

const (
	maxTarget   = 160
	maxSummary  = 300
	maxPrograms = 8
	// maxNumber bounds the numbers the summary shows (offsets, limits,
	// counts): a longer one may be content (an account or card number).
	maxNumber = 6
)

// knownLanguages are the values of a "language" argument the summary
// shows; any other value is content the model chose, shown by its size.
var knownLanguages = []string{"python", "python3", "javascript", "js", "node", "bash", "sh"}

// CallFacts is what the audit log keeps of a tool call.
type CallFacts struct {
	Target     string
	ArgsSHA256 string
	Summary    string
}

// DescribeCall returns the facts of a call of tool with args.
func DescribeCall(tool string, args json.RawMessage) CallFacts {
	sum := sha256.Sum256(args)
	f := CallFacts{ArgsSHA256: hex.EncodeToString(sum[:])}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(args, &m); err != nil {
		f.Summary = fmt.Sprintf("arguments: %d bytes, not a JSON object", len(args))
		return f
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts, targets []string
	for _, k := range keys {
		name := k
		if !argName(k) {
			name = "?" // not a schema's name: possibly content
		}
		shown, target := describeArg(k, m[k])
		if target != "" {
			targets = append(targets, target)
		}
		parts = append(parts, name+"="+shown)
	}
	f.Target = shorten(strings.Join(targets, " "), maxTarget)
	f.Summary = shorten(strings.Join(parts, " "), maxSummary)
	return f
}

// describeArg returns how the summary shows the argument k with value v,
// and the target it names, if any.
func describeArg(k string, v json.RawMessage) (shown, target string) {
	var s string
	if json.Unmarshal(v, &s) != nil {
		var n json.Number
		var b bool
		switch {
		case json.Unmarshal(v, &b) == nil:
			return fmt.Sprint(b), ""
		case json.Unmarshal(v, &n) == nil && len(n) <= maxNumber:
			return n.String(), ""
		}
		return fmt.Sprintf("<%d bytes>", len(v)), ""
	}
	size := fmt.Sprintf("<%d bytes>", len(s))
	switch k {
	case "path":
		p := cleanPath(s)
		return p, p
	case "url":
		o := origin(s)
		return o, o
	case "command":
		progs := programs(s)
		if len(progs) == 0 {
			return size, ""
		}
		return size + " running " + strings.Join(progs, ","), strings.Join(progs, ",")
	case "language":
		if slices.Contains(knownLanguages, strings.ToLower(s)) {
			return s, ""
		}
	}
	return size, ""
}

// cleanPath returns p cleaned, as the workspace will resolve it.
func cleanPath(p string) string {
	if p == "" {
		return "."
	}
	return path.Clean(strings.ReplaceAll(p, "\\", "/"))
}

// origin returns the scheme, host and port of a URL: its path and query
// may carry data.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<not a URL>"
	}
	return u.Scheme + "://" + u.Host
}

// programs returns the names of the programs a shell command runs.
func programs(cmd string) []string {
	sc, err := shell.Parse(cmd)
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range sc.Commands {
		name := path.Base(c.Name)
		if shortName(name, 32) && !slices.Contains(out, name) && len(out) < maxPrograms {
			out = append(out, name)
		}
	}
	return out
}

// argName reports whether k looks like an argument a schema names: 1 to
// 32 lower-case letters, digits and '_'.
func argName(k string) bool {
	if k == "" || len(k) > 32 {
		return false
	}
	for _, c := range []byte(k) {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// shortName reports whether s is 1 to max letters, digits and ._+:-.
func shortName(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._+:-", c) >= 0) {
			return false
		}
	}
	return true
}

// shorten cuts s to at most n bytes, on a rune boundary, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// DescribeCommand returns the facts of a command line run in the sandbox:
// the programs it runs as its target (the program, and for "SHELL -c
// SCRIPT" those the script runs), the SHA-256 of its arguments (joined by
// NUL bytes) and their number and size as its summary.
func DescribeCommand(argv []string) CallFacts {
	sum := sha256.Sum256([]byte(strings.Join(argv, "\x00")))
	f := CallFacts{ArgsSHA256: hex.EncodeToString(sum[:])}
	if len(argv) == 0 {
		return f
	}
	progs := []string{"?"}
	if name := path.Base(argv[0]); shortName(name, 32) {
		progs[0] = name
	}
	if len(argv) >= 3 && argv[1] == "-c" {
		for _, p := range programs(argv[2]) {
			if !slices.Contains(progs, p) {
				progs = append(progs, p)
			}
		}
	}
	size := 0
	for _, a := range argv[1:] {
		size += len(a)
	}
	f.Target = shorten(strings.Join(progs, ","), maxTarget)
	f.Summary = fmt.Sprintf("%d arguments, %d bytes", len(argv)-1, size)
	return f
}
