package shell

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"

	"mvdan.cc/sh/v3/syntax"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// maxDepth bounds how deep scripts (bash -c, trap, watch) and wrappers
// (env env ... rm) nest before the rest is called dynamic.
const maxDepth = 32

// walker collects the commands of a script and its nested scripts.
type walker struct {
	cmds    []Command
	dynamic []string
	// pattern is set when reading a policy pattern: globs and run-time
	// words are then text, never dynamic.
	pattern bool
	// cur is where the command being read may run (see dirPass).
	cur dirs
	// values are the static values given to variables (Script.Values).
	values map[string][]string
	// beside says why a command of the script may run beside another
	// (&, coproc, a process substitution, a pipeline of more than
	// readers), or is empty (see gitBeside).
	beside        string
	gitBesideSaid bool
}

// maxValues bounds the values listed for one variable.
const maxValues = 16

// value records that the script may give name the value a.
// A value only known in part is recorded as its glob forms (arg.pats:
// g=$f/k is "$f/k", for a reader to try f's values in; g=${f,,} is
// anyText). A value with a glob's *, ? or [ (f='*.md') is recorded as
// written: where $f is read unquoted, the shell expands it.
func (w *walker) value(name string, a arg) {
	if w.pattern || name == "" {
		return
	}
	// A value is text the shell reads again where $f is unquoted: its
	// glob characters are globs, quoted or not (f='s[e]'*).
	var vs []string
	for _, p := range a.pats {
		vs = append(vs, unquoteGlob(p))
	}
	switch {
	case a.subst:
		// f=$(cmd): read alone, $f is what cmd prints, judged where
		// it runs; beside other text ($f/k), any text.
		vs = append(slices.Clone(vs), SubstValue)
	case len(vs) == 0:
		vs = []string{a.text}
	}
	if w.values == nil {
		w.values = map[string][]string{}
	}
	for _, v := range vs {
		have := w.values[name]
		switch {
		case slices.Contains(have, v):
		case len(have) < maxValues:
			w.values[name] = append(have, v)
		case !slices.Contains(have, anyText):
			// Past the bound, the variable may hold any text.
			w.values[name] = append(have, anyText)
		}
	}
}

// unknown records that the script may give name a value that cannot be
// known: any text.
func (w *walker) unknown(name string) {
	w.value(name, arg{text: anyText})
}

// place gives c the folders the command being read may run in.
func (w *walker) place(c Command) Command {
	switch {
	case w.pattern:
	case w.cur.any:
		c.AnyDir = true
	case !slices.Equal(w.cur.set, start.set):
		c.Dirs = slices.Clone(w.cur.set)
	}
	return c
}

func (w *walker) dyn(format string, a ...any) {
	w.dynamic = append(w.dynamic, fmt.Sprintf(format, a...))
}

// reserve keeps a place for a command reported before the ones it runs.
func (w *walker) reserve() int {
	w.cmds = append(w.cmds, w.place(Command{}))
	return len(w.cmds) - 1
}

func newParser() *syntax.Parser {
	return syntax.NewParser(syntax.Variant(syntax.LangBash))
}

