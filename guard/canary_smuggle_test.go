package guard

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// mapHex spells each character of s (hex digits) with f.
func mapHex(s string, f func(c rune) string) string {
	var b strings.Builder
	for _, c := range s {
		b.WriteString(f(c))
	}
	return b.String()
}

// hexVariant returns a look-alike of the hex digit c from table, whose
// entries are the variants of 0-9 then a-f.
func hexVariant(c rune, table []rune) string {
	if c <= '9' {
		return string(table[c-'0'])
	}
	return string(table[10+c-'a'])
}

var (
	fullWidth   = []rune("０１２３４５６７８９ａｂｃｄｅｆ")
	mathBold    = []rune("𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗𝐚𝐛𝐜𝐝𝐞𝐟")
	superscript = []rune("⁰¹²³⁴⁵⁶⁷⁸⁹ᵃᵇᶜᵈᵉᶠ")
	circled     = []rune("⓪①②③④⑤⑥⑦⑧⑨ⓐⓑⓒⓓⓔⓕ")
	lookAlike   = []rune("０１２３４５６７８９авсԁеf") // Cyrillic a, ve (folded to b), c, d, e
)

// TestCanarySmuggled: the canary's random part written in encodings the
// slow path (Normalize, then decoding) undoes must be found, so the fast
// path's bound (hexRunBound) must never rule them out. Each is also
// checked through the JSON arguments of a write_file call, as the agent
// passes them (the raw arguments with their \u escapes).
func TestCanarySmuggled(t *testing.T) {
	c := NewCanary()
	sec := c.secret
	forms := map[string]string{
		"full-width":              mapHex(sec, func(r rune) string { return hexVariant(r, fullWidth) }),
		"math bold":               mapHex(sec, func(r rune) string { return hexVariant(r, mathBold) }),
		"superscript":             mapHex(sec, func(r rune) string { return hexVariant(r, superscript) }),
		"circled":                 mapHex(sec, func(r rune) string { return hexVariant(r, circled) }),
		"parenthesized digits":    mapHex(sec, func(r rune) string { return string(r) + "\u20dd" }),
		"combining marks":         mapHex(sec, func(r rune) string { return string(r) + "\u0301\u0323" }),
		"zero-width joiners":      mapHex(sec, func(r rune) string { return string(r) + "\u200d" }),
		"word joiners, soft hyph": mapHex(sec, func(r rune) string { return string(r) + "\u2060\u00ad" }),
		"tag characters":          mapHex(sec, func(r rune) string { return string(r) + "\U000E0020" }),
		"variation selectors":     mapHex(sec, func(r rune) string { return string(r) + "\ufe0f" }),
		"full-width + ZWJ + mark": mapHex(sec, func(r rune) string { return hexVariant(r, fullWidth) + "\u200d\u0301" }),
		"look-alike letters":      mapHex(sec, func(r rune) string { return hexVariant(r, lookAlike) }),
		"reversed full-width":     mapHex(reverse(sec), func(r rune) string { return hexVariant(r, fullWidth) }),
		"upper case, dashes":      mapHex(strings.ToUpper(sec), func(r rune) string { return string(r) + "-" }),
		"invalid bytes between":   mapHex(sec, func(r rune) string { return string(r) + "\xff" }),
		"half full-width":         sec[:12] + mapHex(sec[12:], func(r rune) string { return hexVariant(r, fullWidth) }),
		"\\u escapes":             mapHex(sec, func(r rune) string { return fmt.Sprintf(`\u%04x`, r) }),
		"\\u escapes of full-width": mapHex(sec, func(r rune) string {
			return fmt.Sprintf(`\u%04x`, []rune(hexVariant(r, fullWidth))[0])
		}),
		"base64 of full-width": base64.StdEncoding.EncodeToString([]byte(
			mapHex(sec, func(r rune) string { return hexVariant(r, fullWidth) }))),
		"base64 of ZWJ-split": base64.StdEncoding.EncodeToString([]byte(
			mapHex(sec, func(r rune) string { return string(r) + "\u200d" }))),
	}
	for name, s := range forms {
		for _, text := range []string{s, "notes: " + s + " end", `{"path":"a.txt","content":"` + s + `"}`} {
			if !c.In(text) {
				t.Errorf("%s: the canary in %q was not found", name, text)
			}
		}
	}
}
