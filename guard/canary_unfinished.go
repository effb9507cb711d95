package guard

import "math/bits"

// minBegun is how many characters of the random part the words at a
// text's end must read as for Unfinished to hold them back: fewer give
// away at most 12 of its 96 bits, and a word of hex or base64 that ends
// in a character or two of it by chance is common.
const minBegun = 4

// maxBegunWords bounds the words at a text's end Unfinished reads: a
// token's characters, in words of one or more each and a few more read
// as punctuation or padding ("=", "+"), take fewer.
const maxBegunWords = 128

// Unfinished returns where in text a token the rest of the text could
// finish may have begun: the start of the first of the words at text's
// end that, read as inMixed reads words (each plain or decoded, pieces
// with nothing between them, with only separators between the words and
// after the last), go on to read as the start of the canary's random
// part, minBegun characters of it or more; len(text) if none do. A
// stream that sends text only up to there sends no such start of a
// token that the words still to come could finish: a word that does not
// go on with it ends the match, and what Unfinished held back may go.
//
// Not held so, and found by In only once the rest has come: pieces that
// In joins though other words stand between them (the segments of one
// encoding, in order: inReassembled), the random part reversed, written
// with escapes (%XX, \uXXXX), or rotated. Its cost is a reading of the
// text as inMixed's first, and when a match is under way at its end,
// about log2(maxBegunWords) more readings of the words from where the
// match may have begun.
func (c Canary) Unfinished(text string) int {
	m := c.matcher
	if m == nil || len(c.secret) > maxPattern {
		return len(text)
	}
	var buf [128]byte
	var at cutStates
	longest := func(from int) int {
		s, found := m.words(1, text[from:], base64Bytes.Get(), buf[:0], &at, nil)
		if found {
			return len(m.pat)
		}
		return bits.Len64(uint64(s)) - 1
	}
	g := longest(0)
	if g < minBegun {
		return len(text)
	}
	// The words' starts, the last maxBegunWords of them.
	var starts [maxBegunWords]int
	n := 0
	word := base64Bytes.Get()
	for i := len(text) - 1; i >= 0 && n < len(starts); i-- {
		if word[text[i]] && (i == 0 || !word[text[i-1]]) {
			starts[n] = i
			n++
		}
	}
	// starts are from the last word back. Reading from a later word
	// matches no more than from an earlier one (a state matched so far
	// reads on to a match at least as long as none does): the last word
	// from which the match reads as long as from the text's start is
	// where it began.
	lo, hi := n-1, -1 // longest(starts[lo]) == g; hi: a start known to read less, or none
	if n == 0 {
		return len(text)
	}
	if n == len(starts) && longest(starts[lo]) < g {
		return starts[lo] // further back than the words read: hold from there
	}
	for lo-hi > 1 {
		mid := (lo + hi) / 2
		if longest(starts[mid]) >= g {
			lo = mid
		} else {
			hi = mid
		}
	}
	return starts[lo]
}
