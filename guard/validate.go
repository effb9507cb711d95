package guard

import (
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark"
)

// ValidateInput checks a task input or a message from a person and returns
// it cleaned. It refuses, with a *bulwark.Error of kind Invalid:
//   - text that is not valid UTF-8 (a broken client or a smuggling attempt,
//     never something to guess at);
//   - text longer than max bytes (after cleaning), when max > 0;
//   - text that is empty or only white space after cleaning.
//
// It removes, rather than refuses, what people paste by accident and what
// hides text from them: control characters other than newline and tab
// (NUL, escape sequences, DEL, C1 controls), Unicode tag characters, bidi
// overrides and isolates. "\r\n" and lone "\r" become "\n". Zero-width
// joiners stay, since emoji need them; Score still sees all of it.
func ValidateInput(text string, max int) (string, error) {
	const op = "guard.ValidateInput"
	if !utf8.ValidString(text) {
		return "", bulwark.Errorf(bulwark.Invalid, op, "the text is not valid UTF-8")
	}
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case r == '\r':
			return '\n'
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return -1
		case isTag(r), r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
			return -1
		}
		return r
	}, text)
	if strings.TrimSpace(text) == "" {
		return "", bulwark.Errorf(bulwark.Invalid, op, "the text is empty")
	}
	if max > 0 && len(text) > max {
		return "", bulwark.Errorf(bulwark.Invalid, op, "the text is %d bytes long; the limit is %d", len(text), max)
	}
	return text, nil
}
