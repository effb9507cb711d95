package shell

import (
	"path"
	"slices"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// maxDirs bounds the folders a script is followed into before its working
// folder is called unknown.
const maxDirs = 32

// dirs is where the shell's working folder may be at one point of a
// script: any of set (paths relative to the folder the script started in,
// "." for it; absolute paths; "~" and "~/..." for the home folder), or
// anywhere at all.
type dirs struct {
	any bool
	set []string // sorted, without repeats
}

// start is the folder a script starts in.
var start = dirs{set: []string{"."}}

func anyDir() dirs { return dirs{any: true} }

func (d dirs) union(o dirs) dirs {
	if d.any || o.any {
		return anyDir()
	}
	set := append(append([]string(nil), d.set...), o.set...)
	slices.Sort(set)
	set = slices.Compact(set)
	if len(set) > maxDirs {
		return anyDir()
	}
	return dirs{set: set}
}

func (d dirs) equal(o dirs) bool {
	return d.any == o.any && slices.Equal(d.set, o.set)
}

// join is where cd to target (a static path) may lead from d: target
// itself where it is absolute, else target below each folder of d.
func (d dirs) join(target string) dirs {
	if d.any {
		return d
	}
	switch {
	case strings.HasPrefix(target, "/"):
		return dirs{set: []string{path.Clean(target)}}
	case target == "~" || strings.HasPrefix(target, "~/"):
		return dirs{set: []string{path.Clean(target)}}
	case strings.HasPrefix(target, "~"):
		return anyDir() // ~user, ~+, ~-
	}
	var out dirs
	for _, from := range d.set {
		out = out.union(dirs{set: []string{path.Join(from, target)}})
	}
	return out
}

// dirState is d with the stack of pushd and popd.
type dirState struct {
	cur   dirs
	stack []dirs // top last
	lost  bool   // the stack is not known: popd may lead anywhere
}

func (s dirState) union(o dirState) dirState {
	out := dirState{cur: s.cur.union(o.cur), lost: s.lost || o.lost}
	if len(s.stack) != len(o.stack) {
		out.lost = true
		return out
	}
	for i := range s.stack {
		out.stack = append(out.stack, s.stack[i].union(o.stack[i]))
	}
	return out
}

func (s dirState) equal(o dirState) bool {
	if !s.cur.equal(o.cur) || s.lost != o.lost || len(s.stack) != len(o.stack) {
		return false
	}
	for i := range s.stack {
		if !s.stack[i].equal(o.stack[i]) {
			return false
		}
	}
	return true
}

func (s dirState) moved(to dirs) dirState {
	s.cur = to
	return s
}

// dirPass follows the shell's working folder through a script: for each
// simple command, the folders it may run in. A command that may fail
// leaves the folder where it was, so a cd adds folders rather than
// replacing them: after "cd a; cd b" the shell may be in ., a, b or a/b.
// A subshell, a pipeline's commands, a background command and a command
// or process substitution change nothing after them. What cannot be known
// (cd "$d", cd -, a relative cd once CDPATH is set, a cd inside a loop
// that runs a number of times, popd past what pushd put on the stack, a
// function that changes folder) is anywhere.
type dirPass struct {
	src string
	at  map[syntax.Node]dirs
	// changes is set when the script may change folder at all (it runs
	// cd, pushd, popd or a command that may run them somewhere): function
	// bodies then run anywhere.
	changes bool
	// cdpath: CDPATH, cdable_vars or a variable only named at run time
	// is set somewhere, so a relative cd may lead anywhere.
	cdpath bool
	// home: HOME is set somewhere, so cd alone and ~ lead anywhere.
	home bool
	// funcs are the names of the functions the script defines.
	funcs map[string]bool
	// steps counts the statements followed, loops' bodies once for each
	// time round: past maxSteps every command is called anywhere.
	steps int
}

// maxSteps bounds the work of following a script's folders: nested
// loops are followed until their folders settle, each time their outer
// loop goes round.
const maxSteps = 1 << 16

// changers are the commands that may change the shell's folder, or run
// one that does.
var changers = lazy.Value[map[string]bool]{New: func() map[string]bool {
	return map[string]bool{
		"cd": true, "pushd": true, "popd": true, "builtin": true, "command": true,
		"trap": true, "eval": true, "source": true, ".": true,
	}
}}

// followDirs returns the folders each simple command (and declaration) of
// f may run in, the script starting in from, and whether the script may
// change folder at all.
func followDirs(src string, f *syntax.File, from dirs) (map[syntax.Node]dirs, bool) {
	d := &dirPass{src: src, at: map[syntax.Node]dirs{}, funcs: map[string]bool{}}
	d.cdpath = strings.Contains(src, "CDPATH") || strings.Contains(src, "cdable_vars")
	d.home = strings.Contains(src, "HOME")
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.FuncDecl:
			if n.Name != nil {
				d.funcs[n.Name.Value] = true
			}
		case *syntax.CallExpr:
			if len(n.Args) > 0 {
				name := word(src, n.Args[0])
				switch {
				case !name.static, name.glob:
					d.changes = true
				case changers.Get()[name.text]:
					d.changes = true
				}
			}
		case *syntax.DeclClause:
			for _, a := range n.Args {
				if a.Name == nil && a.Value != nil && !word(src, a.Value).static {
					// declare "$n=x": any variable, CDPATH and HOME too.
					d.cdpath, d.home = true, true
				}
			}
		}
		return true
	})
	d.stmts(f.Stmts, dirState{cur: from})
	if d.steps > maxSteps {
		return nil, true
	}
	return d.at, d.changes
}

