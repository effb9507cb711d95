package shell

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"
)

// arg is one word of a simple command after quote removal.
type arg struct {
	// text is the word with its quotes removed. A part that is only known
	// when the script runs (a parameter expansion, a command or arithmetic
	// substitution) is kept as it was written, as a placeholder.
	text string
	// static is false when the word holds such a run-time part.
	static bool
	// glob is true when the word has an unquoted *, ? or [ (or an
	// extended glob), which the shell would expand against file names.
	glob bool
	// lead is the text before the first run-time part, when there is one.
	lead string
	// pat is the word as a glob a policy pattern is matched against: text
	// with each part whose text cannot be known written as * (an extended
	// glob such as +(k) or !(x), a parameter expansion with an operator
	// such as ${f,,} or ${f#x}, and a substitution beside other text, as
	// in secrets/$(echo k)). Where it differs from text, glob is set.
	pat string
}

// words returns the words a shell word becomes after brace expansion and
// quote removal. src is the source the word was parsed from, for the text
// of run-time parts. braces reports whether brace expansion made several
// words of one; tooMany whether it would make too many to list.
func words(src string, w *syntax.Word) (out []arg, braces, tooMany bool) {
	// SplitBraces rewrites the word in place; work on a copy of its parts.
	cp := &syntax.Word{Parts: append([]syntax.WordPart(nil), w.Parts...)}
	if !syntax.SplitBraces(cp) {
		return []arg{word(src, w)}, false, false
	}
	bws, ok := expandBraces(cp, maxBraceWords)
	if !ok {
		return []arg{word(src, w)}, true, true
	}
	for _, bw := range bws {
		out = append(out, word(src, bw))
	}
	return out, len(out) != 1, false
}

// maxBraceWords bounds the words one brace expansion may list.
const maxBraceWords = 1024

// word returns a shell word after quote removal.
func word(src string, w *syntax.Word) arg {
	a := arg{static: true}
	var b, pb strings.Builder
	subst := false
	for _, p := range w.Parts {
		part(src, p, &b, &pb, &a, &subst, false)
	}
	a.text, a.pat = b.String(), pb.String()
	if subst && a.pat != "*" {
		// $(echo k) alone is what the commands inside print, and they
		// are judged; beside other text (secrets/$(echo k)) it may
		// complete any name.
		a.glob = true
	}
	if !subst && a.pat != a.text {
		a.glob = true
	}
	if !a.glob {
		a.pat = a.text
	}
	return a
}

// part writes the text of p to b and its form as a glob (see arg.pat) to
// pb. subst is set when p is a substitution, whose text is unknown.
func part(src string, p syntax.WordPart, b, pb *strings.Builder, a *arg, subst *bool, quoted bool) {
	switch p := p.(type) {
	case *syntax.Lit:
		if quoted {
			s := unescapeDouble(p.Value)
			b.WriteString(s)
			pb.WriteString(s)
			return
		}
		s, g := unescape(p.Value)
		b.WriteString(s)
		pb.WriteString(s)
		a.glob = a.glob || g
	case *syntax.SglQuoted:
		if !p.Dollar {
			b.WriteString(p.Value)
			pb.WriteString(p.Value)
			return
		}
		s, ok := ansiC(p.Value)
		if !ok {
			a.runtime(b)
			b.WriteString(source(src, p))
			pb.WriteString("*")
			a.glob = true
			return
		}
		b.WriteString(s)
		pb.WriteString(s)
	case *syntax.DblQuoted:
		for _, q := range p.Parts {
			part(src, q, b, pb, a, subst, true)
		}
	case *syntax.ExtGlob:
		// ?(..) *(..) +(..) @(..) !(..): read as globs whether or not
		// extglob is on (shopt or BASHOPTS may turn it on); !(x) may
		// match any name, so each is * whatever it holds.
		a.glob = true
		b.WriteString(source(src, p))
		pb.WriteString("*")
	case *syntax.BraceExp:
		// Left by a brace expansion that could not be expanded; the
		// word is what it was written as.
		b.WriteString(source(src, p))
		pb.WriteString(source(src, p))
	case *syntax.ParamExp:
		a.runtime(b)
		b.WriteString(source(src, p))
		if plainParam(p) && positional(p.Param.Value) {
			// $1, $@, $*: the words of a call or of set, which are
			// judged where they are written; beside other text ($1$2,
			// "$*" with IFS=/) they may make any name.
			pb.WriteString("*")
			*subst = true
			return
		}
		if plainParam(p) {
			// $f and ${f}: a reader tries the values the script gives
			// f in their place (Script.Values).
			pb.WriteString(source(src, p))
			return
		}
		// ${f,,}, ${f#x}, ${f:-x}, ${!f}, ${a[0]}: a value made at run
		// time, which may be any text.
		pb.WriteString("*")
		a.glob = true
	default: // CmdSubst, ArithmExp, ProcSubst
		a.runtime(b)
		b.WriteString(source(src, p))
		pb.WriteString("*")
		*subst = true
	}
}

