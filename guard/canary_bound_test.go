package guard

import (
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// plainHexRun is the longest run of hex digits in inPlain's view of s (its
// ASCII letters and digits).
func plainHexRun(s string) int {
	run, best := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isHexByte(c):
			run++
			best = max(best, run)
		case 'a' <= c|0x20 && c|0x20 <= 'z':
			run = 0
		}
	}
	return best
}

func countHex(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if isHexByte(s[i]) {
			n++
		}
	}
	return n
}

// TestMaxHexPerRune checks maxHexPerRune against every character, as
// Normalize reads it alone and as its full compatibility decomposition
// (which NFKC may compose back, in a longer text, differently).
func TestMaxHexPerRune(t *testing.T) {
	for r := rune(utf8.RuneSelf); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		s := string(r)
		if n := countHex(Normalize(s)); n > maxHexPerRune {
			t.Errorf("Normalize(%q) = %q: %d hex digits, more than maxHexPerRune (%d)", s, Normalize(s), n, maxHexPerRune)
		}
		if v := canaryView(s); countHex(v) > maxHexPerRune {
			t.Errorf("canaryView(%q) = %q: %d hex digits, more than maxHexPerRune (%d)", s, v, countHex(v), maxHexPerRune)
		}
		if d := foldConfusables(norm.NFKD.String(s)); countHex(d) > maxHexPerRune {
			t.Errorf("NFKD(%q) = %q: %d hex digits, more than maxHexPerRune (%d)", s, d, countHex(d), maxHexPerRune)
		}
	}
}

var hexRunSeeds = []string{
	"", "0123456789abcdefABCDEF", "xxxxxxxxxxxxxxxx", `{"path":"step-3.txt","content":"xxxx"}`,
	"⅒⅒⅒⅒⅒⅒⅒⅒", "㏈㏅㍲ﬀ", "ａｂｃｄｅｆ０１２３", "аеаеаеас", "g\u0301abc", "abc\u200bg\u0301def",
	"de\u0301ad", "1\u20e3 2\u20e3", "\xff\xfeab\xc3", "BWK-CANARY-0123456789abcdef01234567",
	"𝟎𝟏𝟐𝟑𝐚𝐛𝐜", "ǅǄǆ", "z\u0323\u030c", "e\u0308\u0301",
}

func TestHexRunBound(t *testing.T) {
	for _, s := range hexRunSeeds {
		if got, want := hexRunBound(s, 1<<30), plainHexRun(canaryView(s)); got < want {
			t.Errorf("hexRunBound(%q) = %d, below the %d hex digits in a row canaryView gives (%q)", s, got, want, canaryView(s))
		}
	}
	// The check's fast path must see what the slow path sees.
	c := NewCanary()
	for _, s := range []string{c.secret, reverse(c.secret), "ａ" + c.secret, "⅒" + c.secret[3:]} {
		if got, want := c.inNormalized(s), c.inPlain(canaryView(s)); got != want {
			t.Errorf("inNormalized(%q) = %v, inPlain(canaryView) = %v", s, got, want)
		}
	}
}

// FuzzHexRunBound checks that hexRunBound never undercounts, so that the
// canary check's fast path never skips text in which inPlain would find
// the canary.
func FuzzHexRunBound(f *testing.F) {
	for _, s := range hexRunSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := hexRunBound(s, 1<<30), plainHexRun(canaryView(s)); got < want {
			t.Errorf("hexRunBound(%q) = %d, below the %d hex digits in a row canaryView gives (%q)", s, got, want, canaryView(s))
		}
	})
}

// BenchmarkCanaryIn checks a write_file call's arguments as the agent does
// (the raw JSON, then a decoded value).
func BenchmarkCanaryIn(b *testing.B) {
	c := NewCanary()
	content := "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	for _, s := range []string{`{"path":"step-3.txt","content":"` + content + `"}`, content} {
		b.Run(s[:4], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.In(s)
			}
		})
	}
}