func (d *dirPass) stmts(list []*syntax.Stmt, s dirState) dirState {
	for _, st := range list {
		s = d.stmt(st, s)
	}
	return s
}

func (d *dirPass) stmt(st *syntax.Stmt, s dirState) dirState {
	if d.steps++; d.steps > maxSteps {
		return dirState{cur: anyDir(), lost: true}
	}
	for _, r := range st.Redirs {
		d.substs(r, s)
	}
	if st.Cmd == nil {
		d.at[st] = s.cur // redirections alone
		return s
	}
	out := d.command(st.Cmd, s)
	if st.Background || st.Coprocess {
		return s // run in a subshell
	}
	return out
}

func (d *dirPass) command(c syntax.Command, s dirState) dirState {
	switch c := c.(type) {
	case *syntax.CallExpr:
		d.at[c] = s.cur
		for _, a := range c.Assigns {
			d.substs(a, s)
		}
		for _, a := range c.Args {
			d.substs(a, s)
		}
		return d.call(c, s)
	case *syntax.DeclClause:
		d.at[c] = s.cur
		for _, a := range c.Args {
			d.substs(a, s)
		}
		return s
	case *syntax.Block:
		return d.stmts(c.Stmts, s)
	case *syntax.Subshell:
		d.stmts(c.Stmts, s)
		return s
	case *syntax.BinaryCmd:
		if c.Op == syntax.Pipe || c.Op == syntax.PipeAll {
			// Each side runs in a subshell; with lastpipe the last does
			// not, so what it does may stay.
			d.stmt(c.X, s)
			return s.union(d.stmt(c.Y, s))
		}
		x := d.stmt(c.X, s)
		return x.union(d.stmt(c.Y, x))
	case *syntax.IfClause:
		cond := d.stmts(c.Cond, s)
		then := d.stmts(c.Then, cond)
		if c.Else == nil {
			return then.union(cond)
		}
		return then.union(d.command(c.Else, cond))
	case *syntax.WhileClause:
		return d.loop(s, func(s dirState) dirState {
			return d.stmts(c.Do, d.stmts(c.Cond, s))
		})
	case *syntax.ForClause:
		d.substs(c.Loop, s)
		return d.loop(s, func(s dirState) dirState { return d.stmts(c.Do, s) })
	case *syntax.CaseClause:
		d.substs(c.Word, s)
		out := s
		for _, it := range c.Items {
			for _, p := range it.Patterns {
				d.substs(p, s)
			}
			// ;& and ;;& run on into the next items: each starts from s
			// or from what an item before left, which the union covers.
			out = out.union(d.stmts(it.Stmts, out))
		}
		return out
	case *syntax.FuncDecl:
		// The body runs where the function is called, which is not
		// followed: anywhere, if the script changes folder at all.
		in := s
		if d.changes {
			in = dirState{cur: anyDir(), lost: true}
		}
		d.stmt(c.Body, in)
		return s
	case *syntax.TimeClause:
		if c.Stmt != nil {
			return d.stmt(c.Stmt, s)
		}
		return s
	case *syntax.CoprocClause:
		d.stmt(c.Stmt, s)
		return s
	default: // ArithmCmd, TestClause, LetClause, TestDecl
		d.substs(c, s)
		return s
	}
}

