package shell

import (
	"path"
	"regexp"
	"strings"

	"mvdan.cc/sh/v3/syntax"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// Bash evaluates arithmetic recursively: a variable named in an arithmetic
// context ($((x)), ((x)), let, [[ x -eq 1 ]], ${a[x]}, ${s:x}) is read and
// its value evaluated as arithmetic in turn, and a value such as
// 'a[$(rm -rf /)]' runs the command in its subscript. The builtins that take
// a variable name (unset, read, printf -v, test -v, declare, ...) evaluate
// a subscript in the name the same way. So a script that looks static runs
// what a value holds:
//
//	x='a[$(rm -rf /)]'; echo $((x))
//
// vars tells the variables whose value is known to be a number (assigned
// only by arithmetic or a number literal in this script) from the others;
// an arithmetic context that reads any other makes the script dynamic.
type vars struct {
	numeric map[string]bool // assigned a number somewhere
	other   map[string]bool // assigned anything else somewhere
	// nameref: a declare -n makes a name stand for another, so no
	// variable's value can be known.
	nameref bool
	// assoc are the associative arrays (declare -A): their subscripts are
	// strings, not arithmetic.
	assoc map[string]bool
}

// alwaysNumeric are the variables bash sets to a number itself.
var alwaysNumeric = lazy.Value[map[string]bool]{New: func() map[string]bool {
	return map[string]bool{"#": true, "?": true, "$": true, "!": true, "-": true,
		"RANDOM": true, "SECONDS": true, "LINENO": true, "BASHPID": true, "PPID": true,
		"UID": true, "EUID": true, "OPTIND": true, "EPOCHSECONDS": true, "BASH_SUBSHELL": true}
}}

var (
	identifier = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) }}
	number     = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`^([0-9]+(#[0-9A-Za-z@_]+)?|0[xX][0-9A-Fa-f]+)$`) }}
	numberList = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp {
		return regexp.MustCompile(`^-?[0-9]+$|^\{-?[0-9]+\.\.-?[0-9]+(\.\.-?[0-9]+)?\}$|^\{-?[0-9]+(,-?[0-9]+)*\}$`)
	}}
)

func (v *vars) safe(name string) bool {
	if v.nameref || v.other[name] {
		return false
	}
	return v.numeric[name] || alwaysNumeric.Get()[name]
}

// collectVars reads how each variable of f is assigned.
func collectVars(src string, f *syntax.File) *vars {
	v := &vars{numeric: map[string]bool{}, other: map[string]bool{}, assoc: map[string]bool{}}
	assign := func(a *syntax.Assign) {
		if a.Name == nil {
			if a.Value != nil { // declare 'x=1', a flag, or a run-time word
				w := word(src, a.Value)
				name, _, _ := strings.Cut(w.text, "=")
				if strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+") {
					if strings.ContainsAny(name, "n") {
						v.nameref = true
					}
					return
				}
				v.other[name] = true
			}
			return
		}
		name := a.Name.Value
		switch {
		case a.Naked || a.Index != nil || a.Array != nil:
			v.other[name] = true
		case a.Value == nil:
			v.numeric[name] = true // x= is empty, which is 0
		case len(a.Value.Parts) == 1:
			switch p := a.Value.Parts[0].(type) {
			case *syntax.ArithmExp:
				v.numeric[name] = true
			case *syntax.Lit:
				if number.Get().MatchString(p.Value) {
					v.numeric[name] = true
				} else {
					v.other[name] = true
				}
			default:
				v.other[name] = true
			}
		default:
			v.other[name] = true
		}
	}
	arithAssigned := func(x syntax.ArithmExpr) {
		if w, ok := x.(*syntax.Word); ok && len(w.Parts) == 1 {
			if l, ok := w.Parts[0].(*syntax.Lit); ok {
				v.numeric[l.Value] = true
			}
		}
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Assign:
			assign(n)
		case *syntax.DeclClause:
			if n.Variant.Value == "nameref" {
				v.nameref = true
			}
			assoc := false
			for _, a := range n.Args {
				switch {
				case a.Name == nil && a.Value != nil:
					t := word(src, a.Value).text
					if strings.HasPrefix(t, "-") && strings.Contains(t, "A") {
						assoc = true
					}
				case a.Name != nil && assoc:
					v.assoc[a.Name.Value] = true
				}
			}
		case *syntax.WordIter:
			// for i in 1 2 3, for i in {1..10}: numbers only.
			numeric := len(n.Items) > 0
			for _, it := range n.Items {
				numeric = numeric && numberList.Get().MatchString(source(src, it))
			}
			if numeric {
				v.numeric[n.Name.Value] = true
			} else {
				v.other[n.Name.Value] = true
			}
		case *syntax.BinaryArithm:
			if n.Op >= syntax.Assgn && n.Op <= syntax.PowAssgn {
				arithAssigned(n.X)
			}
		case *syntax.UnaryArithm:
			if n.Op == syntax.Inc || n.Op == syntax.Dec {
				arithAssigned(n.X)
			}
		case *syntax.ParamExp:
			if n.Exp != nil && n.Param != nil && (n.Exp.Op == syntax.AssignUnset || n.Exp.Op == syntax.AssignUnsetOrNull) {
				v.other[n.Param.Value] = true
			}
		case *syntax.CallExpr:
			// read x, printf -v x, mapfile x, getopts o x, wait -p x:
			// every word that could be a name is taken as one.
			if len(n.Args) > 0 && nameTakers.Get()[word(src, n.Args[0]).text] {
				for _, a := range n.Args[1:] {
					if t := word(src, a); identifier.Get().MatchString(t.text) {
						v.other[t.text] = true
					}
				}
			}
		}
		return true
	})
	return v
}

