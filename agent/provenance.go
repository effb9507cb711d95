package agent

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"maps"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/net/idna"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/guard"
	"github.com/bulwark-agents/bulwark/shell"
	"github.com/bulwark-agents/bulwark/tool"
)

// Provenance: the second line of defence in the default taint mode
// (detected), which does not rest on the guard. A planted instruction
// has to name what it wants done: the file to write or delete, the
// command to run, the host to send data to. So a call with side effects
// whose target was spelled out in text from outside (a page, a search
// result, a file, an MCP answer) and not in the task or by a person is
// one that text asked for, whatever the guard scored it: it waits for a
// person, as a tainted task's calls do. Calls whose targets come from the
// person's own words, and calls with no side effects, run as before.
//
// Targets are compared as text, lowercased with whitespace collapsed, so
// "Touch  PWNED.txt" in a page is "touch pwned.txt" in a call. What is
// compared:
//   - a file written or removed outside scratch/, by its cleaned path;
//   - a command run, as written and in canonical form, and a program
//     given to run_code;
//   - a URL with a query whose host outside text named, unless the text
//     holds the very URL (following a link is reading; putting data into
//     a link to a host a page named is what exfiltration looks like);
//   - any URL that carries a secret, to a host outside text named.
//
// Left out: the names list_files and search_files show (they are the
// workspace's own names; a coding task lists, then edits), targets under
// four characters, and, in source mode, everything (the task is tainted
// at the first outside text anyway) and, in off mode, everything.

// maxOutside bounds the outside text a task keeps for the comparison;
// the oldest goes first.
const maxOutside = 4 << 20

// maxTargets bounds the targets of one call that are compared; a call
// with more asks.
const maxTargets = 256

// minTarget is the shortest target compared: shorter ones ("ls", "a")
// turn up in any text.
const minTarget = 4

type provenance struct {
	outside []sourced
	size    int
	reads   int      // outside texts taken in, ever
	trusted []string // the task, the person's messages and answers, instructions
	// read reads a workspace file, to see whether a script a command runs
	// or moves out of scratch/ repeats outside text; nil: none is read.
	read func(name string) ([]byte, error)
	// gone holds the words that name something (as operands has them)
	// of outside text that went past maxOutside, each with its source;
	// past maxGone words, overflow is the source of the first text not
	// kept, and every target that is not trusted asks.
	gone     map[string]string
	overflow string
}

// maxGone bounds the words kept of outside text that went past maxOutside.
const maxGone = 1 << 16

type sourced struct {
	source string // "fetch_url: https://..." as in guard events
	text   string // normalized
}

// normText is the form texts and targets are compared in, the same on
// both sides, so that a page cannot spell a target in a way the call,
// which the model writes plainly, does not hold: the guard's view
// (invisible characters dropped, NFKC, common homoglyphs folded to
// ASCII), lowercased, without quotes (a shell reads touch 'x' as touch
// x), with "\\" made "/", percent-escapes decoded, a word's leading
// "./" or "/workspace/" dropped, whitespace collapsed and a path's "/./"
// and "//" made "/" (a call's path is cleaned; "http://" is "http:/" on
// both sides).
func normText(s string) string {
	s = strings.ToLower(guard.Normalize(s))
	s = strings.Map(func(r rune) rune {
		switch r {
		case '\'', '"', '`':
			return -1
		case '\u3002', '\uff61': // ideographic full stops, which IDNA reads as "."
			return '.'
		}
		return r
	}, s)
	s = strings.ReplaceAll(s, "\\", "/")
	fields := strings.Fields(s)
	for i, f := range fields {
		if strings.Contains(f, "%") {
			if d, err := url.PathUnescape(f); err == nil && !strings.ContainsFunc(d, unicode.IsSpace) {
				fields[i] = d
			}
		}
		if f := fields[i]; strings.HasPrefix(f, "./") && len(f) > 2 {
			fields[i] = f[2:]
		} else if strings.HasPrefix(f, "/workspace/") && len(f) > len("/workspace/") {
			fields[i] = f[len("/workspace/"):] // the workspace as commands see it
		}
	}
	s = strings.Join(fields, " ")
	for strings.Contains(s, "/./") {
		s = strings.ReplaceAll(s, "/./", "/")
	}
	for strings.Contains(s, "//") {
		s = strings.ReplaceAll(s, "//", "/")
	}
	return s
}

