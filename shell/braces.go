package shell

import (
	"fmt"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// expandBraces returns the words a word holding brace expressions (after
// syntax.SplitBraces) becomes, as bash expands them, or false when they
// would be more than limit. (mvdan.cc/sh/v3/expand does this too, but
// brings os/exec, which the domain packages must not depend on.)
func expandBraces(w *syntax.Word, limit int) ([]*syntax.Word, bool) {
	var out []*syntax.Word
	ok := braceRec(nil, w.Parts, func(parts []syntax.WordPart) bool {
		if unquotedEmpty(parts) {
			return true // bash drops an empty word ({build,} is build alone: red team, session 42)
		}
		if len(out) >= limit {
			return false
		}
		out = append(out, &syntax.Word{Parts: parts})
		return true
	})
	return out, ok
}

// unquotedEmpty says whether parts are none but empty literals: a word
// that is nothing, which bash removes (a quoted "" stays an argument).
func unquotedEmpty(parts []syntax.WordPart) bool {
	for _, p := range parts {
		if l, ok := p.(*syntax.Lit); !ok || l.Value != "" {
			return false
		}
	}
	return true
}

// braceRec yields left followed by each expansion of parts.
func braceRec(left, parts []syntax.WordPart, yield func([]syntax.WordPart) bool) bool {
	for i, p := range parts {
		br, ok := p.(*syntax.BraceExp)
		if !ok {
			continue
		}
		head := append(append([]syntax.WordPart(nil), left...), parts[:i]...)
		rest := parts[i+1:]
		for _, alt := range braceAlternatives(br) {
			next := append(append([]syntax.WordPart(nil), alt...), rest...)
			if !braceRec(head, next, yield) {
				return false
			}
		}
		return true
	}
	return yield(append(append([]syntax.WordPart(nil), left...), parts...))
}

// maxSequence bounds the elements of one {x..y} sequence.
const maxSequence = 4096

// braceAlternatives returns the alternatives of one brace expression.
func braceAlternatives(br *syntax.BraceExp) [][]syntax.WordPart {
	var alts [][]syntax.WordPart
	if !br.Sequence {
		for _, e := range br.Elems {
			alts = append(alts, e.Parts)
		}
		return alts
	}
	from, to := br.Elems[0].Lit(), br.Elems[1].Lit()
	incr := int64(1)
	if len(br.Elems) > 2 {
		if n, err := strconv.ParseInt(br.Elems[2].Lit(), 10, 32); err == nil && n != 0 {
			incr = max(n, -n)
		}
	}
	a, err1 := strconv.ParseInt(from, 10, 32)
	b, err2 := strconv.ParseInt(to, 10, 32)
	chars := err1 != nil || err2 != nil
	if chars {
		if len(from) != 1 || len(to) != 1 {
			return [][]syntax.WordPart{{&syntax.Lit{Value: "{" + from + ".." + to + "}"}}}
		}
		a, b = int64(from[0]), int64(to[0])
	}
	width := 0
	if !chars && (leadingZero(from) || leadingZero(to)) {
		width = max(len(from), len(to))
	}
	if a > b {
		incr = -incr
	}
	for n, i := a, 0; (incr > 0 && n <= b || incr < 0 && n >= b) && i < maxSequence; n, i = n+incr, i+1 {
		var s string
		switch {
		case chars:
			s = string(rune(n))
		case width > 0:
			s = fmt.Sprintf("%0*d", width, n)
		default:
			s = strconv.FormatInt(n, 10)
		}
		alts = append(alts, []syntax.WordPart{&syntax.Lit{Value: s}})
	}
	return alts
}

func leadingZero(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return len(s) > 1 && s[0] == '0'
}
