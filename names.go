package bulwark

import (
	"strings"
	"unicode"
)

// IsInvisibleFormat reports whether r changes how the text around it is
// shown while being invisible itself, or is not shown at all: every
// format character of Unicode (category Cf: bidirectional embeddings,
// overrides, isolates and marks such as U+202E and U+200F, zero-width
// characters such as U+200B..U+200D, U+2060 and U+FEFF, the soft hyphen
// U+00AD, the invisible operators U+2061..U+2064, tag characters
// U+E0000..U+E007F), the C1 controls (U+0080..U+009F), the line and
// paragraph separators (U+2028, U+2029), and characters shown as nothing
// though not of category Cf: the combining grapheme joiner (U+034F),
// variation selectors, Hangul fillers (U+115F, U+1160, U+3164, U+FFA0)
// and the Khmer inherent vowels (U+17B4, U+17B5). In a name such
// characters let "gnp.exe" be shown as "exe.png" or two different names
// look the same, so names refuse them.
func IsInvisibleFormat(r rune) bool {
	switch {
	case unicode.Is(unicode.Cf, r), r >= 0x80 && r <= 0x9f, r == 0x2028, r == 0x2029,
		r == 0x034F, r >= 0xFE00 && r <= 0xFE0F, r >= 0xE0100 && r <= 0xE01EF, r == 0x180B, r == 0x180C, r == 0x180D, r == 0x180F,
		r == 0x115F, r == 0x1160, r == 0x3164, r == 0xFFA0, r == 0x17B4, r == 0x17B5:
		return true
	}
	return false
}

// HasInvisibleFormat reports whether s holds a character for which
// IsInvisibleFormat is true.
func HasInvisibleFormat(s string) bool { return strings.ContainsFunc(s, IsInvisibleFormat) }
