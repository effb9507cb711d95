package guard

import (
	"strings"
	"unicode"
)

// Invisible reports whether r is a character that Normalize removes as
// invisible (a zero-width character, a soft hyphen, a bidi control, a
// variation selector, a tag character): a reader does not see it, and a
// word written with it between its letters still reads as one word.
func Invisible(r rune) bool { return invisible(r) }

// ReadsAsASCII reports whether the canary check reads r, a character
// outside ASCII, as one printable ASCII character: a full-width or
// mathematical letter, a look-alike from another script, a letter with
// an accent. A token written in them is found as if written in ASCII.
func ReadsAsASCII(r rune) bool {
	v := strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, canaryView(string(r)))
	return len(v) == 1 && ' ' < v[0] && v[0] <= '~'
}
