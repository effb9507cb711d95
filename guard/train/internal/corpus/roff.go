package corpus

import (
	"regexp"
	"strconv"
	"strings"
)

var (
	roffFont    = regexp.MustCompile(`\\f(\[[^\]]*\]|\([A-Za-z0-9]{2}|[A-Za-z0-9])`)
	roffSize    = regexp.MustCompile(`\\s[+-]?[0-9]+`)
	roffString  = regexp.MustCompile(`\\\*(\[[^\]]*\]|\(..|.)`)
	roffSpecial = regexp.MustCompile(`\\\((..)|\\\[([^\]\s]+)\]`)
	roffOther   = regexp.MustCompile(`\\[&/,%:|^]`)
)

var roffChars = map[string]string{
	"em": "—", "en": "–", "lq": "\u201c", "rq": "\u201d", "oq": "\u2018", "cq": "\u2019",
	"aq": "'", "dq": "\"", "bu": "•", "co": "©", "rg": "®", "ti": "~", "ha": "^",
	"at": "@", "sh": "#", "rs": "\\", "mi": "-", "hy": "-", "pl": "+", "eq": "=",
	"<=": "<=", ">=": ">=", "->": "->", "<-": "<-", "mu": "×", "de": "°",
}

// StripRoff renders man(7) and mdoc(7) source as plain text, roughly as
// `man -P cat` would without the layout: macros become headings, line
// breaks and their arguments, escapes become characters.
func StripRoff(src string) string {
	var out strings.Builder
	for _, line := range strings.Split(src, "\n") {
		if strings.HasPrefix(line, `.\"`) || strings.HasPrefix(line, `'\"`) || strings.HasPrefix(line, `.so `) {
			continue
		}
		if strings.HasPrefix(line, ".") || strings.HasPrefix(line, "'") {
			name, args, _ := strings.Cut(strings.TrimSpace(line[1:]), " ")
			args = strings.TrimSpace(args)
			switch name {
			case "SH", "SS", "Sh", "Ss":
				out.WriteString("\n" + unquote(args) + "\n")
			case "PP", "LP", "P", "sp", "Pp", "Lp":
				out.WriteString("\n")
			case "br", "TP", "RS", "RE", "fi", "nf", "EX", "EE", "Bl", "El", "Bd", "Ed", "ad", "na", "ne", "in", "ti", "ft", "ps", "vs", "ll", "hy", "nh", "de", "ds", "nr", "if", "ie", "el", "ig", "TH", "Dd", "Dt", "Os", "so", "mso", "ce", "UC", "PD", "IX", "tr", "cc", "Bk", "Ek", "Ns":
			case "IP", "It", "HP":
				out.WriteString("\n" + unquote(args) + " ")
			case "BR", "RB", "IR", "RI", "BI", "IB":
				out.WriteString(strings.Join(splitArgs(args), "") + "\n")
			default:
				if args != "" {
					out.WriteString(strings.Join(splitArgs(args), " ") + "\n")
				}
			}
			continue
		}
		out.WriteString(line + "\n")
	}
	s := out.String()
	s = roffFont.ReplaceAllString(s, "")
	s = roffSize.ReplaceAllString(s, "")
	s = roffSpecial.ReplaceAllStringFunc(s, func(m string) string {
		k := m[2:]
		if m[1] == '[' {
			k = k[:len(k)-1]
		}
		return roffChar(k)
	})
	s = roffString.ReplaceAllString(s, "")
	s = strings.NewReplacer(`\-`, "-", `\e`, `\`, `\ `, " ", `\~`, " ", `\(`, "", `\c`, "").Replace(s)
	s = roffOther.ReplaceAllString(s, "")
	for strings.Contains(s, "\n\n\n") {
		s = strings.ReplaceAll(s, "\n\n\n", "\n\n")
	}
	return strings.TrimSpace(s)
}

// accents maps groff's accent marks to the precomposed letters they make
// with a base letter (\('a is á, \(,c is ç).
var accents = map[byte][2]string{
	'\'': {"aeiouyAEIOUY", "áéíóúýÁÉÍÓÚÝ"},
	'`':  {"aeiouAEIOU", "àèìòùÀÈÌÒÙ"},
	'^':  {"aeiouAEIOU", "âêîôûÂÊÎÔÛ"},
	'~':  {"aonAON", "ãõñÃÕÑ"},
	':':  {"aeiouyAEIOU", "äëïöüÿÄËÏÖÜ"},
	',':  {"cC", "çÇ"},
}

// roffChar renders a special character name: a named glyph, an accented
// letter, or a Unicode escape (u00E9); unknown names vanish.
func roffChar(k string) string {
	if c, ok := roffChars[k]; ok {
		return c
	}
	switch k {
	case "ss":
		return "ß"
	case "ae":
		return "æ"
	case "oe":
		return "œ"
	case "o/":
		return "ø"
	}
	if len(k) == 2 {
		if a, ok := accents[k[0]]; ok {
			if i := strings.IndexByte(a[0], k[1]); i >= 0 {
				return string([]rune(a[1])[i])
			}
		}
	}
	if len(k) >= 5 && k[0] == 'u' {
		if v, err := strconv.ParseUint(k[1:5], 16, 32); err == nil {
			return string(rune(v))
		}
	}
	return ""
}

func unquote(s string) string { return strings.Join(splitArgs(s), " ") }

// splitArgs splits macro arguments, honouring double quotes.
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	inq := false
	for _, r := range s {
		switch {
		case r == '"':
			inq = !inq
		case r == ' ' && !inq:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