// script parses src and collects every simple command in it, wherever it
// is: lists, pipelines, subshells, groups, if/while/for/case bodies,
// function bodies, command and process substitutions, here-documents.
func (w *walker) script(src string, depth int) error {
	if depth > maxDepth {
		w.dyn("scripts nested more than %d deep", maxDepth)
		return nil
	}
	f, err := newParser().Parse(strings.NewReader(src), "")
	if err != nil {
		return err
	}
	v := collectVars(src, f)
	var at map[syntax.Node]dirs
	var changes bool
	if !w.pattern {
		at, changes = followDirs(src, f, w.cur)
	}
	from := w.cur
	defer func() { w.cur = from }()
	// here is where the command n may run.
	here := func(n syntax.Node) dirs {
		if d, ok := at[n]; ok {
			return d
		}
		if changes {
			return anyDir()
		}
		return from
	}
	assocElems := map[*syntax.ArrayElem]bool{}
	arith := func(x syntax.ArithmExpr) {
		if why := v.arith(src, x); why != "" {
			w.dyn("%s", why)
		}
	}
	// scopes are the statements with file redirections seen so far: a
	// command inside one reads or writes those files.
	type scope struct {
		start, end   uint
		redirs       []string
		input, globs []string
	}
	var scopes []scope
	// pipes are the pipelines seen so far whose commands are not all
	// readers (readerPipeline): git in one runs beside the others.
	var pipes [][2]uint
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Stmt:
			if n.Background || n.Coprocess {
				w.runsBeside("a command in the background")
			}
			r := redirections(src, n.Redirs)
			in, gs := inputs(src, n.Redirs)
			if len(r) > 0 || len(in) > 0 || len(gs) > 0 {
				scopes = append(scopes, scope{n.Pos().Offset(), n.End().Offset(), r, in, gs})
			}
			if n.Cmd == nil && len(r) > 0 {
				// Redirections alone: > f truncates f, and $(< f) is
				// $(cat f). Reported as : or cat with them.
				w.cur = here(n)
				name := "cat"
				for _, x := range r {
					if !strings.HasPrefix(x, "<") {
						name = ":"
					}
				}
				w.cmds = append(w.cmds, w.place(Command{Name: name, Redirs: r, Input: in, Globs: gs}))
			}
		case *syntax.CallExpr:
			before := len(w.cmds)
			w.cur = here(n)
			w.callExpr(src, n, depth)
			for _, p := range pipes {
				if p[0] <= n.Pos().Offset() && n.Pos().Offset() < p[1] && runsGit(w.cmds[before:]) {
					w.runsBeside("a pipeline of more than readers")
					w.gitDyn()
				}
			}
			var redirs, input, globs []string
			at := n.Pos().Offset()
			for _, sc := range scopes {
				if sc.start <= at && at < sc.end {
					redirs = append(redirs, sc.redirs...)
					input = append(input, sc.input...)
					globs = append(globs, sc.globs...)
				}
			}
			if len(w.cmds) == before && (len(redirs) > 0 || len(input) > 0) {
				// exec 3< f runs nothing, but opens f for the commands
				// after it: reported as redirections alone are.
				name := "cat"
				for _, x := range redirs {
					if !strings.HasPrefix(x, "<") {
						name = ":"
					}
				}
				w.cmds = append(w.cmds, w.place(Command{Name: name}))
			}
			for i := before; i < len(w.cmds); i++ {
				c := &w.cmds[i]
				c.Redirs = append(c.Redirs, redirs...)
				c.Input = append(c.Input, input...)
				c.Globs = append(c.Globs, globs...)
			}
		case *syntax.CoprocClause:
			w.runsBeside("a coprocess")
		case *syntax.ProcSubst:
			w.runsBeside("a process substitution")
		case *syntax.BinaryCmd:
			if (n.Op == syntax.Pipe || n.Op == syntax.PipeAll) && !readerPipeline(n) {
				pipes = append(pipes, [2]uint{n.Pos().Offset(), n.End().Offset()})
			}
		case *syntax.TimeClause:
			// time -- CMD and time -p -- CMD: bash's time keyword
			// skips the --, which the parser leaves as the name.
			if n.Stmt != nil {
				if call, ok := n.Stmt.Cmd.(*syntax.CallExpr); ok && len(call.Args) > 1 && call.Args[0].Lit() == "--" {
					call.Args = call.Args[1:]
				}
			}
		case *syntax.ExtGlob:
			// ?(..) @(..) and the like hold text the parser keeps as
			// written: a substitution in one runs unseen.
			if strings.ContainsAny(n.Pattern.Value, "$`") {
				w.dyn("the extended glob %q holds a substitution", source(src, n))
			}
		case *syntax.DeclClause:
			w.cur = here(n)
			c := Command{Name: n.Variant.Value}
			for _, a := range n.Args {
				c.Args = append(c.Args, source(src, a))
			}
			w.cmds = append(w.cmds, w.place(c))
			w.declare(src, n)
		case *syntax.Assign:
			w.assigns(src, n)
			if n.Name != nil && n.Value != nil && n.Index == nil {
				a := word(src, n.Value)
				if n.Append {
					// f+=x: the value f held, then x.
					ref := "${" + n.Name.Value + "}"
					b := arg{text: ref + a.text, glob: a.glob}
					for _, p := range a.pats {
						b.pats = append(b.pats, ref+p)
					}
					if a.subst {
						// f+=$(cmd): alone where f was empty, any
						// text beside what f held.
						b.pats = append(b.pats, ref+SubstValue)
						if !slices.Contains(a.pats, quoteGlob(a.text)) {
							b.pats = append(b.pats, ref+quoteGlob(a.text))
						}
						b.glob = true
					}
					a = b
				}
				w.value(n.Name.Value, a)
			}
			if n.Name != nil && (n.Index != nil || n.Append && n.Array != nil) {
				w.unknown(n.Name.Value) // a[1]=x, a+=(x): $a may be any element
			}
			if n.Name != nil && n.Array != nil {
				// a=(x y): $a is the first element, ${a[i]} any.
				for _, e := range n.Array.Elems {
					if e.Value != nil {
						w.value(n.Name.Value, word(src, e.Value))
					}
				}
			}
			if n.Array != nil && n.Name != nil && v.assoc[n.Name.Value] {
				for _, e := range n.Array.Elems {
					assocElems[e] = true // m=([key]=v): keys are strings
				}
			}
			if n.Index != nil && !(n.Name != nil && v.assoc[n.Name.Value]) {
				arith(n.Index)
			}
		case *syntax.WordIter:
			for _, it := range n.Items {
				as, _, _ := words(src, it)
				for _, a := range as {
					w.value(n.Name.Value, a)
				}
			}
			if risky(n.Name.Value) {
				w.dyn("the loop sets %s, which changes what commands run", n.Name.Value)
			}
		case *syntax.ParamExp:
			if n.Exp != nil && n.Param != nil && (n.Exp.Op == syntax.AssignUnset || n.Exp.Op == syntax.AssignUnsetOrNull) && risky(n.Param.Value) {
				w.dyn("%s sets %s, which changes what commands run", source(src, n), n.Param.Value)
			}
			if n.Exp != nil && n.Param != nil && (n.Exp.Op == syntax.AssignUnset || n.Exp.Op == syntax.AssignUnsetOrNull) {
				// ${f:=x} gives f the value x.
				if n.Exp.Word != nil {
					w.value(n.Param.Value, word(src, n.Exp.Word))
				} else {
					w.value(n.Param.Value, arg{static: true})
				}
			}
			if n.Excl && n.Names == 0 && n.Index == nil {
				// ${!x}: the value of x names the variable read, and a
				// subscript in that name runs commands (x='a[$(rm)]').
				w.dyn("%s reads a variable named by a value", source(src, n))
			}
			if n.Exp != nil && n.Exp.Op == syntax.OtherParamOps && n.Exp.Word != nil && strings.Contains(source(src, n.Exp.Word), "P") {
				// ${x@P} expands the value as a prompt, running $(...) in it.
				w.dyn("%s expands a value as a prompt, running commands in it", source(src, n))
			}
			if n.Index != nil && !allElements(n.Index) && !(n.Param != nil && v.assoc[n.Param.Value]) {
				arith(n.Index)
			}
			if n.Slice != nil {
				arith(n.Slice.Offset)
				arith(n.Slice.Length)
			}
		case *syntax.ArithmExp:
			arith(n.X)
		case *syntax.ArithmCmd:
			arith(n.X)
		case *syntax.LetClause:
			for _, x := range n.Exprs {
				arith(x)
			}
		case *syntax.CStyleLoop:
			arith(n.Init)
			arith(n.Cond)
			arith(n.Post)
		case *syntax.ArrayElem:
			if n.Index != nil && !assocElems[n] {
				arith(n.Index)
			}
		case *syntax.BinaryTest:
			if n.Op >= syntax.TsEql && n.Op <= syntax.TsGtr {
				for _, x := range []syntax.TestExpr{n.X, n.Y} {
					if wd, ok := x.(*syntax.Word); ok {
						arith(wd)
					}
				}
			}
		case *syntax.UnaryTest:
			if n.Op == syntax.TsVarSet || n.Op == syntax.TsRefVar {
				if wd, ok := n.X.(*syntax.Word); ok {
					if why := subscripted("[[ -v ]]", word(src, wd)); why != "" {
						w.dyn("%s", why)
					}
				}
			}
		}
		return true // nested substitutions are walked too
	})
	return nil
}