// positional reports whether name is a positional or special parameter
// ($1, $@, $*, $_, $?): words of a call, of set or of another command.
func positional(name string) bool {
	if name == "_" || name == "" {
		return true // $_: the last word of the command before
	}
	c := name[0]
	return !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z')
}

// plainParam reports whether p is $name or ${name}: a variable's value
// as it is, with no operator.
func plainParam(p *syntax.ParamExp) bool {
	return p.Param != nil && p.Flags == nil && !p.Excl && !p.Length && !p.Width && !p.IsSet &&
		p.NestedParam == nil && p.Index == nil && len(p.Modifiers) == 0 && p.Slice == nil &&
		p.Repl == nil && p.Names == 0 && p.Exp == nil
}

// runtime marks the word as holding a run-time part from here on.
func (a *arg) runtime(b *strings.Builder) {
	if a.static {
		a.static, a.lead = false, b.String()
	}
}

// source returns the text a node was parsed from.
func source(src string, n syntax.Node) string {
	s, e := n.Pos(), n.End()
	if !s.IsValid() || !e.IsValid() {
		return "?"
	}
	i, j := int(s.Offset()), int(e.Offset())
	if i < 0 || j > len(src) || i > j {
		return "?"
	}
	return src[i:j]
}

// unescape removes the backslashes of an unquoted literal and reports
// whether it has an unquoted glob character.
func unescape(s string) (string, bool) {
	if !strings.ContainsAny(s, `\*?[`) {
		return s, false
	}
	var b strings.Builder
	glob := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] != '\n' {
				b.WriteByte(s[i])
			}
			continue
		case c == '*' || c == '?' || c == '[':
			glob = true
		}
		b.WriteByte(c)
	}
	return b.String(), glob
}

// unescapeDouble removes the backslashes that quote a character inside
// double quotes: those before $, `, ", \ and a newline.
func unescapeDouble(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("$`\"\\\n", s[i+1]) >= 0 {
			i++
			if s[i] != '\n' {
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ansiC decodes the body of a $'...' string as bash does. It reports false
// for the rare escapes it does not decode (\c), which are then left as
// run-time parts.
func ansiC(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++
		switch c := s[i]; c {
		case 'a':
			b.WriteByte('\a')
		case 'b':
			b.WriteByte('\b')
		case 'e', 'E':
			b.WriteByte(0x1b)
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte('\v')
		case '\\', '\'', '"', '?':
			b.WriteByte(c)
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			n, _ := strconv.ParseUint(s[i:j], 8, 16)
			if n == 0 {
				// bash ends the string at a NUL byte.
				return b.String(), true
			}
			b.WriteByte(byte(n))
			i = j - 1
		case 'x', 'u', 'U':
			max := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
			j := i + 1
			for j < len(s) && j < i+1+max && isHex(s[j]) {
				j++
			}
			if j == i+1 {
				b.WriteByte('\\')
				b.WriteByte(c)
				continue
			}
			n, _ := strconv.ParseUint(s[i+1:j], 16, 32)
			switch {
			case n == 0:
				return b.String(), true
			case c == 'x':
				b.WriteByte(byte(n))
			case n > utf8.MaxRune:
				return "", false
			default:
				b.WriteRune(rune(n))
			}
			i = j - 1
		case 'c':
			return "", false
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
