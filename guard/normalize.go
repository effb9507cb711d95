package guard

import (
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/guard/internal/classify"
	"github.com/bulwark-agents/bulwark/internal/lazy"
	"golang.org/x/text/unicode/norm"
)

// Normalize returns text as the detectors read it: invalid UTF-8 replaced,
// invisible characters removed (zero-width characters, soft hyphens, bidi
// controls, variation selectors and the tag characters U+E0000-E007F),
// compatibility forms folded with NFKC (full-width letters, ligatures,
// mathematical alphanumerics) and common homoglyphs folded to ASCII
// (Cyrillic "а" to "a", Greek "ο" to "o", ...), combining diacritics that
// NFKC cannot compose dropped. Case and spacing are kept. It is a view for
// detection, not a rewrite to show anyone: Cyrillic words come out in
// Latin look-alikes.
// Text that has none of these comes back unchanged, without copying.
func Normalize(text string) string {
	if isPlainASCII(text) {
		return text
	}
	text = strings.ToValidUTF8(text, "\uFFFD")
	text = stripInvisible(text)
	text = norm.NFKC.String(text)
	return foldConfusables(text)
}

// isPlainASCII reports whether s is printable ASCII, tabs and newlines only:
// nothing Normalize would change.
func isPlainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// invisible reports whether r is a character a reader does not see but a
// model reads: format characters that hide or reorder text.
func invisible(r rune) bool {
	switch {
	case r == '\u00AD', r == '\u034F', r == '\u061C', r == '\u115F', r == '\u1160',
		r == '\u17B4', r == '\u17B5', r == '\u180E', r == '\u3164', r == '\uFEFF', r == '\uFFA0':
		return true
	case r >= '\u200B' && r <= '\u200F': // zero-width space, joiners, LRM, RLM
		return true
	case r >= '\u202A' && r <= '\u202E': // bidi embeddings and overrides
		return true
	case r >= '\u2060' && r <= '\u206F': // word joiner, invisible operators, bidi isolates
		return true
	case r >= '\uFE00' && r <= '\uFE0F', r >= 0xE0100 && r <= 0xE01EF: // variation selectors
		return true
	case isTag(r):
		return true
	}
	return false
}

// isTag reports whether r is a Unicode tag character, which can spell
// ASCII text that no font shows ("ASCII smuggling").
func isTag(r rune) bool { return r >= 0xE0000 && r <= 0xE007F }

func stripInvisible(s string) string {
	if strings.IndexFunc(s, invisible) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if invisible(r) {
			return -1
		}
		return r
	}, s)
}

// hiddenTagText returns the ASCII text spelled by the tag characters of s,
// or "" when there are none.
func hiddenTagText(s string) string {
	if strings.IndexByte(s, 0xF3) < 0 { // how every tag character starts in UTF-8
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		if r >= 0xE0020 && r <= 0xE007E {
			b.WriteByte(byte(r - 0xE0000))
		}
	}
	return b.String()
}

// countControls counts bidi controls and zero-width characters of s.
func countControls(s string) (bidi, zeroWidth int) {
	for _, r := range s {
		switch {
		case r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
			bidi++
		case r >= '\u200B' && r <= '\u200D', r == '\u2060', r == '\uFEFF':
			zeroWidth++
		}
	}
	return
}

// confusables maps common homoglyphs of Latin letters (Cyrillic, Greek,
// Armenian, Latin extensions) that NFKC leaves alone to the letter they
// imitate. Made on first use, not by the package's init.
var confusables = lazy.Value[map[rune]rune]{New: func() map[rune]rune {
	return map[rune]rune{
		'а': 'a', 'в': 'b', 'е': 'e', 'ё': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't',
		'у': 'y', 'х': 'x', 'ѕ': 's', 'і': 'i', 'ї': 'i', 'ј': 'j', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'һ': 'h', 'ӏ': 'l',
		'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O', 'Р': 'P', 'С': 'C', 'Т': 'T',
		'У': 'Y', 'Х': 'X', 'Ѕ': 'S', 'І': 'I', 'Ј': 'J', 'Ԁ': 'D', 'Ӏ': 'I', 'Ү': 'Y', 'ү': 'y',
		'α': 'a', 'β': 'b', 'ε': 'e', 'ι': 'i', 'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x',
		'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N', 'Ο': 'O',
		'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X',
		'ɑ': 'a', 'ɡ': 'g', 'ɩ': 'i', 'ı': 'i', 'ȷ': 'j', 'ʏ': 'y', 'ᴀ': 'a', 'ʙ': 'b', 'ᴄ': 'c', 'ᴅ': 'd', 'ᴇ': 'e',
		'ɢ': 'g', 'ʜ': 'h', 'ɪ': 'i', 'ᴊ': 'j', 'ᴋ': 'k', 'ʟ': 'l', 'ᴍ': 'm', 'ɴ': 'n', 'ᴏ': 'o', 'ᴘ': 'p', 'ʀ': 'r',
		'ꜱ': 's', 'ᴛ': 't', 'ᴜ': 'u', 'ᴠ': 'v', 'ᴡ': 'w', 'ᴢ': 'z', 'օ': 'o', 'ս': 'u', 'ց': 'g', 'ո': 'n',
		'‐': '-', '‑': '-', '‒': '-', '–': '-', '—': '-', '―': '-', '−': '-',
		'‘': '\'', '’': '\'', '‚': '\'', '‛': '\'', '“': '"', '”': '"', '„': '"', '‟': '"', '«': '"', '»': '"',
		'‹': '<', '›': '>', '〈': '<', '〉': '>', '⟨': '<', '⟩': '>', '＜': '<', '＞': '>', '﹤': '<', '﹥': '>',
	}
}}

func foldConfusables(s string) string {
	if isPlainASCII(s) {
		return s
	}
	conf := confusables.Get()
	return strings.Map(func(r rune) rune {
		if c, ok := conf[r]; ok {
			return c
		}
		if r >= '\u0300' && r <= '\u036F' { // combining diacritics stacked on letters to disguise them
			return -1
		}
		return r
	}, s)
}

// detectorView is the text the detectors and the classifier read:
// normalized, lowercased, with runs of spaces and tabs collapsed (newlines
// are kept, since some detectors look at line starts).
func detectorView(normalized string) string { return classify.View(normalized) }