// declare reports the declarations whose effect cannot be known: integer
// variables (what is assigned to them is evaluated as arithmetic), name
// references, and names with subscripts or only known at run time.
func (w *walker) declare(src string, d *syntax.DeclClause) {
	if d.Variant.Value == "nameref" {
		w.dyn("nameref makes one variable stand for another")
	}
	// declare -l, -u and -c change the case of what is assigned: the
	// variables they name may hold any text.
	changesCase := false
	for _, a := range d.Args {
		if a.Name == nil && a.Value != nil {
			if t := word(src, a.Value); !t.static || (strings.HasPrefix(t.text, "-") || strings.HasPrefix(t.text, "+")) && strings.ContainsAny(t.text[1:], "luc") {
				changesCase = true
			}
		}
	}
	for _, a := range d.Args {
		if changesCase && a.Name != nil {
			w.unknown(a.Name.Value)
		}
		if a.Name != nil || a.Value == nil {
			continue
		}
		t := word(src, a.Value)
		if t.static && (strings.HasPrefix(t.text, "-") || strings.HasPrefix(t.text, "+")) {
			if strings.ContainsAny(t.text[1:], "in") {
				w.dyn("%s %s evaluates what is assigned as arithmetic or makes one variable stand for another", d.Variant.Value, t.text)
			}
			continue
		}
		name, value, _ := strings.Cut(t.text, "=")
		if strings.HasPrefix(value, "(") {
			// declare 'x=(...)' reads the text as an array assignment,
			// running the substitutions in it, as eval would.
			w.dyn("%s %s reads its value as shell words", d.Variant.Value, t.text)
		}
		if why := subscripted(d.Variant.Value, arg{text: name, static: t.static}); why != "" {
			w.dyn("%s", why)
		}
		if risky(name) {
			w.dyn("%s sets %s, which changes what commands run", d.Variant.Value, name)
		}
	}
}

