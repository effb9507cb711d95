package htmltok

import (
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// TestWindows1252 checks the table numeric references to 0x80-0x9F use
// against x/text's windows-1252, whose undefined bytes decode to U+FFFD
// where the spec keeps the code point.
func TestWindows1252(t *testing.T) {
	for b := 0x80; b <= 0x9F; b++ {
		want := charmap.Windows1252.DecodeByte(byte(b))
		if want == '\uFFFD' {
			want = rune(b)
		}
		if got := windows1252[b-0x80]; got != want {
			t.Errorf("windows1252[%#x] = %U, want %U", b, got, want)
		}
	}
}

var numericTests = []struct{ in, want string }{
	{"&#0", "\uFFFD"},
	{"&#65", "A"},
	{"&#x41;", "A"},
	{"&#X41;", "A"},
	{"&#x;", "&#x;"},
	{"&#;", "&#;"},
	{"&#xD800;", "\uFFFD"},
	{"&#x10FFFF;", "\U0010FFFF"},
	{"&#x110000;", "\uFFFD"},
	{"&#000000000000000000000065;", "A"},
	{"&#x99;", "\u2122"},
	{"&#x81;", "\u0081"},
}

func TestUnescapeNumeric(t *testing.T) {
	for _, tt := range numericTests {
		for _, attr := range []bool{false, true} {
			if got := unescape(tt.in, attr); got != tt.want {
				t.Errorf("unescape(%q, %v) = %q, want %q", tt.in, attr, got, tt.want)
			}
		}
	}
}
