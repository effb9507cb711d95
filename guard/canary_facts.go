package guard

import "unicode/utf8"

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
	// decodes: the text may hold something inSegments or inReassembled
	// read the random part in (see mayDecode).
	decodes bool
}

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
	plain := true
	zeroX := 0
	run, total := 0, 0 // the squeezed text's run of base64 bytes, and those of minBase64Len or more
	var prev byte      // the last byte that is no separator
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c >= utf8.RuneSelf, c == '&', c == '%', c == '\\':
			plain = false
		case '0' <= c && c <= '9':
			f.digits++
			f.alnums++
		case 'a' <= c|0x20 && c|0x20 <= 'z':
			f.alnums++
		}
		if isSeparator(c) {
			continue
		}
		if c == 'x' && prev == '0' {
			zeroX++
		}
		prev = c
		if isBase64Byte(c) {
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
	// Decoded, the runs give at most 3*total/4 bytes, read as at most
	// 3/2 a hex digit a byte.
	f.decodes = !plain || zeroX >= 8 || f.digits >= 2*minCodeEscape || 9*total >= 8*len(secret)
	return f
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
