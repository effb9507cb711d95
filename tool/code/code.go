// Package code holds the tools that run code: run_shell (a command line run
// by bash) and run_code (a program in Python, JavaScript or bash). Both run
// only through tool.Env.Exec, which the embedding program backs with the
// sandbox; where it is nil they refuse rather than run unprotected.
package code

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	sh "github.com/bulwark-agents/bulwark/shell"
	"github.com/bulwark-agents/bulwark/tool"
)

// Shell returns run_shell.
func Shell() tool.Tool { return shell{} }

// Code returns run_code.
func Code() tool.Tool { return program{} }

type shell struct{}

func (shell) Name() string { return "run_shell" }
func (shell) Description() string {
	return "Run a command line with bash -c in the sandbox. The working directory is the workspace (/workspace); " +
		"only allowed programs run, there is no network unless the task allows domains, and the command is killed at its time limit. " +
		"Returns the exit status, stdout and stderr."
}
func (shell) Schema() *tool.Schema {
	return &tool.Schema{Type: "object", Required: []string{"command"}, Properties: map[string]*tool.Schema{
		"command": {Type: "string", Description: "the command line, e.g. \"python3 greet.py Ada\"", MinLength: 1, MaxLength: 64 << 10},
	}}
}

// Effects are the simple commands of the script, as shell.Parse reads
// them: a policy says run_shell(rm -rf *)=deny and "rm -fr *", "cd . && rm
// -rf *" and the like are caught. What cannot be known before the script
// runs (eval, a command name from a variable, a script that does not parse)
// is Dynamic.
func (shell) Effects(args json.RawMessage) (tool.Effects, error) {
	var a struct{ Command string }
	if err := json.Unmarshal(args, &a); err != nil {
		return tool.Effects{}, bulwark.E(bulwark.Invalid, "run_shell", "the arguments do not fit run_shell", err)
	}
	e := tool.Effects{Display: a.Command}
	script(&e, a.Command)
	e.Targets = e.Runs
	return e, nil
}

// Patterns puts a policy pattern in the form of the commands it is
// matched against (shell.Pattern: "rm -fr *" is "rm -rf *" is one
// pattern). A pattern that is empty once normalised never matches.
func (shell) Patterns(pattern string) ([]string, error) {
	p, err := sh.Pattern(pattern)
	if w := strings.TrimSpace(pattern); err != nil && w != "" && !strings.ContainsAny(w, " \t\n") {
		// One word that is no command line (a(b/*, x'y.env) still
		// names files, which a command's words are matched against:
		// *(a(b/*)=deny must not match nothing here.
		return []string{w}, nil
	}
	if err != nil {
		return nil, bulwark.E(bulwark.Invalid, "run_shell", "the pattern is not a command line the shell could run", err)
	}
	if strings.TrimSpace(p) == "" {
		return nil, bulwark.Errorf(bulwark.Invalid, "run_shell", "the pattern names no command")
	}
	return append([]string{p}, pathForm(pattern, p)...), nil
}

// pathForm returns, for a pattern of one word with a slash, the path it
// names, cleaned as a file tool's is: run_shell(secrets/k)=deny is read
// as a command named k (a program's directory is not part of its name),
// but is meant for the file, which a command's words are matched
// against (bulwark.Call.Parts). canonical is the pattern's command form.
func pathForm(pattern, canonical string) []string {
	w := strings.TrimSpace(pattern)
	if !strings.Contains(w, "/") || strings.ContainsAny(w, " \t\n\"'\\$`") {
		return nil
	}
	c := path.Clean(w)
	if rel, ok := inWorkspace(c); ok {
		c = rel
	}
	if c == "." || c == ".." || strings.HasPrefix(c, "../") || c == canonical {
		return nil
	}
	return []string{c}
}

// Matcher matches a pattern against each command of the script as
// parsed, not only against its line (see commandMatch).
func (shell) Matcher(args json.RawMessage) func(form, target string) bool {
	var a struct{ Command string }
	json.Unmarshal(args, &a)
	return commandMatcher(a.Command)
}

// Parts returns the words of each command of the script (see
// commandParts).
func (shell) Parts(args json.RawMessage) func(target string) []string {
	var a struct{ Command string }
	json.Unmarshal(args, &a)
	return commandParts(a.Command)
}

// Resolved matches a pattern against each command of the script with
// its operands resolved against the folders it may run in (see
// commandResolved).
func (shell) Resolved(args json.RawMessage) func(form, target string) bool {
	var a struct{ Command string }
	json.Unmarshal(args, &a)
	return commandResolved(a.Command)
}

// Folders returns the folders the commands of the script may run in or
// walk (see commandFolders).
func (shell) Folders(args json.RawMessage) func(target string) []string {
	var a struct{ Command string }
	json.Unmarshal(args, &a)
	return commandFolders(a.Command)
}

func (shell) Globs(args json.RawMessage) func(target string) []string {
	var a struct{ Command string }
	json.Unmarshal(args, &a)
	return commandGlobs(a.Command)
}

// commandGlobs returns, for a target of a call running the bash script
// src, the words of the commands with that line that the shell expands
// against file names, in the forms wordForms gives (and, where a command
// may run in any folder, every word below any folder); none for other
// targets.
func commandGlobs(src string) func(target string) []string {
	f := commandForms(src)
	return func(target string) []string {
		if t := f[target]; t != nil {
			return t.globs
		}
		return nil
	}
}

