package agent

import (
	"unicode"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/guard"
)

// inWord reports whether r goes on the word being written, as the stream
// holds it back (withhold.go): printable ASCII, in which the guard's
// encodings are written; what the check reads as ASCII (full-width
// letters, look-alikes); and what a reader does not see apart from the
// letter before it, invisible characters and combining marks. A token
// written in these, with any number of the last between its characters,
// reads as one word, and is found as one by the canary check.
func inWord(r rune) bool {
	if r < utf8.RuneSelf {
		return ' ' < r && r <= '~'
	}
	return guard.Invisible(r) || unicode.In(r, unicode.Mn, unicode.Me) || guard.ReadsAsASCII(r)
}

// wordStart returns where text's last word starts: after the last rune
// not inWord at or after from, or word (where it started before the
// last piece came) if there is none. from is where the last piece began,
// less the bytes of a rune cut between two pieces. A rune cut at the
// end of text, the rest of it still to come, is read when it is whole.
func wordStart(text []byte, from, word int) int {
	i := len(text)
	if k := max(i-utf8.UTFMax+1, 0); i > 0 {
		j := i - 1
		for j > k && !utf8.RuneStart(text[j]) {
			j--
		}
		if !utf8.FullRune(text[j:i]) {
			i = j
		}
	}
	for i > from {
		r, size := utf8.DecodeLastRune(text[:i])
		if !inWord(r) || r == utf8.RuneError && size == 1 {
			return i
		}
		i -= size
	}
	return word
}
