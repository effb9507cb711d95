package htmltok

import (
	"html"
	"strings"
	"unicode"
)

// unescape decodes the character references in s: numeric ones here, by
// the numeric character reference end state's rules, named ones by the
// standard library's html.UnescapeString, whose table is built on first
// use. In an attribute value (the
// character reference state's "consumed as part of an attribute" rule) a
// named reference without its ';' is left as it is when an '=' or an
// alphanumeric follows it: "?a=1&copy=2" and "&copy2024" stay, "&copy"
// and "&copy;2024" decode. Decoding is linear in len(s).
func unescape(s string, attribute bool) string {
	if strings.IndexByte(s, '&') < 0 {
		return s
	}
	var out strings.Builder
	out.Grow(len(s))
	for {
		i := strings.IndexByte(s, '&')
		if i < 0 {
			out.WriteString(s)
			return out.String()
		}
		out.WriteString(s[:i])
		s = s[i:]
		n := referenceLen(s)
		out.WriteString(decodeReference(s[:n], s[n:], attribute))
		s = s[n:]
	}
}

// referenceLen returns the length of the reference that s, starting with
// '&', may hold: "&#" and decimal digits, "&#x" and hex digits, or '&'
// and alphanumerics, with a ';' after them if there is one.
func referenceLen(s string) int {
	i := 1
	digit := isAlnum
	if i < len(s) && s[i] == '#' {
		i++
		digit = isDecimal
		if i < len(s) && (s[i] == 'x' || s[i] == 'X') {
			i++
			digit = isHex
		}
	}
	for i < len(s) && digit(s[i]) {
		i++
	}
	if i < len(s) && s[i] == ';' {
		i++
	}
	return i
}

// decodeReference decodes ref, a reference as referenceLen cut it,
// followed by rest in text or an attribute value.
func decodeReference(ref, rest string, attribute bool) string {
	if len(ref) < 2 {
		return ref
	}
	if ref[1] == '#' {
		// Numeric references decode the same in text and attributes.
		return decodeNumeric(ref)
	}
	got := html.UnescapeString(ref)
	if got == ref || !attribute {
		return got
	}
	if ref[len(ref)-1] == ';' {
		// In text a name the table lacks may still decode by its longest
		// prefix without ';' ("&ampx;" to "&x;"), which leaves at least
		// the ';' after it; in an attribute only the whole name counts.
		if got == ";" || got[len(got)-1] != ';' {
			return got
		}
		return ref
	}
	// A name without ';': not before '=', and only when the whole name is
	// one of the legacy names (a prefix match leaves alphanumerics after
	// the decoded character, which is never one itself).
	if len(rest) > 0 && rest[0] == '=' || isAlnum(got[len(got)-1]) {
		return ref
	}
	return got
}

// decodeNumeric decodes ref, "&#" and decimal digits or "&#x" and hex
// digits, with or without a ';'. Without digits it stays as it is (the
// absence-of-digits rule). Zero, surrogates and values above U+10FFFF
// become U+FFFD; 0x80 to 0x9F are read as windows-1252, as the spec's
// table says.
func decodeNumeric(ref string) string {
	digits := strings.TrimSuffix(ref[2:], ";")
	base := rune(10)
	if len(digits) > 0 && (digits[0] == 'x' || digits[0] == 'X') {
		digits, base = digits[1:], 16
	}
	if digits == "" {
		return ref
	}
	var r rune
	for i := 0; i < len(digits); i++ {
		c := rune(digits[i])
		switch {
		case c <= '9':
			c -= '0'
		case c >= 'a':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		if r <= unicode.MaxRune {
			// Past U+10FFFF the value only has to stay too large.
			r = r*base + c
		}
	}
	switch {
	case r == 0 || r > unicode.MaxRune || 0xD800 <= r && r <= 0xDFFF:
		r = unicode.ReplacementChar
	case 0x80 <= r && r <= 0x9F:
		r = windows1252[r-0x80]
	}
	return string(r)
}

// windows1252 holds the characters that numeric references to 0x80
// through 0x9F stand for; the five code points windows-1252 leaves
// undefined stand for themselves.
var windows1252 = [32]rune{
	'\u20AC', '\u0081', '\u201A', '\u0192', '\u201E', '\u2026', '\u2020', '\u2021',
	'\u02C6', '\u2030', '\u0160', '\u2039', '\u0152', '\u008D', '\u017D', '\u008F',
	'\u0090', '\u2018', '\u2019', '\u201C', '\u201D', '\u2022', '\u2013', '\u2014',
	'\u02DC', '\u2122', '\u0161', '\u203A', '\u0153', '\u009D', '\u017E', '\u0178',
}

func isDecimal(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDecimal(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func isAlnum(c byte) bool { return isDecimal(c) || isAlpha(c) }
