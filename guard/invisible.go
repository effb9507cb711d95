package guard

// Invisible reports whether r is a character that Normalize removes as
// invisible (a zero-width character, a soft hyphen, a bidi control, a
// variation selector, a tag character): a reader does not see it, and a
// word written with it between its letters still reads as one word.
func Invisible(r rune) bool { return invisible(r) }