// commandParts returns, for a target of a call running the bash script
// src, the words (arguments and redirected files) of the commands with
// that line, in the forms wordForms gives; none for other targets.
func commandParts(src string) func(target string) []string {
	f := commandForms(src)
	return func(target string) []string {
		if t := f[target]; t != nil {
			return t.parts
		}
		return nil
	}
}

// commandFolders returns, for a target of a call running the bash script
// src, the folders the commands with that line may run in or walk: the
// folders they may run in and each of their words, as workspace paths
// (bulwark.AnyText for a command that may run anywhere), as globs (see
// bulwark.Call.Folders).
func commandFolders(src string) func(target string) []string {
	f := commandForms(src)
	return func(target string) []string {
		if t := f[target]; t != nil {
			return t.folders
		}
		return nil
	}
}

// commandResolved returns the policy's test of a pattern's form against
// a target of a call running the bash script src, each command with that
// line read with its operands (words that do not start with -) resolved
// against each folder it may run in, cleaned and made relative where they
// are in the workspace: cd build && rm -rf x is also rm -f -r build/x,
// and rm -rf ./build/../build/x is rm -f -r build/x.
func commandResolved(src string) func(form, target string) bool {
	alts := map[string][]sh.Command{}
	if sc, err := sh.Parse(src); err == nil {
		n := 0
		for _, c := range sc.Commands {
			dirs, _ := commandDirs(c)
			for _, d := range dirs {
				if n += len(c.Args); n > maxForms {
					break
				}
				alt := c
				alt.Args = make([]string, len(c.Args))
				for i, a := range c.Args {
					alt.Args[i] = resolve(a, d)
				}
				if !slices.Equal(alt.Args, c.Args) {
					alts[c.String()] = append(alts[c.String()], alt)
				}
			}
		}
	}
	return func(form, target string) bool {
		for _, c := range alts[target] {
			if commandMatch(form, c) {
				return true
			}
		}
		return false
	}
}

// resolve returns an operand a of a command run in dir, cleaned and
// relative where it is a path in the workspace.
func resolve(a, dir string) string {
	if a == "" || strings.HasPrefix(a, "-") || a == "..." {
		return a
	}
	p := a
	if !strings.HasPrefix(p, "/") {
		p = path.Join(dir, p)
	}
	p = path.Clean(p)
	if rel, ok := inWorkspace(p); ok {
		return rel
	}
	return p
}

// forms are the parts, globs and folders of the commands with one line.
type forms struct{ parts, globs, folders []string }

// maxForms bounds the forms listed for the commands of one script; past
// it, each command is given the glob and folder bulwark.AnyText, which
// every one-word deny or ask rule meets.
const maxForms = 1 << 17

func commandForms(src string) map[string]*forms {
	out := map[string]*forms{}
	sc, err := sh.Parse(src)
	if err != nil {
		return out
	}
	type key struct {
		f    *forms
		list int
		s    string
	}
	seen := map[key]bool{}
	add := func(f *forms, list int, s ...string) {
		l := [...]*[]string{&f.parts, &f.globs, &f.folders}[list]
		for _, x := range s {
			if k := (key{f, list, x}); !seen[k] {
				seen[k] = true
				*l = append(*l, x)
			}
		}
	}
	const parts, globs, folders = 0, 1, 2
	v := varsOf(src)
	v.values = sc.Values
	for _, c := range sc.Commands {
		if len(seen) > maxForms {
			break
		}
		f := out[c.String()]
		if f == nil {
			f = &forms{}
			out[c.String()] = f
		}
		dirs, anyDir := commandDirs(c)
		if anyDir {
			add(f, folders, bulwark.AnyText)
		}
		for _, d := range dirs {
			if rel, ok := inWorkspace(d); ok && rel != "." {
				add(f, folders, rel)
			}
		}
		for i, w := range c.Words() {
			if len(seen) > maxForms {
				break
			}
			ps, gs := wordForms(w, false, i < len(c.Args) && opensNone(c.Name), dirs, anyDir, v)
			add(f, parts, ps...)
			add(f, globs, gs...)
			for _, p := range ps {
				// A word is a name, not a glob (echo '*', ls "a[b"):
				// its glob characters are quoted; the words the shell
				// expands are in c.Globs.
				if !strings.Contains(p, bulwark.AnyText) {
					add(f, folders, quoteGlob(p))
				}
			}
			add(f, folders, gs...)
			if i < len(c.Args) && !opensNone(c.Name) {
				// Code given as an argument (python3 -c
				// "open('secrets/k')", awk '{getline l < "secrets/k"}')
				// is read as a here-document is: each piece between
				// blanks, quotes and brackets may be a name.
				for _, p := range codePieces(w) {
					ps, gs := wordForms(p, false, false, dirs, anyDir, v)
					add(f, parts, ps...)
					add(f, globs, gs...)
				}
			}
		}
		for _, g := range c.Globs {
			if len(seen) > maxForms {
				break
			}
			ps, gs := wordForms(g, true, opensNone(c.Name), dirs, anyDir, v)
			add(f, globs, ps...)
			add(f, globs, gs...)
			add(f, folders, ps...)
			add(f, folders, gs...)
		}
	}
	if len(seen) > maxForms {
		// Too many to list: every command may name any file and run in
		// any folder.
		for _, c := range sc.Commands {
			f := out[c.String()]
			if f == nil {
				f = &forms{}
				out[c.String()] = f
			}
			add(f, globs, bulwark.AnyText)
			add(f, folders, bulwark.AnyText)
		}
	}
	return out
}