// nameTakers are the builtins that assign to variables they are given by
// name (a name may carry a subscript, which bash evaluates).
var nameTakers = lazy.Value[map[string]bool]{New: func() map[string]bool {
	return map[string]bool{"read": true, "mapfile": true, "readarray": true,
		"printf": true, "getopts": true, "wait": true}
}}

// arith reports why the arithmetic expression x may run what a value holds,
// or "" when it reads only numbers.
func (v *vars) arith(src string, x syntax.ArithmExpr) string {
	why := ""
	var check func(x syntax.ArithmExpr)
	check = func(x syntax.ArithmExpr) {
		if why != "" || x == nil {
			return
		}
		switch x := x.(type) {
		case *syntax.BinaryArithm:
			check(x.X)
			check(x.Y)
		case *syntax.UnaryArithm:
			check(x.X)
		case *syntax.ParenArithm:
			check(x.X)
		case *syntax.Word:
			for _, p := range x.Parts {
				if why == "" {
					why = v.arithPart(src, p, check)
				}
			}
		}
	}
	check(x)
	return why
}

func (v *vars) arithPart(src string, p syntax.WordPart, check func(syntax.ArithmExpr)) string {
	switch p := p.(type) {
	case *syntax.Lit:
		switch {
		case number.Get().MatchString(p.Value):
		case identifier.Get().MatchString(p.Value) && v.safe(p.Value):
		default:
			return "arithmetic reads " + p.Value + ", whose value bash evaluates in turn (a subscript in it runs commands)"
		}
	case *syntax.ParamExp:
		if p.Length && p.Index == nil {
			return "" // ${#x} is a number
		}
		if p.Param == nil || p.Excl || p.Exp != nil || p.Repl != nil || p.Slice != nil || p.Index != nil || !v.safe(p.Param.Value) {
			return "arithmetic reads " + source(src, p) + ", whose value bash evaluates in turn (a subscript in it runs commands)"
		}
	case *syntax.ArithmExp:
		check(p.X)
	default:
		return "arithmetic reads " + source(src, p) + ", whose value bash evaluates in turn (a subscript in it runs commands)"
	}
	return ""
}

// subscripted reports why a variable name given as text to a builtin (unset
// 'a[i]', read 'a[$(x)]') may run commands: a subscript other than digits,
// or a name only known at run time.
func subscripted(prog string, a arg) string {
	if !a.static {
		return prog + " is given a variable name only known when it runs, whose subscript bash would evaluate: " + a.text
	}
	i := strings.IndexByte(a.text, '[')
	if i < 0 {
		return ""
	}
	sub := strings.TrimSuffix(a.text[i+1:], "]")
	if sub != "" && strings.Trim(sub, "0123456789 ") == "" {
		return ""
	}
	return prog + " is given " + a.text + ", whose subscript bash evaluates as arithmetic (it may run commands)"
}

