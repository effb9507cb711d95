package guard

import (
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// What one pass over a text proves
//
// Most texts a canary check reads (a call's names, its arguments and
// their strings, a short reply, a tool's result) are short or plain, and
// most of the check's readers cannot find the random part in them, for
// want of letters and digits, of the digits it has, or of anything to
// decode. factsOf counts those in one pass, and inAll skips each reader
// its counts prove would find nothing: it finds exactly what the readers
// all run would (FuzzCanaryFacts, TestCanaryFactsAgree hold it to them).

// textFacts are the counts inAll skips readers by.
type textFacts struct {
	// alnums and digits count the text's ASCII letters and digits, and
	// its ASCII digits alone.
	alnums, digits int
	// ascii: the text is ASCII, and hexRun its longest run of hex digits
	// with only other characters than letters between them, which is
	// then hexRunBound's.
	ascii  bool
	hexRun int
	// decodes: the text may hold something inSegments or inReassembled
	// read the random part in (see factsOf).
	decodes bool
	// For the readers of the token's bytes (canary_bytes.go): the
	// longest run of base64 bytes (separators left out), the runs of
	// ASCII digits, and the 0x and \x before a byte.
	base64Run, digitRuns, hexPrefixes int
}

// The classes of a byte factsOf counts by (factsClasses).
const (
	classAlnum  = 1 << iota // an ASCII letter or digit
	classDigit              // an ASCII digit
	classHex                // a hex digit
	classHigh               // not ASCII
	classEscape             // not ASCII, '&', '%' or '\'
	classSep                // squeezeSeparators removes it
	classBase64             // isBase64Byte
)

// factsClasses are each byte's classes, made on first use.
var factsClasses = lazy.Value[*[256]uint8]{New: func() *[256]uint8 {
	t := new([256]uint8)
	for i := range t {
		c := byte(i)
		switch {
		case isDigit(c):
			t[i] |= classAlnum | classDigit
		case 'a' <= c|0x20 && c|0x20 <= 'z':
			t[i] |= classAlnum
		}
		if isHexByte(c) {
			t[i] |= classHex
		}
		if c >= utf8.RuneSelf {
			t[i] |= classHigh
		}
		if c >= utf8.RuneSelf || c == '&' || c == '%' || c == '\\' {
			t[i] |= classEscape
		}
		if isSeparator(c) {
			t[i] |= classSep
		}
		if isBase64Byte(c) {
			t[i] |= classBase64
		}
	}
	return t
}}

// factsOf counts text's facts.
//
// decodes is false when text is ASCII without '&', '%' or '\' (no HTML
// reference, URL or backslash escape, no tag character, nothing for
// squeezeSeparators to replace), with fewer than eight "0x" (hexEscapes')
// and fewer than 2*minCodeEscape digits (decimalCodes'), even with its
// separators squeezed out, and its runs of base64 bytes of minBase64Len
// or more (what decodeAll, the hex pieces and otherEscapes' base32 decode;
// a run of the text lies inside one of the squeezed text, whose runs are
// counted) are too few bytes to decode to a text that is not tooShort.
// Then the only texts decoded are those runs, squeezed or not: base64 to
// 3/4 of a byte a byte, hex to 1/2, base32 to 5/8, and the texts read in
// them (nested, joined in order, with their own escapes undone) are no
// more than 3/2 a hex digit a byte of them (tooShort's argument); the
// random part needs len(secret).
func factsOf(text, secret string) (f textFacts) {
	t := factsClasses.Get()
	var all uint8 // the classes of every byte, together
	zeroX, hex, b64 := 0, 0, 0
	run, total := 0, 0 // the squeezed text's run of base64 bytes, and those of minBase64Len or more
	var prev byte      // the last byte that is no separator
	for i := 0; i < len(text); i++ {
		c := text[i]
		k := t[c]
		all |= k
		if k&classAlnum != 0 {
			f.alnums++
			if k&classDigit != 0 {
				f.digits++
				if i == 0 || t[text[i-1]]&classDigit == 0 {
					f.digitRuns++
				}
			}
			if k&classHex != 0 {
				hex++
				f.hexRun = max(f.hexRun, hex)
			} else {
				hex = 0
			}
		}
		// The run of base64 bytes in the text as it is, separators
		// breaking it, as they break a needle.
		if k&classBase64 != 0 {
			b64++
			f.base64Run = max(f.base64Run, b64)
		} else {
			b64 = 0
		}
		if k&classSep != 0 {
			continue
		}
		if c == 'x' && prev == '0' {
			zeroX++
		}
		if (c == 'x' || c == 'X') && i > 0 && (text[i-1] == '0' || text[i-1] == '\\') {
			f.hexPrefixes++
		}
		prev = c
		if k&classBase64 != 0 {
			run++
			continue
		}
		if run >= minBase64Len {
			total += run
		}
		run = 0
	}
	if run >= minBase64Len {
		total += run
	}
	f.ascii = all&classHigh == 0
	// Decoded, the runs give at most 3*total/4 bytes, read as at most
	// 3/2 a hex digit a byte.
	f.decodes = all&classEscape != 0 || zeroX >= 8 || f.digits >= 2*minCodeEscape || 9*total >= 8*len(secret)
	return f
}

// mayPlain reports whether inNormalized may find the random part in a
// text of these facts: hexRunBound, known for ASCII, bounds what it
// reads.
func (f textFacts) mayPlain(secret string) bool {
	return !f.ascii || f.hexRun >= len(secret)
}

// mayRotate reports whether inRotated may find the random part in a text
// of these facts: it reads len(secret) letters and digits in a row, each
// a letter where the random part has one and a digit where it has one.
func (f textFacts) mayRotate(p *rotPattern) bool {
	return p != nil && f.digits >= p.digits && f.alnums-f.digits >= p.letters
}

// mayMix reports whether inMixed may find the random part in a text of
// these facts: a match reads the random part's len(secret) characters
// (or the whole token's, more) out of readings of words one after
// another, and every reading of a word gives at most one letter or digit
// for each of the word's own: plain, one each; hex, one for two; base32,
// five for eight; an escape undone, one for its two to eight hex, octal
// or decimal digits; base64, one for each byte that is a letter or digit
// (at most 'z', 0x7A), which makes a character of its block a letter or
// digit too (no '+', '/', '-' or '_', 62 or 63): the first byte the
// first character (its top six bits, at most 30), the second the second
// (at most 3<<4|7, 55), the third the fourth (its low six bits, at most
// 58). A reading decoded again (nested) gives no more than the one it
// reads.
func (f textFacts) mayMix(secret string) bool {
	return f.alnums >= len(secret)
}
