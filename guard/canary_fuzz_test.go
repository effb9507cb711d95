package guard

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCanaryIn checks that In never panics on any text, and finds the
// token wherever it is put in that text, as is and base64-encoded.
func FuzzCanaryIn(f *testing.F) {
	f.Add("", "")
	f.Add("hello ", " world")
	f.Add(`\u0042\x41`, "%41&#66;")
	f.Add("42:57:4b", "QldL LUNB")
	c := NewCanary()
	f.Fuzz(func(t *testing.T, before, after string) {
		c.In(before + after)
		if text := before + c.String() + after; !c.In(text) {
			t.Errorf("In(%q) = false", text)
		}
		if text := base64.StdEncoding.EncodeToString([]byte(before + c.String() + after)); !c.In(text) {
			t.Errorf("In(base64 %q) = false", before+c.String()+after)
		}
	})
}

// FuzzSqueezeSeparators: the byte-wise squeeze of valid UTF-8 is the
// rune-wise one; on other text it is strings.Map's, bad bytes and all,
// once there is something to squeeze.
func FuzzSqueezeSeparators(f *testing.F) {
	f.Add("42:57:4b 2d")
	f.Add("QldL\nLUNB|\"x\"")
	f.Add("\xff.\xfe é")
	f.Fuzz(func(t *testing.T, text string) {
		want := strings.Map(func(r rune) rune {
			if strings.ContainsRune(" \t\r\n:.,;\"'\\|", r) {
				return -1
			}
			return r
		}, text)
		if got := squeezeSeparators(text); got != want && (utf8.ValidString(text) || strings.ContainsAny(text, " \t\r\n:.,;\"'\\|")) {
			t.Errorf("squeezeSeparators(%q) = %q, want %q", text, got, want)
		}
	})
}
