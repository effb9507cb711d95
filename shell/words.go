package shell

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"mvdan.cc/sh/v3/syntax"

	"github.com/bulwark-agents/bulwark"
)

// anyText stands, in a glob form, for a part whose text cannot be known
// (bulwark.AnyText): any run of characters, slashes included, where a
// shell glob's *, ? and [...] match no /.
const anyText = bulwark.AnyText

// arg is one word of a simple command after quote removal.
type arg struct {
	// text is the word with its quotes removed. A part that is only known
	// when the script runs (a parameter expansion, a command or arithmetic
	// substitution) is kept as it was written, as a placeholder.
	text string
	// static is false when the word holds such a run-time part.
	static bool
	// shortEnds are where each $f (a name without braces) ends in the
	// text being built (see braceShort).
	shortEnds []int
	// glob is true when the word has an unquoted *, ? or [ (or an
	// extended glob), which the shell would expand against file names.
	glob bool
	// lead is the text before the first run-time part, when there is one.
	lead string
	// subst reports that the word may be a command substitution or
	// positional parameter alone ($(cmd), ${1:-x}): a form not in pats,
	// which is what the commands inside print, judged where they run.
	subst bool
	// piped reports that the word holds a command substitution, whose
	// output, alone, is text read from a pipe: ReadValue is then one of
	// pats.
	piped bool
	// pats are the word's forms as globs a policy pattern is matched
	// against, where they differ from text: text with each quoted *, ?,
	// [ and \ written with a backslash before it (see quoteGlob), and
	// (glob is then set) each part whose text cannot be known written as
	// anyText (an extended glob such as +(k) or !(x), a parameter
	// expansion with an operator such as ${f,,} or ${f#x}, and a
	// substitution or positional parameter beside other text, as in
	// secrets/$(echo k)), once for each choice a part makes (${f:-x} is
	// ${f}, x or nothing); ReadValue for a command substitution alone.
	pats []string
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
	a, _ := markedWord(src, w)
	return a
}

// markedWord is word, and the word's glob forms with each substitution
// written as substMark (see inputs).
func markedWord(src string, w *syntax.Word) (arg, forms) {
	a := arg{static: true}
	var b strings.Builder
	fs := forms{{}}
	for _, p := range w.Parts {
		part(src, p, &b, &fs, &a, false)
	}
	a.text = braceShort(b.String(), a.shortEnds)
	a.shortEnds = nil
	for _, f := range fs {
		if f.substs == 1 && f.other == 0 {
			// $(echo k) alone is what the commands inside print, and
			// they are judged; beside other text (secrets/$(echo k)) it
			// may complete any name. What a command substitution
			// prints is read from a pipe, as xargs reads it: a name
			// in a file (cat $(cat list)) may be any file (ReadValue).
			a.subst = true
			if a.piped {
				a.glob = true
				if !slices.Contains(a.pats, ReadValue) {
					a.pats = append(a.pats, ReadValue)
				}
			}
			continue
		}
		s := strings.ReplaceAll(f.s, substMark, anyText)
		if unquoteGlob(s) != a.text {
			// A part only known at run time, or one of a default's
			// choices (${d:-x}).
			a.glob = true
		}
		if !slices.Contains(a.pats, s) {
			a.pats = append(a.pats, s)
		}
	}
	if !a.glob && len(a.pats) == 1 && a.pats[0] == a.text {
		a.pats = nil
	}
	return a, fs
}