// nameArgs returns the words a builtin takes as variable names.
func nameArgs(prog string, args []arg) []arg {
	var out []arg
	switch prog {
	case "unset":
		for _, a := range args {
			if !a.static || !strings.HasPrefix(a.text, "-") {
				out = append(out, a)
			}
		}
	case "read", "mapfile", "readarray":
		values, names := "dinNptu", "a"
		if prog != "read" {
			values, names = "dnOsuCc", ""
		}
		for i := 0; i < len(args); i++ {
			a := args[i]
			if !a.static || !strings.HasPrefix(a.text, "-") || a.text == "-" {
				out = append(out, args[i:]...)
				break
			}
			if a.text == "--" {
				out = append(out, args[i+1:]...)
				break
			}
			for j := 1; j < len(a.text); j++ {
				c := a.text[j]
				if strings.IndexByte(values+names, c) < 0 {
					continue
				}
				v := arg{text: a.text[j+1:], static: true}
				if j+1 == len(a.text) && i+1 < len(args) {
					i++
					v = args[i]
				}
				if strings.IndexByte(names, c) >= 0 {
					out = append(out, v)
				}
				break
			}
		}
	case "printf", "wait":
		for i, a := range args {
			switch {
			case !a.static || a.text == "--" || !strings.HasPrefix(a.text, "-"):
				return out
			case a.text == "-v" || a.text == "-p":
				if i+1 < len(args) {
					out = append(out, args[i+1])
				}
			case strings.HasPrefix(a.text, "-v") || strings.HasPrefix(a.text, "-p"):
				out = append(out, arg{text: a.text[2:], static: true})
			}
		}
	case "getopts":
		if len(args) > 1 {
			out = append(out, args[1])
		}
	case "test", "[", "[[":
		for i, a := range args {
			if a.static && (a.text == "-v" || a.text == "-R") && i+1 < len(args) {
				out = append(out, args[i+1])
			}
		}
	}
	return out
}

// riskyNames are variables whose value changes which program a command
// name runs, or runs commands itself: a script that sets one runs what
// cannot be known from its text.
var riskyNames = lazy.Value[map[string]bool]{New: func() map[string]bool {
	return map[string]bool{
		"PATH": true, "BASH_ENV": true, "ENV": true, "SHELLOPTS": true, "BASHOPTS": true,
		"PS4": true, "PROMPT_COMMAND": true, "BASH_CMDS": true, "BASH_ALIASES": true,
		"BASH_LOADABLES_PATH": true, "LD_PRELOAD": true, "LD_LIBRARY_PATH": true, "LD_AUDIT": true,
		"GCONV_PATH": true, "TAR_OPTIONS": true, "PAGER": true, "EDITOR": true, "VISUAL": true,
		"GIT_SSH": true, "GIT_SSH_COMMAND": true, "GIT_PAGER": true, "GIT_EDITOR": true,
		"GIT_SEQUENCE_EDITOR": true, "GIT_EXTERNAL_DIFF": true, "GIT_EXEC_PATH": true,
		"GIT_ASKPASS": true, "SSH_ASKPASS": true, "GIT_PROXY_COMMAND": true, "GIT_CONFIG_PARAMETERS": true,
		"GIT_CONFIG_COUNT": true, "GIT_CONFIG_GLOBAL": true, "GIT_CONFIG_SYSTEM": true, "GIT_TEMPLATE_DIR": true,
		"GIT_ALLOW_PROTOCOL": true, "LESSOPEN": true, "LESSCLOSE": true, "MANPAGER": true,
	}
}}

// risky reports whether setting the variable name changes what runs.
func risky(name string) bool {
	name, _, _ = strings.Cut(name, "[")
	return riskyNames.Get()[name] || strings.HasPrefix(name, "BASH_FUNC_") || strings.HasPrefix(name, "GIT_CONFIG_")
}

// systemPath reports whether a program named by path p is in the system
// folders, which the sandbox mounts read-only: a program named by a path
// elsewhere (./x, /tmp/x, /workspace/x) may be a link to any program.
func systemPath(p string) bool {
	p = path.Clean(p)
	for _, d := range []string{"/usr/", "/bin/", "/sbin/", "/lib/", "/lib32/", "/lib64/", "/libx32/"} {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}