// loop runs body from s until the folders it may leave are known, or
// calls them anywhere.
func (d *dirPass) loop(s dirState, body func(dirState) dirState) dirState {
	for i := 0; i < maxDirs; i++ {
		next := s.union(body(s))
		if next.equal(s) {
			return s
		}
		s = next
	}
	s = dirState{cur: anyDir(), lost: true}
	body(s)
	return s
}

// substs follows the command and process substitutions in n, each run in
// a subshell from s.
func (d *dirPass) substs(n syntax.Node, s dirState) {
	if n == nil {
		return
	}
	syntax.Walk(n, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CmdSubst:
			d.stmts(n.Stmts, s)
			return false
		case *syntax.ProcSubst:
			d.stmts(n.Stmts, s)
			return false
		}
		return true
	})
}

// call is where a simple command leaves the shell's working folder.
func (d *dirPass) call(c *syntax.CallExpr, s dirState) dirState {
	var args []arg
	for _, wd := range c.Args {
		as, _, tooMany := words(d.src, wd)
		if tooMany {
			return dirState{cur: anyDir(), lost: true}
		}
		args = append(args, as...)
	}
	// builtin cd and command cd are cd.
	for len(args) > 0 && args[0].static && (args[0].text == "builtin" || args[0].text == "command") {
		if args[0].text == "command" {
			for len(args) > 1 && args[1].static && strings.HasPrefix(args[1].text, "-") && args[1].text != "--" {
				if strings.ContainsAny(args[1].text, "vV") {
					return s // command -v cd runs nothing
				}
				args = append(args[:1], args[2:]...)
			}
		}
		args = args[1:]
		if len(args) > 0 && args[0].static && args[0].text == "--" {
			args = args[1:]
		}
	}
	if len(args) == 0 {
		return s
	}
	lost := dirState{cur: anyDir(), lost: true}
	name := args[0]
	if !name.static || name.glob {
		return lost // a command only known at run time may be cd
	}
	if d.funcs[name.text] && d.changes {
		return lost
	}
	switch name.text {
	case "cd":
		return s.moved(s.cur.union(d.cd(args[1:], s.cur)))
	case "pushd":
		ops := operands(args[1:])
		switch {
		case ops == nil:
			return lost
		case len(ops) == 0, strings.HasPrefix(ops[0].text, "+"), strings.HasPrefix(ops[0].text, "-"):
			return lost // swaps or rotates the stack
		}
		for _, a := range args[1:] {
			if a.text == "-n" {
				s.stack = append(slices.Clone(s.stack), s.cur.join(ops[0].text))
				return s // only the stack changes
			}
		}
		to := d.cd(ops[:1], s.cur)
		s.stack = append(slices.Clone(s.stack), s.cur)
		return s.moved(s.cur.union(to))
	case "popd":
		if len(args) > 1 || s.lost || len(s.stack) == 0 {
			return lost
		}
		top := s.stack[len(s.stack)-1]
		s.stack = s.stack[:len(s.stack)-1]
		return s.moved(s.cur.union(top))
	case "dirs":
		if len(args) > 1 {
			s.lost = true
		}
		return s
	case "eval", "source", ".", "trap", "shopt":
		// Dynamic where they run something unknown; a trap's script runs
		// at any time, in the shell itself; shopt's autocd (bash -i) and
		// cdable_vars make a folder's or a variable's name a cd.
		if name.text == "trap" || name.text == "shopt" {
			for _, a := range args[1:] {
				t := a.text
				if !a.static || strings.Contains(t, "cd") || strings.Contains(t, "pushd") || strings.Contains(t, "popd") || strings.Contains(t, "autocd") || strings.Contains(t, "cdable") {
					return lost
				}
			}
			return s
		}
		return lost
	}
	return s
}