// clone returns a copy of p that shares nothing with it.
func (p *provenance) clone() provenance {
	return provenance{outside: slices.Clone(p.outside), size: p.size, trusted: slices.Clone(p.trusted), read: p.read, reads: p.reads,
		gone: maps.Clone(p.gone), overflow: p.overflow}
}

func (p *provenance) addOutside(source, text string) {
	n := normText(text)
	if n == "" {
		return
	}
	p.reads++
	if len(n) > maxOutside {
		p.forget(sourced{source, n[maxOutside:]})
		n = n[:maxOutside]
	}
	p.outside = append(p.outside, sourced{source, n})
	p.size += len(n)
	for p.size > maxOutside && len(p.outside) > 1 {
		p.forget(p.outside[0])
		p.size -= len(p.outside[0].text)
		p.outside = p.outside[1:]
	}
}

// forget keeps of outside text that goes past maxOutside the words that
// name something: a page cannot have its target forgotten by having the
// model read 4 MiB of something else first.
func (p *provenance) forget(s sourced) {
	if p.overflow != "" {
		return
	}
	if p.gone == nil {
		p.gone = map[string]string{}
	}
	add := func(w string) bool {
		if _, ok := p.gone[w]; ok {
			return true
		}
		if len(p.gone) >= maxGone {
			p.overflow = s.source + " (more outside text than is kept)"
			return false
		}
		p.gone[strings.Clone(w)] = s.source
		return true
	}
	for w := range strings.FieldsSeq(s.text) {
		w = trimWord(w)
		if !names(w) {
			continue
		}
		if !add(w) {
			return
		}
		if u, err := url.Parse(w); err == nil && u.Hostname() != "" && !add(u.Hostname()) {
			return
		}
	}
}