// quoteGlob writes s, text the shell reads as itself (quoted), as a glob
// form: a backslash before each *, ?, [ and \ (bulwark.GlobsMeet).
func quoteGlob(s string) string {
	if !strings.ContainsAny(s, `*?[\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(`*?[\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unquoteGlob removes the backslashes of a glob form that quote the
// character after them: the text the shell reads.
func unquoteGlob(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// form is one glob form of a word being read (see arg.pats): its text,
// and how many substitutions and other parts made it.
type form struct {
	s             string
	substs, other int
}

// forms are a word's glob forms, one for each choice its parts make
// (${f:-x} is $f, x or nothing).
type forms []form

// maxForms bounds the glob forms of one word; past it, a choice is *.
const maxForms = 16

func (fs forms) lit(s string) {
	for i := range fs {
		fs[i].s += s
		if s != "" {
			fs[i].other++
		}
	}
}

// unknown adds a part that may be any text.
func (fs forms) unknown() { fs.lit(anyText) }

// subst adds a substitution, whose output is judged where it is made.
func (fs forms) subst() {
	for i := range fs {
		fs[i].s += substMark
		fs[i].substs++
	}
}

// substMark is a substitution in a form being read: anyText, told apart
// until the word is whole (see markedWord).
const substMark = anyText + "$"

// choice is one of the texts a part may make: a glob form's text, or a
// substitution (see forms.subst).
type choice struct {
	s     string
	subst bool
}

// choose adds a part that is one of choices.
func (fs *forms) choose(choices []choice) {
	if len(*fs)*len(choices) > maxForms {
		fs.unknown()
		return
	}
	var out forms
	for _, f := range *fs {
		for _, c := range choices {
			g := f
			switch {
			case c.subst:
				g.s += substMark
				g.substs++
			case c.s != "":
				g.s += c.s
				g.other++
			}
			out = append(out, g)
		}
	}
	*fs = out
}

// part writes the text of p to b and its glob forms to fs.
func part(src string, p syntax.WordPart, b *strings.Builder, fs *forms, a *arg, quoted bool) {
	switch p := p.(type) {
	case *syntax.Lit:
		if quoted {
			s := unescapeDouble(p.Value)
			b.WriteString(s)
			fs.lit(quoteGlob(s))
			return
		}
		s, f, g := unescape(p.Value)
		b.WriteString(s)
		fs.lit(f)
		a.glob = a.glob || g
	case *syntax.SglQuoted:
		if !p.Dollar {
			b.WriteString(p.Value)
			fs.lit(quoteGlob(p.Value))
			return
		}
		s, ok := ansiC(p.Value)
		if !ok {
			a.runtime(b)
			b.WriteString(source(src, p))
			fs.unknown()
			return
		}
		b.WriteString(s)
		fs.lit(quoteGlob(s))
	case *syntax.DblQuoted:
		for _, q := range p.Parts {
			part(src, q, b, fs, a, true)
		}
	case *syntax.ExtGlob:
		// ?(..) *(..) +(..) @(..) !(..): read as globs whether or not
		// extglob is on (shopt or BASHOPTS may turn it on); !(x) may
		// match any name, so each is * whatever it holds.
		a.glob = true
		b.WriteString(source(src, p))
		fs.unknown()
	case *syntax.BraceExp:
		// Left by a brace expansion that could not be expanded; the
		// word is what it was written as.
		b.WriteString(source(src, p))
		fs.lit(source(src, p))
	case *syntax.ParamExp:
		a.runtime(b)
		b.WriteString(source(src, p))
		if short(p) {
			a.shortEnds = append(a.shortEnds, b.Len())
		}
		param(src, p, fs)
	default: // CmdSubst, ArithmExp, ProcSubst
		if _, ok := p.(*syntax.CmdSubst); ok {
			a.piped = true
		}
		a.runtime(b)
		b.WriteString(source(src, p))
		fs.subst()
	}
}

// paramText is the text of a parameter expansion in a word's glob forms:
// its source, but $f as ${f}, since the quotes that ended its name are
// gone once the word is read ("$f"k is ${f}k, not $fk).
func paramText(src string, p *syntax.ParamExp) string {
	if short(p) {
		return "${" + p.Param.Value + "}"
	}
	return source(src, p)
}

// short reports whether p is $f, a variable's name without braces.
func short(p *syntax.ParamExp) bool {
	return p.Short && p.Param != nil && !positional(p.Param.Value) && isName(p.Param.Value)
}

// braceShort writes each $f of text whose end is in ends, and that a
// name's character follows, as ${f}: "$f"k and $f”k are ${f}k.
func braceShort(text string, ends []int) string {
	for i := len(ends) - 1; i >= 0; i-- {
		e := ends[i]
		if e >= len(text) || !isName(text[e:e+1]) && !('0' <= text[e] && text[e] <= '9') {
			continue
		}
		start := strings.LastIndexByte(text[:e], '$')
		text = text[:start] + "${" + text[start+1:e] + "}" + text[e:]
	}
	return text
}

// isName reports whether s is a shell variable's name.
func isName(s string) bool {
	for i, r := range s {
		if !(r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || i > 0 && '0' <= r && r <= '9') {
			return false
		}
	}
	return s != ""
}

// param adds the glob forms of a parameter expansion to fs.
func param(src string, p *syntax.ParamExp, fs *forms) {
	plain := p.Param != nil && p.Flags == nil && !p.Excl && !p.Length && !p.Width && !p.IsSet &&
		p.NestedParam == nil && len(p.Modifiers) == 0 && p.Slice == nil &&
		p.Repl == nil && p.Names == 0
	switch {
	case plain && p.Exp == nil && (p.Index != nil || positional(p.Param.Value)):
		// $1, $@, $*, ${a[0]}: the words of a call, of set or of an
		// array, which are judged where they are written (a reader
		// tries an array's values in place of ${a[i]}); beside other
		// text ($1$2, ${a[0]}/${a[1]}) they may make any name.
		fs.subst()
	case plain && p.Exp == nil:
		// $f and ${f}: a reader tries the values the script gives f in
		// their place (Script.Values).
		fs.lit(paramText(src, p))
	case plain && p.Index == nil && p.Exp != nil && defaultOp(p.Exp.Op):
		// ${f:-x}, ${f:=x}, ${f:+x}: f's value, x, or nothing.
		var choices []choice
		if p.Exp.Op != syntax.AlternateUnset && p.Exp.Op != syntax.AlternateUnsetOrNull {
			if positional(p.Param.Value) {
				choices = append(choices, choice{subst: true})
			} else {
				choices = append(choices, choice{s: "${" + p.Param.Value + "}"})
			}
		}
		if p.Exp.Word != nil {
			w := word(src, p.Exp.Word)
			if w.pats == nil {
				choices = append(choices, choice{s: w.text})
			}
			for _, x := range w.pats {
				choices = append(choices, choice{s: x})
			}
		}
		fs.choose(append(choices, choice{}))
	default:
		// ${f,,}, ${f#x}, ${f/x/y}, ${f:0:3}, ${!f}, ${#f}: a value
		// made at run time, which may be any text.
		fs.unknown()
	}
}

// defaultOp reports whether op chooses between a value and a word.
func defaultOp(op syntax.ParExpOperator) bool {
	switch op {
	case syntax.DefaultUnset, syntax.DefaultUnsetOrNull, syntax.AssignUnset, syntax.AssignUnsetOrNull,
		syntax.AlternateUnset, syntax.AlternateUnsetOrNull, syntax.ErrorUnset, syntax.ErrorUnsetOrNull:
		return true
	}
	return false
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

// unescape removes the backslashes of an unquoted literal, and returns
// its glob form (a character a backslash quotes is quoted in it: see
// quoteGlob) and whether it has an unquoted glob character.
func unescape(s string) (text, form string, glob bool) {
	if !strings.ContainsAny(s, `\*?[`) {
		return s, s, false
	}
	var b, f strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			if s[i] != '\n' {
				b.WriteByte(s[i])
				f.WriteString(quoteGlob(s[i : i+1]))
			}
			continue
		case c == '*' || c == '?' || c == '[':
			glob = true
		case c == '\\':
			f.WriteByte('\\') // a backslash at the end is itself
		}
		b.WriteByte(c)
		f.WriteByte(c)
	}
	return b.String(), f.String(), glob
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