// commandDirs returns the folders c may run in as absolute paths in the
// sandbox (the workspace, where it starts and $HOME is), and whether it
// may run in any folder: c.AnyDir, or a folder below /proc/PID/cwd.
func commandDirs(c sh.Command) ([]string, bool) {
	if len(c.Dirs) == 0 {
		return []string{workDir}, c.AnyDir
	}
	anyDir := c.AnyDir
	out := make([]string, 0, len(c.Dirs))
	for _, d := range c.Dirs {
		switch {
		case d == "~" || strings.HasPrefix(d, "~/"):
			d = workDir + d[1:]
		case !strings.HasPrefix(d, "/"):
			d = workDir + "/" + d
		}
		// The /proc links are looked at before the path is cleaned: a ..
		// after one goes up from where it leads.
		if _, _, ok := procPath(d, "cwd"); ok {
			anyDir = true
			continue
		}
		if rest, _, ok := procPath(d, "root"); ok {
			d = "/" + rest
		}
		out = append(out, path.Clean(d))
	}
	return out, anyDir
}

// inWorkspace returns p, an absolute cleaned path in the sandbox,
// relative to the workspace, if it is inside it.
func inWorkspace(p string) (string, bool) {
	if p == workDir {
		return ".", true
	}
	rel, ok := strings.CutPrefix(p, workDir+"/")
	return rel, ok
}

// wordForms returns a word of a command and the other forms of the file
// it may name that a pattern for a file tool's path would match: the value
// of a --flag=VALUE or -fVALUE, the path after a REV: (git show
// HEAD:secrets/k), and the path cleaned as a file tool's path is,
// resolved against each folder the command may run in (dirs, absolute)
// and made relative where it is inside the sandbox's workspace
// (./secrets//k, x/../secrets/k, /workspace/secrets/k, ~/secrets/k,
// $HOME/secrets/k, $PWD/k and k after cd secrets are secrets/k). Where the
// command may run in any folder (anyDir), or a word starts with a
// variable holding a folder that cannot be known ($OLDPWD, or $HOME or
// $PWD where the script sets them: see vars), a relative word may name a
// file below any folder: it is given as the glob AnyText/WORD (a glob's
// * would not cross the / of the folders above). They only ever
// add matches of deny and ask rules (see bulwark.Call.Parts and Globs).
func wordForms(w string, glob, opensNone bool, dirs []string, anyDir bool, v vars) (parts, globs []string) {
	if strings.Contains(w, sh.ReadValue) {
		// The words xargs reads.
		if opensNone {
			return nil, nil
		}
		w = strings.ReplaceAll(w, sh.ReadValue, bulwark.AnyText)
	}
	parts = []string{w}
	add := func(list *[]string, p string) {
		if p != "" && !slices.Contains(*list, p) {
			*list = append(*list, p)
		}
	}
	if v.ifs && strings.Contains(w, "$") {
		add(&globs, bulwark.AnyText)
	}
	vals := []string{w}
	if _, val, ok := strings.Cut(w, "="); ok {
		// --file=VALUE, and KEY=VALUE operands (dd if=secrets/k,
		// make F=secrets/k).
		add(&parts, val)
		vals = append(vals, val)
	} else if strings.HasPrefix(w, "-") && len(w) > 2 && w[1] != '-' {
		vals = append(vals, w[2:]) // -fFILE, -CDIR
	}
	if _, p, ok := strings.Cut(w, ":"); ok && !strings.HasPrefix(p, "//") {
		vals = append(vals, p) // HEAD:secrets/k, :secrets/k, host:path
	}
	if i := strings.LastIndexByte(w, ':'); i >= 0 && !strings.HasPrefix(w[i+1:], "//") {
		vals = append(vals, w[i+1:]) // :0:secrets/k
	}
	for _, val := range vals {
		switch {
		case strings.HasPrefix(val, "@"):
			// curl -d @FILE, gcc @FILE: the file's content.
			vals = append(vals, val[1:])
		case len(val) > 7 && strings.EqualFold(val[:7], "file://"):
			// curl file:///workspace/secrets/k
			p := val[7:]
			if h, rest, ok := strings.Cut(p, "/"); ok && strings.EqualFold(h, "localhost") {
				p = "/" + rest
			}
			vals = append(vals, p)
		}
	}
	// A value of a variable may be a glob (f=secr*; cat $f/k), or hold a
	// part only known at run time, written as bulwark.AnyText
	// (f=${g,,}): its forms are globs too.
	substituted := len(vals)
	for _, val := range vals[:substituted] {
		for _, s := range v.substitute(val) {
			// A variable holding what a substitution prints is, read
			// alone, judged where it is made ($(cmd) alone is); beside
			// other text it is any text.
			if strings.Contains(s, sh.ReadValue) {
				// What read gives a variable, from a file or a pipe.
				if opensNone {
					continue
				}
				s = strings.ReplaceAll(s, sh.ReadValue, bulwark.AnyText)
			}
			if s != sh.SubstValue {
				s = strings.ReplaceAll(s, sh.SubstValue, bulwark.AnyText)
				vals = append(vals, s)
				// Read unquoted, a value is split into fields at
				// blanks (x='a secrets/k'; cat $x reads secrets/k).
				if f := strings.Fields(s); len(f) > 1 {
					vals = append(vals, f...)
				}
			}
		}
	}
	// A glob's part that starts with a dot may match . or .. (.*/secrets/k
	// once globskipdots is off, or before bash 5.2): those are read too.
	// A word as written is a name ('.*' quoted); its glob form is in
	// c.Globs.
	for i, val := range vals {
		if glob || i >= substituted {
			vals = append(vals, dotParts(val)...)
		}
	}
	for i, val := range vals {
		anywhere := anyDir
		isGlob := (glob || i >= substituted) && strings.ContainsAny(val, "*?["+bulwark.AnyText)
		add := func(list *[]string, p string) {
			add(list, p)
			if isGlob && list == &parts {
				add(&globs, p)
			}
		}
		val, known := v.expand(val)
		anywhere = anywhere || !known
		// ~ is $HOME, the workspace; ~+ is $PWD, ~- $OLDPWD.
		switch {
		case val == "~" || strings.HasPrefix(val, "~/"):
			if v.home {
				val, anywhere = "."+val[1:], true
			} else {
				val = workDir + val[1:]
			}
		case val == "~+" || strings.HasPrefix(val, "~+/"):
			val = "." + val[2:]
		case val == "~-" || strings.HasPrefix(val, "~-/"):
			val, anywhere = "."+val[2:], true
		}
		// /proc/self/cwd is the working folder, another process's may be
		// any; /proc/PID/root is the root.
		if rest, pid, ok := procPath(val, "cwd"); ok {
			val = "." + rest
			anywhere = anywhere || pid != "self"
		} else if rest, _, ok := procPath(val, "root"); ok {
			val = "/" + rest
		}
		if strings.HasPrefix(val, "/") {
			for _, rel := range below(path.Clean(val), isGlob) {
				add(&parts, rel)
			}
			continue
		}
		for _, d := range dirs {
			// A relative word may reach the /proc links too (cd /proc;
			// cat self/cwd/secrets/k), before it is cleaned.
			p := path.Join(d, val)
			if rest, pid, ok := procPath(d+"/"+val, "cwd"); ok {
				p = path.Join(d, "."+rest)
				if pid != "self" {
					val, anywhere = "."+rest, true
				}
			} else if rest, _, ok := procPath(d+"/"+val, "root"); ok {
				p = path.Clean("/" + rest)
			}
			for _, rel := range below(p, isGlob) {
				add(&parts, rel)
			}
		}
		// A .. after text that may hold a / (unknown text, a **) may
		// lead to any folder: $(echo secrets/x)/../k is secrets/k.
		if tail, ok := afterCrossingDotDot(val); ok {
			add(&globs, bulwark.AnyText+tail)
		}
		// Unknown text may hold a ../ of its own, behind whatever comes
		// before it (docs/$(printf ../secrets/k), "took $x" once a folder
		// "took " exists): the word may name any file that ends as it
		// does after its last unknown text.
		if j := strings.LastIndex(val, bulwark.AnyText); j >= 0 {
			add(&globs, bulwark.AnyText+val[j+len(bulwark.AnyText):])
		}
		if anywhere {
			c := path.Clean(val)
			up := false
			for c == ".." || strings.HasPrefix(c, "../") {
				c = strings.TrimPrefix(strings.TrimPrefix(c, ".."), "/")
				up = true
			}
			switch {
			case c == "" || c == ".":
				add(&globs, bulwark.AnyText)
			case up:
				// Some folder above one that cannot be known: the
				// workspace too.
				add(&globs, bulwark.AnyText+c)
			default:
				add(&globs, bulwark.AnyText+"/"+c)
			}
		}
	}
	return parts, globs
}