// trimWord is w without the punctuation around it.
func trimWord(w string) string {
	return strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// names reports whether a word may name something (a file, a directory,
// a host, a URL): four characters or more with a "/", "." or digit, and
// not only those.
func names(w string) bool {
	return len(w) >= minTarget && strings.ContainsAny(w, "/.0123456789") &&
		strings.ContainsFunc(w, func(r rune) bool { return r != '.' && r != '/' && r != '*' })
}

func (p *provenance) addTrusted(text string) {
	if n := normText(text); n != "" {
		p.trusted = append(p.trusted, n)
	}
}

// from returns the source of the first outside text that holds target
// while no trusted text does, or "".
func (p *provenance) from(target string) string {
	t := normText(target)
	if len(t) < minTarget || p.isTrusted(t) {
		return ""
	}
	for _, s := range p.outside {
		if strings.Contains(s.text, t) {
			return s.source
		}
	}
	if p.overflow != "" {
		return p.overflow
	}
	if src, ok := p.gone[trimWord(t)]; ok {
		return src
	}
	return ""
}

// isTrusted reports whether a trusted text holds t (normalized) as a
// whole: a task that names data.sh does not make a.sh the person's, nor
// x/ci/run.sh ci/run.sh.
func (p *provenance) isTrusted(t string) bool {
	for _, s := range p.trusted {
		if containsWhole(s, t) {
			return true
		}
	}
	return false
}

// containsWhole reports whether s holds t with no part of a name right
// before or after it (a sentence's full stop after it is not one).
func containsWhole(s, t string) bool {
	inName := func(b byte) bool {
		return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '-' || b == '/' || b >= 0x80
	}
	for i := 0; ; {
		j := strings.Index(s[i:], t)
		if j < 0 {
			return false
		}
		start, end := i+j, i+j+len(t)
		before := start == 0 || !inName(s[start-1]) && s[start-1] != '.'
		after := end == len(s) || !inName(s[end]) && (s[end] != '.' || end+1 == len(s) || !inName(s[end+1]))
		if before && after {
			return true
		}
		i = start + 1
	}
}

// verbatim reports whether some outside text holds target as it is.
func (p *provenance) verbatim(target string) bool {
	t := normText(target)
	for _, s := range p.outside {
		if strings.Contains(s.text, t) {
			return true
		}
	}
	return false
}

// echo says why a call with effects e is one outside text asked for: its
// target and where the text came from; "" when it is not.
func (p *provenance) echo(e tool.Effects) string {
	if len(p.outside) == 0 {
		return ""
	}
	say := func(what, target, source string) string {
		return fmt.Sprintf("%s %q was spelled out in text from %s, not in the task or by a person", what, oneLine(target, 120), source)
	}
	var ops, pieces []string
	if len(e.Runs) > 0 || len(e.Dynamic) > 0 {
		ops, pieces = operands(e), written(e.Display)
	}
	if len(e.Calls) > 0 {
		ops = append(ops, argWords(e.Targets)...)
	}
	if n := len(e.Writes) + len(e.Removes) + len(e.Targets) + len(e.Runs) + len(ops) + len(pieces) + len(e.URLs); n > maxTargets {
		// Each target is one pass over up to maxOutside bytes: a call
		// with thousands would take minutes to check. It asks instead.
		return fmt.Sprintf("the call has %d targets, more than are compared with text from outside (%d)", n, maxTargets)
	}
	for _, list := range [][]string{e.Writes, e.Removes} {
		for _, w := range list {
			if strings.HasPrefix(w, scratchDir+"/") {
				continue
			}
			if src := p.from(w); src != "" {
				return say("the file", w, src)
			}
		}
	}
	if len(e.Runs) > 0 || len(e.Dynamic) > 0 {
		for _, list := range [][]string{e.Targets, e.Runs} {
			for _, c := range list {
				if src := p.from(c); src != "" {
					return say("the command", c, src)
				}
			}
		}
		for _, c := range pieces {
			if src := p.from(c); src != "" {
				return say("the command", c, src)
			}
		}
		for _, t := range e.Targets {
			if _, code, ok := strings.Cut(t, ": "); ok && strings.Contains(e.Display, code) {
				if src := p.copied(code); src != "" {
					return say("the program", t, src)
				}
			}
		}
		scripts := 0
		for _, w := range ops {
			if src := p.from(w); src != "" {
				return say("the command's operand", w, src)
			}
			if name := strings.TrimPrefix(w, "./"); strings.HasPrefix(name, scratchDir+"/") && p.read != nil && scripts < maxScripts {
				scripts++
				if b, err := p.read(name); err == nil {
					if src := p.copied(string(b[:min(len(b), maxScript)])); src != "" {
						return say("the scratch file", name, src)
					}
				}
			}
		}
	}
	if len(e.Calls) > 0 {
		for _, w := range argWords(e.Targets) {
			if src := p.from(w); src != "" {
				return say("the argument", w, src)
			}
		}
	}
	for _, raw := range e.URLs {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			continue
		}
		host, src := p.hostFrom(u.Hostname())
		if src == "" {
			continue
		}
		if len(e.Secrets) > 0 {
			return say("the host that a secret would be sent to,", host, src)
		}
		if (u.RawQuery != "" || p.unread(u, host)) && !p.verbatim(raw) {
			return say("the host that data would be sent to,", host, src)
		}
	}
	return ""
}

// maxSegments bounds the parts of a URL that unread compares; a URL
// with more is taken to carry data.
const maxSegments = 16

// unread reports whether u, a URL to a host that outside text named
// (named), carries words no outside text holds: a segment of its path or
// a label of its host in front of named, of four characters or more.
// That is data being put into the URL, as a query would be: "send your
// summary to collect.evil.test/c/<summary>" or to
// <summary>.evil.test. A path made of words the pages hold (docs.test/
// guide/install) is following or guessing a link, which is reading.
func (p *provenance) unread(u *url.URL, named string) bool {
	var parts []string
	if h := strings.TrimRight(strings.ToLower(u.Hostname()), "."); strings.HasSuffix(h, "."+named) {
		parts = strings.Split(strings.TrimSuffix(h, "."+named), ".")
	}
	for seg := range strings.SplitSeq(u.EscapedPath(), "/") {
		if d, err := url.PathUnescape(seg); err == nil {
			seg = d
		}
		parts = append(parts, seg)
	}
	checked := 0
	for _, w := range parts {
		w = normText(w)
		if len(w) < minTarget {
			continue
		}
		if checked++; checked > maxSegments || !p.verbatim(w) {
			return true
		}
	}
	return false
}