// assigns reports an assignment to a variable that changes what runs.
func (w *walker) assigns(src string, a *syntax.Assign) {
	if a.Name != nil && risky(a.Name.Value) {
		w.dyn("the script sets %s, which changes what commands run", a.Name.Value)
	}
}

// callExpr collects a simple command. Its words are expanded here; the
// substitutions inside them are walked by script's walk.
func (w *walker) callExpr(src string, c *syntax.CallExpr, depth int) {
	if len(c.Args) == 0 {
		return // assignments only
	}
	args, ok := w.args(src, c.Args)
	if !ok {
		return
	}
	w.run(args, depth)
}

// args expands words; it reports false, with a reason, when the command
// cannot be known.
func (w *walker) args(src string, ws []*syntax.Word) ([]arg, bool) {
	var args []arg
	for i, wd := range ws {
		as, braces, tooMany := words(src, wd)
		if tooMany && !w.pattern {
			w.dyn("the brace expansion %q makes too many words", source(src, wd))
			return nil, false
		}
		if i == 0 && braces && !w.pattern {
			w.dyn("the command name comes from the brace expansion %q", source(src, wd))
			return nil, false
		}
		args = append(args, as...)
	}
	return args, len(args) > 0
}

// run reports the command args runs, and those it runs in turn, and
// returns its canonical words (nil where it is only known at run time).
func (w *walker) run(args []arg, depth int) []string {
	if depth > maxDepth {
		w.dyn("commands nested more than %d deep", maxDepth)
		return nil
	}
	name := args[0]
	if !w.pattern {
		if !name.static {
			w.dyn("the command name %q is only known when the script runs", name.text)
			return nil
		}
		if name.glob {
			w.dyn("the command name %q is a glob pattern", name.text)
			return nil
		}
	}
	prog := path.Base(name.text)
	if name.text == "" {
		prog = ""
	}
	if !w.pattern && strings.Contains(name.text, "/") && !systemPath(name.text) {
		w.dyn("the program %q is a file outside the system's folders, which may be a link to any program", name.text)
	}
	rest := args[1:]
	if !w.pattern {
		// env -C DIR, git -C DIR, make -C DIR: the command (and what it
		// runs) may run there.
		if extra, ok := chdirs(prog, rest, w.cur); ok {
			from := w.cur
			w.cur = w.cur.union(extra)
			defer func() { w.cur = from }()
		}
		names := nameArgs(prog, rest)
		switch {
		case prog == "read" && len(names) == 0:
			w.value("REPLY", arg{text: ReadValue})
		case (prog == "mapfile" || prog == "readarray") && len(names) == 0:
			w.value("MAPFILE", arg{text: ReadValue})
		}
		for _, a := range names {
			if a.static && (prog == "read" || prog == "mapfile" || prog == "readarray") {
				// read f, mapfile a: what a file or a pipe holds,
				// which may name any file.
				name, _, _ := strings.Cut(a.text, "[")
				w.value(name, arg{text: ReadValue})
			}
			if a.static && (prog == "printf" || prog == "getopts") {
				// printf -v f FORMAT ...: f holds what the format makes.
				name, _, _ := strings.Cut(a.text, "[")
				w.unknown(name)
			}
			if why := subscripted(prog, a); why != "" {
				w.dyn("%s", why)
			}
			if a.static && risky(a.text) {
				w.dyn("%s sets %s, which changes what commands run", prog, a.text)
			}
		}
	}
	if wr, ok := wrappers.Get()[prog]; ok {
		return w.wrapper(prog, wr, rest, depth)
	}
	if shells.Get()[prog] {
		return w.shell(prog, rest, depth)
	}
	var out []string
	switch prog {
	case "eval":
		w.dyn("eval runs text as a script")
	case "source", ".":
		w.dyn("%s runs the commands of a file", prog)
	case "alias":
		for _, a := range rest {
			if strings.Contains(a.text, "=") || !a.static {
				w.dyn("alias defines a command name: %s", a.text)
			}
		}
	case "fc":
		w.dyn("fc runs commands from the history")
	case "jobs":
		// jobs -x CMD ARGS runs CMD with the job specs in ARGS replaced.
		if x, ok := jobsExec(rest); !ok {
			w.dyn("jobs is given options only known when it runs")
		} else if len(x) > 0 {
			w.run(x, depth+1)
		}
	case "compgen":
		// compgen -C CMD runs CMD as a script, and expands -W's words
		// as the shell expands a word, command substitutions included.
		for _, a := range rest {
			if !a.static || strings.HasPrefix(a.text, "-") && strings.ContainsAny(a.text, "CW") {
				w.dyn("compgen -C and -W run commands given as text")
				break
			}
		}
	case "hash", "enable":
		// hash -p PATH NAME and enable -f FILE NAME change what NAME runs.
		letter := map[string]string{"hash": "p", "enable": "f"}[prog]
		for _, a := range rest {
			if !a.static || strings.HasPrefix(a.text, "-") && strings.Contains(a.text[1:], letter) {
				w.dyn("%s %s changes what a command name runs", prog, a.text)
			}
		}
	case "trap":
		w.trap(rest, depth)
	case "mapfile", "readarray":
		for _, a := range rest {
			if strings.HasPrefix(a.text, "-C") || !a.static {
				w.dyn("%s -C runs a callback given as text", prog)
				break
			}
		}
	case "xargs":
		return w.xargs(rest, depth)
	case "find":
		return w.find(rest, depth)
	case "git":
		out = w.git(rest, depth)
	case "tar":
		out = w.tar(rest)
	case "watch":
		return w.watch(rest, depth)
	case "split", "sort", "awk", "gawk", "mawk", "nawk", "sed":
		w.runsOthers(prog, rest, depth)
	}
	if out == nil {
		if o, ok := tools.Get()[prog]; ok {
			w.runtimeFlags(prog, o, rest)
			out = canonical(o.parse(rest))
		} else {
			out = texts(rest)
		}
	}
	out = append([]string{prog}, out...)
	w.cmds = append(w.cmds, w.place(Command{Name: prog, Args: out[1:], Globs: globs(rest)}))
	return out
}