// quoteGlob writes a name as a glob that matches it alone (see
// bulwark.GlobsMeet): a backslash before each *, ?, [ and \.
func quoteGlob(s string) string {
	if !strings.ContainsAny(s, `*?[\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// opensNone reports whether the program named opens no file named by its
// operands (echo, printf): what it is given from a file or a pipe
// (sh.ReadValue) names no file it reads.
// codePieces returns the pieces of an argument w that holds a quote, a
// bracket or the like, split there as a here-document's words are
// (sh.InputBreak); none when w has no such break.
func codePieces(w string) []string {
	if !strings.ContainsFunc(w, sh.InputBreak) {
		return nil
	}
	ps := strings.FieldsFunc(w, sh.InputBreak)
	return slices.DeleteFunc(ps, func(p string) bool { return p == w })
}

func opensNone(name string) bool { return name == "echo" || name == "printf" }

// below returns p, an absolute cleaned path in the sandbox, relative to
// the workspace where it may name a file inside it (not the workspace
// itself). Where p is a glob, a glob above the workspace may reach into
// it: /*/secrets/k and ../*/secrets/k are */secrets/k's /workspace/secrets/k,
// secrets/k; /** and a part that may hold a / (AnyText) may be any file.
func below(p string, glob bool) []string {
	if rel, ok := inWorkspace(p); ok {
		if rel == "." {
			return nil
		}
		return []string{rel}
	}
	if !glob || p == "/" {
		return nil
	}
	first, rest, _ := strings.Cut(p[1:], "/")
	switch {
	case strings.Contains(first, "**") || strings.Contains(first, bulwark.AnyText):
		return []string{bulwark.AnyText}
	case rest != "" && bulwark.GlobsMeet("workspace", first):
		return []string{rest}
	}
	return nil
}

// maxDotForms bounds the forms dotParts gives one word.
const maxDotForms = 16

// dotParts returns w with each of its parts between slashes that is a
// glob starting with a dot (.*, .?, ..*) written as each of . and .. it
// may match, where it has any such part.
func dotParts(w string) []string {
	if !strings.Contains(w, ".") || !strings.ContainsAny(w, "*?["+bulwark.AnyText) {
		return nil
	}
	parts := strings.Split(w, "/")
	forms := [][]string{nil}
	changed := false
	for _, p := range parts {
		alts := []string{p}
		if strings.HasPrefix(p, ".") && strings.ContainsAny(p, "*?["+bulwark.AnyText) {
			for _, d := range []string{".", ".."} {
				if bulwark.GlobsMeet(d, p) {
					alts = append(alts, d)
				}
			}
		}
		if len(alts) > 1 {
			changed = true
		}
		if len(forms)*len(alts) > maxDotForms {
			// Too many to list: the part may climb anywhere.
			return []string{bulwark.AnyText}
		}
		var next [][]string
		for _, f := range forms {
			for _, a := range alts {
				next = append(next, append(slices.Clone(f), a))
			}
		}
		forms = next
	}
	if !changed {
		return nil
	}
	var out []string
	for _, f := range forms[1:] { // forms[0] is w
		out = append(out, strings.Join(f, "/"))
	}
	return out
}

// afterCrossingDotDot reports whether w has a .. after a part that may
// hold a / (bulwark.AnyText, or a run of stars), and returns what follows
// the last such .., from its /: the file it names may be below any folder.
func afterCrossingDotDot(w string) (string, bool) {
	parts := strings.Split(w, "/")
	crossing := false
	last := -1
	for i, p := range parts {
		switch {
		case crossing && p == "..":
			last = i
		case strings.Contains(p, bulwark.AnyText) || strings.Contains(p, "**"):
			crossing = true
		}
	}
	if last < 0 {
		return "", false
	}
	if last == len(parts)-1 {
		return "", true
	}
	return "/" + strings.Join(parts[last+1:], "/"), true
}

// vars is what a script does to variables: whether it may set those
// that hold folders, and the values it gives others.
type vars struct {
	// home and pwd report that the script may set HOME or PWD (it names
	// them other than as $HOME and $PWD).
	home, pwd bool
	// values are shell.Script.Values.
	values map[string][]string
	// ifs reports that the script may set IFS to split words at other
	// characters (f=secrets/kxj; IFS=x; cat $f reads secrets/k): a word
	// holding a variable may then name any file.
	ifs bool
}

// maxSubstituted bounds the forms one word gets from the values of the
// variables it holds.
const maxSubstituted = 64

// substitute returns w with each variable it holds ($d, ${d}) replaced by
// each of the values the script gives it, where it holds any such.
func (v vars) substitute(w string) []string {
	if !strings.Contains(w, "$") {
		return nil
	}
	names := make([]string, 0, len(v.values))
	for n := range v.values {
		names = append(names, n)
	}
	for _, n := range referenced(w) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	// Any variable may also be unset where it is read: empty
	// (cat secrets/k$nothing is cat secrets/k).
	values := func(n string) []string {
		if n == "HOME" || n == "PWD" || n == "OLDPWD" {
			return v.values[n] // see expand
		}
		return append(slices.Clone(v.values[n]), "")
	}
	out := []string{w}
	changed, dropped := false, false
	// A value may name other variables (g=$f/k, f+=x is ${f}x): each
	// round replaces those too, up to maxRounds deep.
	for round := 0; round < maxRounds; round++ {
		again := false
		for _, n := range names {
			var next []string
			for _, x := range out {
				if !holdsVar(x, n) {
					next = append(next, x)
					continue
				}
				for _, val := range values(n) {
					if len(next) < maxSubstituted {
						next = append(next, replaceVar(x, n, val))
						changed, again = true, true
					} else {
						dropped = true
					}
				}
			}
			out = next
		}
		if !again {
			break
		}
	}
	if !changed {
		return nil
	}
	if dropped {
		// Too many forms to list: the word may be any text.
		out = append(out, bulwark.AnyText)
	}
	return out
}

// maxRounds bounds how deep values that name variables are followed.
const maxRounds = 4

// referenced returns the names of the variables w refers to as $name or
// ${name}.
func referenced(w string) []string {
	var out []string
	for i := 0; i < len(w); i++ {
		if w[i] != '$' || i+1 == len(w) {
			continue
		}
		j, brace := i+1, w[i+1] == '{'
		if brace {
			j++
		}
		k := j
		for k < len(w) && isNameByte(w[k]) {
			k++
		}
		if k > j && !('0' <= w[j] && w[j] <= '9') && (!brace || k < len(w) && (w[k] == '}' || w[k] == '[')) {
			out = append(out, w[j:k])
		}
	}
	return out
}

// holdsVar reports whether w refers to the variable name as $name or
// ${name}.
func holdsVar(w, name string) bool { return replaceVar(w, name, "\x00") != w }

// replaceVar replaces $name, ${name} and ${name[i]} in w with val.
func replaceVar(w, name, val string) string {
	w = strings.ReplaceAll(w, "${"+name+"}", val)
	for {
		i := strings.Index(w, "${"+name+"[")
		if i < 0 {
			break
		}
		j := strings.Index(w[i:], "]}")
		if j < 0 {
			break
		}
		w = w[:i] + val + w[i+j+2:]
	}
	var b strings.Builder
	ref := "$" + name
	for {
		i := strings.Index(w, ref)
		if i < 0 {
			b.WriteString(w)
			return b.String()
		}
		end := i + len(ref)
		if end < len(w) && isNameByte(w[end]) {
			b.WriteString(w[:end])
			w = w[end:]
			continue
		}
		b.WriteString(w[:i])
		b.WriteString(val)
		w = w[end:]
	}
}

func isNameByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func varsOf(src string) vars {
	sets := func(name string) bool {
		n := strings.Count(src, name)
		n -= strings.Count(src, "$"+name) + strings.Count(src, "${"+name+"}")
		return n > 0
	}
	return vars{home: sets("HOME"), pwd: sets("PWD") || strings.Contains(src, "OLDPWD"),
		ifs: strings.Contains(emptyIFS.Get().ReplaceAllString(src, ""), "IFS")}
}

// emptyIFS is IFS set to nothing (IFS= read -r line), which splits no word.
var emptyIFS = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp {
	return regexp.MustCompile(`\bIFS=(''|"")?([ \t\n;&|)]|$)`)
}}

// expand reads a leading $HOME, $PWD or $OLDPWD (or ${...}) in w: it
// returns w with ~/ or ./ in its place, and false where the folder it
// holds cannot be known (OLDPWD, or a variable the script sets).
func (v vars) expand(w string) (string, bool) {
	for _, x := range []struct {
		name, to string
		known    bool
	}{
		{"HOME", "~", !v.home}, {"PWD", ".", !v.pwd}, {"OLDPWD", ".", false},
	} {
		for _, ref := range []string{"$" + x.name, "${" + x.name + "}"} {
			if rest, ok := strings.CutPrefix(w, ref); ok && (rest == "" || rest[0] == '/') {
				if x.to == "~" && !x.known {
					return "." + rest, false
				}
				return x.to + rest, x.known
			}
		}
	}
	return w, true
}

// procPath reports whether p, an absolute path, names a file through the
// link /proc/PID/WHICH or /proc/PID/task/TID/WHICH (/proc/self/cwd/x,
// /proc/1/root/x, /proc/self/task/*/cwd/x, /proc/thread-self/../../cwd/x),
// and returns what follows the link (an uncleaned "/x", or "") and the PID
// ("self" for self and thread-self). It walks p as the kernel does: a ..
// before the link goes up from where the /proc links before it lead
// (thread-self is self/task/TID), and one after it from where the link
// leads, which only the caller knows (a path.Clean of the whole would go
// up from the link's name: /proc/self/cwd/../x is x beside the working
// folder, not /proc/self/x) (red team, session 42: the task level and
// thread-self/../.. went past path rules).
func procPath(p, which string) (rest, pid string, ok bool) {
	parts := strings.Split(p, "/")
	if parts[0] != "" {
		return "", "", false
	}
	var at []string // the folders walked to, from the root
	for i := 1; i < len(parts); i++ {
		switch c := parts[i]; {
		case c == "" || c == ".":
		case c == "..":
			if len(at) > 0 {
				at = at[:len(at)-1]
			}
		case len(at) == 1 && at[0] == "proc" && c == "thread-self":
			at = append(at, "self", "task", "self")
		default:
			at = append(at, c)
			if at[0] == "proc" && (len(at) == 3 && c == which || len(at) == 5 && at[2] == "task" && c == which) {
				pid = at[1]
				if pid == "thread-self" {
					pid = "self"
				}
				if i+1 == len(parts) {
					return "", pid, true
				}
				return "/" + strings.Join(parts[i+1:], "/"), pid, true
			}
		}
	}
	return "", "", false
}

// workDir is the workspace's path in the sandbox, the commands' working
// directory and $HOME.
const workDir = "/workspace"

// commandMatcher returns the policy's test of a pattern's form against a
// target of a call running the bash script src: a command of the script
// is matched by commandMatch, any other target (run_code's "LANGUAGE:
// CODE") as a glob.
func commandMatcher(src string) func(form, target string) bool {
	// Commands with one line may differ in their redirections (cat; cat <
	// .env): a target matches when one of its commands does.
	cmds := map[string][]sh.Command{}
	if sc, err := sh.Parse(src); err == nil {
		for _, c := range sc.Commands {
			cmds[c.String()] = append(cmds[c.String()], c)
		}
	}
	return func(form, target string) bool {
		if cs, ok := cmds[target]; ok {
			for _, c := range cs {
				if commandMatch(form, c) {
					return true
				}
			}
			return false
		}
		return bulwark.Glob(form, target)
	}
}

// commandMatch reports whether command c matches form, a pattern in
// canonical form (shell.Pattern).
func commandMatch(form string, c sh.Command) bool {
	// Match also lets a pattern with a * admit flags it does not name
	// ("rm -f -r *" matches rm -I -rf /, whose line "rm -I -f -r /" the
	// glob misses). TestPolicyBypassParsed checks it.
	return sh.Match(form, c)
}

// script adds what the bash script src runs to e: its commands, or why
// they cannot be known.
func script(e *tool.Effects, src string) {
	sc, err := sh.Parse(src)
	if err != nil {
		e.Dynamic = append(e.Dynamic, "the script could not be read before it runs: "+err.Error())
		return
	}
	for _, c := range sc.Commands {
		e.Runs = append(e.Runs, c.String())
	}
	e.Dynamic = append(e.Dynamic, sc.Dynamic...)
}

func (shell) Run(ctx context.Context, env *tool.Env, args json.RawMessage) (tool.Result, error) {
	var a struct{ Command string }
	if err := json.Unmarshal(args, &a); err != nil {
		return tool.Result{}, bulwark.E(bulwark.Invalid, "run_shell", "the arguments do not fit run_shell", err)
	}
	return execute(ctx, env, "run_shell", []string{"bash", "-c", a.Command})
}

// interpreters maps run_code's languages to the program that runs them and
// the file extension of the script.
var interpreters = lazy.Value[map[string]interpreter]{New: func() map[string]interpreter {
	return map[string]interpreter{
		"python":     {"python3", "py"},
		"javascript": {"node", "js"},
		"bash":       {"bash", "sh"},
	}
}}

// interpreter is the program that runs a language and its scripts' extension.
type interpreter struct{ prog, ext string }

type program struct{}

func (program) Name() string { return "run_code" }
func (program) Description() string {
	return "Write a program to a file in the workspace and run it in the sandbox with its interpreter " +
		"(python: python3, javascript: node, bash: bash). The working directory is the workspace. " +
		"Returns the exit status, stdout and stderr."
}
func (program) Schema() *tool.Schema {
	return &tool.Schema{Type: "object", Required: []string{"language", "code"}, Properties: map[string]*tool.Schema{
		"language": {Type: "string", Enum: []string{"python", "javascript", "bash"}, Description: "the program's language"},
		"code":     {Type: "string", Description: "the whole program", MinLength: 1, MaxLength: 1 << 20},
	}}
}

// Effects are the program's file and the interpreter running it, and
// what a policy matches: "LANGUAGE: CODE" (so run_code(python: *)=ask
// names a language) and, for bash, each command of the program as
// run_shell's are read (Dynamic where they cannot be known). Python and
// JavaScript programs run what their code says; only the whole program
// names it.
func (program) Effects(args json.RawMessage) (tool.Effects, error) {
	const op = "run_code"
	var a struct{ Language, Code string }
	if err := json.Unmarshal(args, &a); err != nil {
		return tool.Effects{}, bulwark.E(bulwark.Invalid, op, "the arguments do not fit run_code", err)
	}
	in, ok := interpreters.Get()[a.Language]
	if !ok {
		return tool.Effects{}, bulwark.Errorf(bulwark.Invalid, op, "language %q is not one of python, javascript, bash", a.Language)
	}
	file := programFile(a.Code, in.ext)
	e := tool.Effects{
		Writes:  []string{file},
		Runs:    []string{in.prog + " /workspace/" + file},
		Targets: []string{a.Language + ": " + a.Code},
		Display: a.Language + ": " + a.Code,
	}
	if a.Language == "bash" {
		var inner tool.Effects
		script(&inner, a.Code)
		e.Runs = append(e.Runs, inner.Runs...)
		e.Dynamic = inner.Dynamic
		e.Targets = append(e.Targets, inner.Runs...)
	}
	return e, nil
}

// Patterns matches a policy pattern as written (against "LANGUAGE: CODE")
// and, normalised as run_shell's are, against the commands of bash
// programs.
func (program) Patterns(pattern string) ([]string, error) {
	if pattern == "" {
		return nil, bulwark.Errorf(bulwark.Invalid, "run_code", "the pattern is empty")
	}
	forms := []string{pattern}
	if p, err := sh.Pattern(pattern); err == nil && strings.TrimSpace(p) != "" && p != pattern {
		forms = append(forms, p)
	}
	return forms, nil
}

// Matcher matches a pattern against the commands of a bash program as
// run_shell's Matcher does, and against "LANGUAGE: CODE" as a glob.
func (program) Matcher(args json.RawMessage) func(form, target string) bool {
	var a struct{ Language, Code string }
	json.Unmarshal(args, &a)
	if a.Language != "bash" {
		return bulwark.Glob
	}
	return commandMatcher(a.Code)
}

// Folders returns the folders of the commands of a bash program, as
// run_shell's Folders does; none for other languages.
func (program) Folders(args json.RawMessage) func(target string) []string {
	var a struct{ Language, Code string }
	json.Unmarshal(args, &a)
	if a.Language != "bash" {
		return func(string) []string { return nil }
	}
	return commandFolders(a.Code)
}

// Resolved matches the commands of a bash program resolved, as
// run_shell's Resolved does; nothing for other languages.
func (program) Resolved(args json.RawMessage) func(form, target string) bool {
	var a struct{ Language, Code string }
	json.Unmarshal(args, &a)
	if a.Language != "bash" {
		return func(string, string) bool { return false }
	}
	return commandResolved(a.Code)
}

// Parts returns the words of the commands of a bash program, as
// run_shell's Parts does; none for other languages.
func (program) Parts(args json.RawMessage) func(target string) []string {
	var a struct{ Language, Code string }
	json.Unmarshal(args, &a)
	if a.Language != "bash" {
		return func(string) []string { return nil }
	}
	return commandParts(a.Code)
}

func (program) Globs(args json.RawMessage) func(target string) []string {
	var a struct{ Language, Code string }
	json.Unmarshal(args, &a)
	if a.Language != "bash" {
		return func(string) []string { return nil }
	}
	return commandGlobs(a.Code)
}

// programFile is the workspace file run_code writes code to: named after
// its content as the model wrote it (placeholders, not the values of
// secrets), so the effects of a call are known before it runs, and the
// name tells nothing of a value: named after the code with the value put
// in, it let whoever lists the files test guesses at the value offline
// (a red team).
func programFile(code, ext string) string {
	sum := sha256.Sum256([]byte(code))
	return fmt.Sprintf("%s/prog_%s.%s", scriptDir, hex.EncodeToString(sum[:8]), ext)
}

// scriptDir is the workspace folder run_code writes its programs to.
const scriptDir = ".bulwark/code"

func (program) Run(ctx context.Context, env *tool.Env, args json.RawMessage) (tool.Result, error) {
	const op = "run_code"
	var a struct{ Language, Code string }
	if err := json.Unmarshal(args, &a); err != nil {
		return tool.Result{}, bulwark.E(bulwark.Invalid, op, "the arguments do not fit run_code", err)
	}
	in, ok := interpreters.Get()[a.Language]
	if !ok {
		return tool.Result{}, bulwark.Errorf(bulwark.Invalid, op, "language %q is not one of python, javascript, bash", a.Language)
	}
	if env == nil || env.Workspace == nil {
		return tool.Result{}, bulwark.Errorf(bulwark.Unavailable, op, "this task has no workspace, so run_code cannot be used")
	}
	if env.Exec == nil {
		return tool.Result{}, unavailable(op)
	}
	// The code as the model wrote it: a.Code may hold the values of
	// secrets in place of their placeholders (BULWARK_SECRETS_IN_SANDBOX).
	written := a.Code
	if m := tool.ModelArgs(ctx); m != nil {
		var o struct{ Code string }
		if json.Unmarshal(m, &o) == nil {
			written = o.Code
		}
	}
	name := programFile(written, in.ext)
	if err := env.Workspace.WriteFile(name, []byte(a.Code)); err != nil {
		return tool.Result{}, err
	}
	if written != a.Code {
		// The values stay in the file only while the program runs: the
		// workspace keeps the program as it was written, placeholders
		// in (it is kept after the task, unencrypted, by bulwark run).
		defer env.Workspace.WriteFile(name, []byte(written))
	}
	if in.prog == "bash" {
		// bash reads a script file a command at a time, so what the
		// program appends to its own file ($0) would run unjudged:
		// sourced, the file is read whole before any of it runs
		// (and $0, BASH_SOURCE and the lines of errors stay the file's).
		return execute(ctx, env, op, []string{"bash", "-c", `. "$0"`, "/workspace/" + name})
	}
	return execute(ctx, env, op, []string{in.prog, "/workspace/" + name})
}

func unavailable(op string) error {
	return bulwark.Errorf(bulwark.Unavailable, op,
		"%s is not available: code can only run in the sandbox, and this host cannot provide one (see `bulwark sandbox check`); work with the file tools instead", op)
}

// execute runs cmd through env.Exec and describes the outcome for the model.
func execute(ctx context.Context, env *tool.Env, op string, cmd []string) (tool.Result, error) {
	if env == nil || env.Exec == nil {
		return tool.Result{}, unavailable(op)
	}
	res, err := env.Exec(ctx, cmd)
	if err != nil && res != nil && bulwark.ErrorKind(err) == bulwark.Canceled {
		// The task was stopped while the command ran: what it printed
		// until then is its result, kept with the error. It was killed, so
		// it has no exit status of its own.
		killed := *res
		killed.ExitCode = -1
		return tool.Result{Output: Describe(&killed) + "[canceled: the task was stopped while the command ran]\n", IsError: true, Untrusted: true}, err
	}
	if err != nil {
		return tool.Result{}, err
	}
	// Command output may carry text from outside (a fetched page, an uploaded
	// file the command read): it is marked and screened like any such text.
	return tool.Result{Output: Describe(res), IsError: res.ExitCode != 0 || res.TimedOut, Untrusted: true}, nil
}

// Describe writes what a command did the way the model reads it: the exit
// status and time, any limit that ended it, then stdout and stderr.
func Describe(r *tool.ExecResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "exit status %d (%s)\n", r.ExitCode, r.Duration.Round(1e6))
	// The shell's codes for a program that could not start: the stderr
	// below says which; this says what the sandbox has to do with it.
	switch r.ExitCode {
	case 126:
		b.WriteString("[exit status 126: a program could not be run. The sandbox runs only the allowed commands " +
			"(an operator can allow more with BULWARK_ALLOWED_COMMANDS), and programs written to the workspace only where the operator turned BULWARK_WORKSPACE_EXEC on]\n")
	case 127:
		b.WriteString("[exit status 127: a program was not found in the sandbox]\n")
	}
	if r.TimedOut {
		fmt.Fprintf(&b, "[killed: the command ran past its %s time limit]\n", r.Timeout)
	}
	for _, l := range r.LimitHit {
		switch l {
		case "output":
			b.WriteString("[output was cut at the sandbox's output limit]\n")
		case "file size":
			b.WriteString("[a write went past the sandbox's file size limit; stderr says the limit]\n")
		case "workspace":
			b.WriteString("[the workspace went past its size or file count limit; stderr says which. Delete files to make room]\n")
		default:
			fmt.Fprintf(&b, "[the %s limit of the sandbox was hit]\n", l)
		}
	}
	for _, d := range r.Denied {
		fmt.Fprintf(&b, "[network connection refused: %s]\n", d)
	}
	if len(r.Stdout) > 0 {
		b.WriteString("--- stdout ---\n")
		b.Write(r.Stdout)
		if r.Stdout[len(r.Stdout)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	if len(r.Stderr) > 0 {
		b.WriteString("--- stderr ---\n")
		b.Write(r.Stderr)
		if r.Stderr[len(r.Stderr)-1] != '\n' {
			b.WriteByte('\n')
		}
	}
	if len(r.Stdout) == 0 && len(r.Stderr) == 0 {
		b.WriteString("(no output)\n")
	}
	return b.String()
}