// Bounds on what copied reads: scratch files a command names, bytes of
// each, and lines of each.
const (
	maxScripts     = 8
	maxScript      = 64 << 10
	maxScriptLines = 64
	minLine        = 12 // shorter lines (fi, done, import os) turn up anywhere
)

// copied returns the source of outside text that a program or script
// was copied from, or "": at least half of its lines of minLine
// characters or more are in outside text and not in trusted text. A page
// cannot get its script run by having it saved in scratch/ (where writes
// are free) and run or moved from there under a name of the model's
// choosing, nor given to run_code, whose target is the whole program.
func (p *provenance) copied(text string) string {
	lines, from, src := 0, 0, ""
	for l := range strings.Lines(text) {
		t := normText(l)
		if len(t) < minLine {
			continue
		}
		if lines++; lines > maxScriptLines {
			break
		}
		if s := p.from(t); s != "" {
			from++
			src = s
		}
	}
	if lines == 0 || 2*from < min(lines, maxScriptLines) {
		return ""
	}
	return src
}

// hostFrom returns the name under which outside text named host, and
// its source, or "", "": the host as the call has it (fetch_url's
// canonical form: lower case, no trailing dot, punycode), its Unicode
// form (a page may write the name as a person reads it), and each domain
// above it down to its last two labels, so that data spelled into a
// subdomain (summary-of-the-task.evil.test) of a host the page named goes
// nowhere unasked either.
func (p *provenance) hostFrom(host string) (string, string) {
	host = strings.TrimRight(strings.ToLower(host), ".")
	top := lastLabels(host, 2)
	for h := host; ; {
		if src := p.from(h); src != "" {
			return h, src
		}
		if u, err := idna.ToUnicode(h); err == nil && u != h {
			if src := p.from(u); src != "" {
				return u, src
			}
		}
		i := strings.IndexByte(h, '.')
		if h == top || i < 0 || !strings.HasSuffix(h[i+1:], top) {
			return "", ""
		}
		h = h[i+1:]
	}
}

// written returns the pieces of a command line as written, split at
// ";", "&", "|" and line ends: the canonical form sorts and splits flags
// ("rm -f -r ~"), so a page's "rm -rf ~", whose operand is too short to
// compare on its own, is found as written.
func written(line string) []string {
	pieces := strings.FieldsFunc(line, func(r rune) bool { return r == ';' || r == '&' || r == '|' || r == '\n' })
	return pieces[:min(len(pieces), maxTargets)]
}

// operands returns the words of a command line that name something (a
// file, a directory, a URL: an argument or a redirection's file with a
// "/", "." or a digit in it) and are not flags: a page that says
// "rm -rf build-k7" is not followed unasked by rm -f -r build-k7, the
// canonical line, nor "write it to ci/x.sh" by echo ... > ci/x.sh. The
// line is read from Display, as the tool shows it; one that does not
// parse adds nothing (it is Dynamic, and asked about as a whole).
func operands(e tool.Effects) []string {
	sc, err := shell.Parse(e.Display)
	if err != nil {
		return nil
	}
	var out []string
	for _, c := range sc.Commands {
		for _, w := range c.Words() {
			if !strings.HasPrefix(w, "-") && names(w) {
				out = append(out, w)
			}
		}
	}
	return out
}

// argWords returns the string values of an MCP call's arguments (its
// targets, JSON) that are one word naming something: the address an
// e-mail goes to, the repository an issue is filed in, a path, a URL.
// Values with blanks (an issue's body) are not compared: quoting a page
// there is what a summary does. At most maxTargets are returned.
func argWords(targets []string) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			if w := strings.TrimSpace(v); !strings.ContainsAny(w, " \t\n") && (names(w) || strings.Contains(w, "@") && len(w) >= minTarget) {
				out = append(out, w)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, t := range targets {
		var v any
		if json.Unmarshal([]byte(t), &v) == nil {
			walk(v)
		}
	}
	return out[:min(len(out), maxTargets+1)]
}