// globs returns the texts of the args the shell expands against file names.
func globs(args []arg) []string {
	var out []string
	for _, a := range args {
		switch {
		case a.glob && len(a.pats) > 0:
			out = append(out, a.pats...)
		case a.glob:
			out = append(out, a.text)
		}
	}
	return out
}

func texts(args []arg) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a.text
	}
	return out
}

// runtimeFlags makes dynamic the flags of a known program that a run-time
// part could extend (rm -r$x).
func (w *walker) runtimeFlags(prog string, o *options, args []arg) {
	if w.pattern {
		return
	}
	for _, f := range o.runtimeFlags(args) {
		w.dyn("%s is given %q, which may add flags only known when it runs (put -- before operands from variables)", prog, f)
	}
}

// nested reads a script given as text (bash -c, trap, watch): a script
// only known at run time, or that does not parse, is dynamic.
func (w *walker) nested(who string, a arg, depth int) {
	if !a.static {
		w.dyn("%s runs a script only known when it runs: %s", who, a.text)
		return
	}
	if a.glob {
		// bash -c *, find -exec sh -c {}, xargs sh -c: the script is
		// a file's name or text read, not the word as written.
		w.dyn("%s runs as a script what a glob, a file found or text read gives when it runs: %s", who, a.text)
		return
	}
	if err := w.script(a.text, depth+1); err != nil {
		w.dyn("%s runs a script that does not parse", who)
	}
}