// operands returns cd's operands after its options, or nil when they are
// only known at run time.
func operands(args []arg) []arg {
	for i, a := range args {
		if !a.static {
			return nil
		}
		if a.text == "--" {
			return args[i+1:]
		}
		if a.text == "-" || !strings.HasPrefix(a.text, "-") {
			return args[i:]
		}
	}
	return []arg{}
}

// cd is where cd ARGS leads from cur: HOME without an operand, anywhere
// for an operand only known at run time, -, a glob, or a relative one
// that CDPATH may redirect.
func (d *dirPass) cd(args []arg, cur dirs) dirs {
	ops := operands(args)
	switch {
	case ops == nil:
		return anyDir()
	case len(ops) == 0:
		if d.home {
			return anyDir()
		}
		return dirs{set: []string{"~"}}
	}
	t := ops[0]
	switch {
	case !t.static || t.glob || t.text == "-" || t.text == "":
		return anyDir()
	case d.home && strings.HasPrefix(t.text, "~"):
		return anyDir()
	case d.cdpath && !strings.HasPrefix(t.text, "/") && t.text != "." && t.text != ".." &&
		!strings.HasPrefix(t.text, "./") && !strings.HasPrefix(t.text, "../"):
		return anyDir()
	}
	to := cur.join(t.text)
	if strings.HasPrefix(t.text, "~") {
		// A quoted ~ is a folder named so.
		to = to.union(cur.join("./" + t.text))
	}
	return to
}

// chdirOptions are the programs that run in (or act from) a folder an
// option names, and the short option that does: env -C, git -C, make -C,
// tar -C, sudo -D. The long options --directory, --chdir,
// --working-directory, --cwd and --wd are read for every program.
var chdirOptions = lazy.Value[map[string]byte]{New: func() map[string]byte {
	return map[string]byte{
		"env": 'C', "git": 'C', "make": 'C', "gmake": 'C', "tar": 'C', "bsdtar": 'C',
		"go": 'C', "ninja": 'C', "cargo": 'C', "meson": 'C', "pnpm": 'C', "sudo": 'D',
		"unshare": 'w', "nsenter": 'w',
	}
}}

var chdirLong = []string{"directory", "chdir", "working-directory", "cwd", "wd", "dir"}

// chdirs returns the folders prog ARGS may run in besides cur, where an
// option names one: each named folder, from cur and from the folder the
// options before it named (git -C a -C b runs in a/b).
func chdirs(prog string, args []arg, cur dirs) (dirs, bool) {
	short, known := chdirOptions.Get()[prog]
	var out dirs
	found := false
	acc := cur
	add := func(v arg) {
		found = true
		if !v.static || v.glob || v.text == "" || v.text == "-" {
			out = anyDir()
			return
		}
		acc = acc.join(v.text)
		out = out.union(acc).union(cur.join(v.text))
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		t := a.text
		if strings.HasPrefix(t, "--") {
			name, val, hasVal := strings.Cut(t[2:], "=")
			if !slices.Contains(chdirLong, name) {
				continue
			}
			switch {
			case hasVal:
				add(arg{text: val, static: a.static, glob: a.glob})
			case known && i+1 < len(args):
				i++
				add(args[i])
			}
			continue
		}
		if !known || len(t) < 2 || t[0] != '-' {
			continue
		}
		if j := strings.IndexByte(t[1:], short); j >= 0 {
			j++
			switch {
			case j+1 < len(t):
				add(arg{text: t[j+1:], static: a.static, glob: a.glob})
			case i+1 < len(args):
				i++
				add(args[i])
			}
		}
	}
	if !found {
		return dirs{}, false
	}
	return out, true
}