// provenanceVerdict turns allow into ask for a call with side effects
// that outside text asked for (see echo), in detected mode, and says why.
func (r *run) provenanceVerdict(v bulwark.Verdict, e tool.Effects) (bulwark.Verdict, string) {
	if r.cfg.Taint != bulwark.TaintDetected && r.cfg.Taint != "" {
		return v, ""
	}
	if v.Decision != bulwark.Allow || !e.SideEffects(scratchDir, func(string) bool { return true }) && len(e.URLs) == 0 {
		return v, ""
	}
	if namedAllow(v.Rule) {
		// A person allowed exactly these calls by pattern
		// (run_shell(go test *)=allow): that is their word, wherever the
		// model read the command. A rule for the whole tool or for
		// every call is not.
		return v, ""
	}
	why := r.prov.echo(e)
	if why == "" {
		return v, ""
	}
	return bulwark.Verdict{Decision: bulwark.Ask, Rule: "provenance"}, why +
		"; a call that text from outside asked for needs a person's approval"
}

// fromOutside returns the source of outside text that holds six words
// in a row of text (24 characters or more), or "": what remember stores
// is marked tainted when it repeats outside text, as text a tainted task
// wrote is. Words the person wrote are not counted. Words are compared
// without the punctuation around them. The runs of six words are hashed,
// so that the check reads each text once: O(text + trusted + outside),
// not one pass over up to maxOutside bytes for each run of text.
func (p *provenance) fromOutside(text string) string {
	seed := maphash.MakeSeed()
	mine := map[uint64]bool{}
	sixWords(seed, normText(text), func(h uint64, n int) bool {
		if n >= 24 {
			mine[h] = true
		}
		return true
	})
	for _, t := range p.trusted {
		if len(mine) == 0 {
			break
		}
		sixWords(seed, t, func(h uint64, _ int) bool {
			delete(mine, h)
			return true
		})
	}
	if len(mine) == 0 {
		return ""
	}
	for _, s := range p.outside {
		found := false
		sixWords(seed, s.text, func(h uint64, _ int) bool {
			found = mine[h]
			return !found
		})
		if found {
			return s.source
		}
	}
	return ""
}

// sixWords calls f with the hash and the length (with the spaces between)
// of each run of six words of text, until f returns false. A word is a
// run of non-blank characters without the punctuation around it.
func sixWords(seed maphash.Seed, text string, f func(h uint64, n int) bool) {
	const run = 6
	var ring [run]string
	k := 0
	for w := range strings.FieldsSeq(text) {
		w = strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		if w == "" {
			continue
		}
		ring[k%run] = w
		k++
		if k < run {
			continue
		}
		var h maphash.Hash
		h.SetSeed(seed)
		n := run - 1
		for j := k - run; j < k; j++ {
			h.WriteString(ring[j%run])
			h.WriteByte(' ')
			n += len(ring[j%run])
		}
		if !f(h.Sum64(), n) {
			return
		}
	}
}

// namedAllow reports whether rule, the policy rule that allowed a call,
// names the calls it allows by a pattern narrower than "*".
func namedAllow(rule string) bool {
	open, end := strings.IndexByte(rule, '('), strings.LastIndex(rule, ")=")
	return explicitRule(rule) && open > 0 && end > open && strings.TrimSpace(rule[open+1:end]) != "*"
}

// lastLabels is the last n labels of host ("evil.test" of
// "a.b.evil.test"), or host when it has fewer. Two labels, not the
// registrable domain of the public suffix list, whose package would bring
// net/http into the agent loop: under a suffix such as co.uk, a page that
// names "co.uk" makes data to any host under it ask, which errs on the
// side of asking.
func lastLabels(host string, n int) string {
	i := len(host)
	for ; n > 0; n-- {
		j := strings.LastIndexByte(host[:i], '.')
		if j < 0 {
			return host
		}
		i = j
	}
	return host[i+1:]
}

// noteWrites records the files a call of a file tool wrote (a write with
// no command run), whose text read back is the model's own; a command
// that writes a file (a redirect) makes it unknown again, since what it
// wrote may have come from anywhere.
func (r *run) noteWrites(e tool.Effects, failed bool) {
	if failed {
		return
	}
	own := len(e.Runs) == 0 && len(e.Dynamic) == 0 && len(e.URLs) == 0
	for _, w := range e.Writes {
		if !own {
			delete(r.wrote, w)
			continue
		}
		if r.wrote == nil {
			r.wrote = map[string]bool{}
		}
		r.wrote[w] = true
	}
}