// shell reads the options of a shell: its commands come from -c, a file,
// or standard input (which cannot be known here).
func (w *walker) shell(prog string, args []arg, depth int) []string {
	idx := w.reserve()
	w.cmds[idx] = w.place(Command{Name: prog, Args: texts(args), Globs: globs(args)})
	script, stdin, startup := false, false, ""
	i := 0
loop:
	for ; i < len(args); i++ {
		a := args[i]
		switch {
		case !a.static:
			w.dyn("%s is given options only known when it runs", prog)
			return append([]string{prog}, texts(args)...)
		case a.text == "--" || a.text == "-":
			i++
			break loop
		case a.text == "--rcfile" || a.text == "--init-file":
			startup = a.text
			i++
		case a.text == "--login":
			startup = a.text
		case strings.HasPrefix(a.text, "--"):
		case len(a.text) > 1 && (a.text[0] == '-' || a.text[0] == '+'):
			for _, c := range a.text[1:] {
				switch c {
				case 'c':
					script = true
				case 's', 'i':
					stdin = true
				case 'o', 'O':
					i++
				}
				if (c == 'l' || c == 'i') && a.text[0] == '-' {
					startup = "-" + string(c)
				}
			}
		default:
			break loop
		}
	}
	if startup != "" {
		// A login or interactive shell first runs startup files
		// (~/.profile, ~/.bash_profile, ~/.bashrc, $ENV): the sandbox's
		// home is the workspace, which any command or file tool writes.
		w.dyn("%s %s runs startup files from its home folder, the workspace", prog, startup)
	}
	switch {
	case script && i < len(args):
		w.nested(prog+" -c", args[i], depth)
	case script:
	case stdin || i >= len(args) || stdinFiles.Get()[args[i].text]:
		w.dyn("%s reads its commands from standard input", prog)
	case !args[i].static:
		w.dyn("%s runs a script file only known when it runs: %s", prog, args[i].text)
	default:
		// As source does: the file's commands are not in this script, and
		// it may have just written them (echo 'rm -rf /' > x.sh; bash x.sh).
		w.dyn("%s runs the commands of the file %s", prog, args[i].text)
	}
	return append([]string{prog}, texts(args)...)
}

// stdinFiles are the names of standard input a shell may be given.
var stdinFiles = lazy.Value[map[string]bool]{New: func() map[string]bool {
	return map[string]bool{"-": true, "/dev/stdin": true, "/dev/fd/0": true, "/proc/self/fd/0": true}
}}

// jobsExec returns the command jobs -x runs (nil without -x), and false
// when an option is only known at run time. Options after -x are
// skipped, the stricter reading.
func jobsExec(args []arg) ([]arg, bool) {
	x := false
	for i, a := range args {
		switch {
		case !a.static:
			return nil, false
		case a.text == "--":
			if x {
				return args[i+1:], true
			}
			return nil, true
		case len(a.text) > 1 && a.text[0] == '-':
			x = x || strings.Contains(a.text, "x")
		case x:
			return args[i:], true
		default:
			return nil, true
		}
	}
	return nil, true
}

// trap's first operand is a script run on a signal.
func (w *walker) trap(args []arg, depth int) {
	for i, a := range args {
		if a.static && (a.text == "-p" || a.text == "-l" || a.text == "-P") {
			return
		}
		if a.static && a.text == "--" {
			continue
		}
		if i+1 < len(args) {
			w.nested("trap", a, depth)
		}
		return
	}
}

// watch runs its operands joined as a shell script (or with -x, exec'd).
func (w *walker) watch(args []arg, depth int) []string {
	idx := w.reserve()
	w.cmds[idx] = w.place(Command{Name: "watch", Args: texts(args), Globs: globs(args)})
	flags, _, rest, ok := skipOptions(watchOptions.Get(), args)
	if !ok {
		w.dyn("watch is given options only known when it runs")
		return append([]string{"watch"}, texts(args)...)
	}
	if len(rest) == 0 {
		return append([]string{"watch"}, texts(args)...)
	}
	for _, f := range flags {
		if f == "-x" || f == "--exec" {
			w.run(rest, depth+1)
			return append([]string{"watch"}, texts(args)...)
		}
	}
	joined := arg{static: true}
	for i, a := range rest {
		if i > 0 {
			joined.text += " "
		}
		joined.text += a.text
		joined.static = joined.static && a.static
	}
	w.nested("watch", joined, depth)
	return append([]string{"watch"}, texts(args)...)
}

var watchOptions = lazy.Value[*options]{New: func() *options {
	return newOptions("bcegptrx", "nq", "d", "",
		"beep=b color=c no-color=C errexit=e exec=x chgexit=g no-title=t no-wrap=w no-rerun=r precise=p interval:=n differences?=d equexit:=q")
}}

// redirections returns the files rs read and write, as "< FILE" and
// "> FILE" (>>, >|, &>, &>> and >& FILE write; <> does both).
func redirections(src string, rs []*syntax.Redirect) []string {
	var out []string
	for _, r := range rs {
		if r.Word == nil {
			continue
		}
		name := word(src, r.Word).text
		switch r.Op {
		case syntax.RdrIn:
			out = append(out, "< "+name)
		case syntax.RdrInOut:
			out = append(out, "< "+name, "> "+name)
		case syntax.RdrOut, syntax.AppOut, syntax.RdrClob, syntax.RdrAll, syntax.AppAll:
			out = append(out, "> "+name)
		case syntax.DplOut:
			if strings.Trim(name, "0123456789-") != "" {
				out = append(out, "> "+name) // >&FILE is &>FILE
			}
		}
	}
	return out
}

// maxInput bounds the words listed for the here-strings and here-documents
// of one statement; past it, the statement is given the glob anyText.
const maxInput = 4096

// inputs returns the words of the here-strings and here-documents in rs,
// which feed a command's standard input (xargs cat <<< secrets/k, python3 -
// <<EOF): each word split at blanks, and again at quotes, brackets and the
// like, so that a name in open('secrets/k') is a word too. globs are the
// redirected files and input words whose text holds a glob or a part that
// cannot be known (cat < secrets/+(k), <<< ${f,,}), as arg.pats.
func inputs(src string, rs []*syntax.Redirect) (words, globs []string) {
	seen := map[string]bool{}
	add := func(s string) {
		if s == "" || seen[s] {
			return
		}
		seen[s] = true
		if len(words) == maxInput {
			globs = append(globs, anyText)
		}
		if len(words) < maxInput {
			words = append(words, s)
		}
	}
	split := func(text string) {
		for _, f := range strings.Fields(text) {
			add(f)
			for _, t := range strings.FieldsFunc(f, InputBreak) {
				add(t)
			}
		}
	}
	for _, r := range rs {
		switch {
		case r.Op == syntax.WordHdoc && r.Word != nil:
			a := word(src, r.Word)
			add(a.text)
			split(a.text)
			globs = append(globs, a.pats...)
		case (r.Op == syntax.Hdoc || r.Op == syntax.DashHdoc) && r.Hdoc != nil:
			a, fs := markedWord(src, r.Hdoc)
			split(a.text)
			for _, p := range fs {
				// What a part only known at run time makes of a
				// word of the document: a substitution alone
				// ($(date)) is judged where it is made, any
				// other is any text (${f,,}, $(a)$(b), x$(b)).
				for _, f := range strings.FieldsFunc(p.s, InputBreak) {
					if f != substMark && strings.Contains(f, anyText) {
						f = strings.ReplaceAll(f, substMark, anyText)
						if !slices.Contains(globs, f) {
							globs = append(globs, f)
						}
					}
				}
			}
		case r.Word != nil && r.Op != syntax.Hdoc && r.Op != syntax.DashHdoc:
			if a := word(src, r.Word); a.glob {
				globs = append(globs, a.pats...)
				if len(a.pats) == 0 {
					globs = append(globs, a.text)
				}
			}
		}
	}
	return words, globs
}

// InputBreak reports whether r ends a word of a here-document, or of a
// program's code given as an argument (python3 -c, node -e), as the
// program may read it: a blank, a quote, a bracket, =, a comma and the
// like (open('secrets/k'), path=secrets/k).
func InputBreak(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune("'\"`()[]{},;=<>|&", r)
}

// allElements reports whether a subscript is @ or *: every element, no
// arithmetic.
func allElements(x syntax.ArithmExpr) bool {
	w, ok := x.(*syntax.Word)
	if !ok || len(w.Parts) != 1 {
		return false
	}
	l, ok := w.Parts[0].(*syntax.Lit)
	return ok && (l.Value == "@" || l.Value == "*")
}
