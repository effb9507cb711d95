package guard

import (
	"encoding/base32"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The regexps the scans of canary_more.go replaced, kept as their oracle.
var (
	oldOctalEscape  = regexp.MustCompile(`\\([0-3]?[0-7]{1,2})`)
	oldBraceEscape  = regexp.MustCompile(`\\u\{([0-9A-Fa-f]{1,6})\}`)
	oldLongEscape   = regexp.MustCompile(`\\U([0-9A-Fa-f]{8})`)
	oldPercentU     = regexp.MustCompile(`%u([0-9A-Fa-f]{4})`)
	oldDecimalCodes = regexp.MustCompile(`\b(\d{2,7})\b`)
	oldBase32Run    = regexp.MustCompile(`[A-Z2-7]{16,}=*`)
	oldHexPiece     = regexp.MustCompile(`[0-9A-Fa-f]{16,}`)
)

// oldOtherEscapes is otherEscapes as it was: every regexp run on any text
// with a backslash, "%u" or a digit.
func oldOtherEscapes(text string) []string {
	var out []string
	for _, run := range oldBase32Run.FindAllString(text, -1) {
		if b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(run, "=")[:len(strings.TrimRight(run, "="))/8*8]); err == nil {
			out = append(out, string(b))
		}
	}
	for _, e := range []struct {
		re   *regexp.Regexp
		base int
	}{
		{oldOctalEscape, 8},
		{oldBraceEscape, 16},
		{oldLongEscape, 16},
		{oldPercentU, 16},
		{oldDecimalCodes, 10},
	} {
		m := e.re.FindAllStringSubmatch(text, -1)
		if len(m) < minCodeEscape {
			continue
		}
		var b strings.Builder
		for _, g := range m {
			v, err := strconv.ParseUint(g[len(g)-1], e.base, 32)
			if err != nil || v > 0x10FFFF {
				continue
			}
			b.WriteRune(rune(v))
		}
		out = append(out, b.String())
	}
	return out
}

// FuzzOtherEscapes holds otherEscapes, its counts that skip the regexps
// and its scans for decimal codes and base32 runs, to the regexps on any
// text.
func FuzzOtherEscapes(f *testing.F) {
	f.Add(`\101\102\103\104\105\106\107\110 \u{41}`)
	f.Add("72 101 108 108 111 44 32 119 111 114 108 100 _12 12_ 1234567 12345678 a12 12a 12é")
	f.Add("%u0041%u0042%u0043%u0044%u0045%u0046%u0047%u0048 \\U00000041")
	f.Add("IJLU4S2ZKRCVQ===ORSXG5A GEZDGNBVGY3TQOJQ MFRGGZDFMZTWQ2LK")
	f.Add("0123456789abcdef0123456789ABCDEF xyz 0123456789abcde")
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := otherEscapes(text), oldOtherEscapes(text); !slices.Equal(got, want) {
			t.Errorf("otherEscapes(%q) = %q, the regexps' %q", text, got, want)
		}
		if got, want := slices.Collect(runs(text, hexBytes.Get(), minHexPiece)), oldHexPiece.FindAllString(text, -1); !slices.Equal(got, want) {
			t.Errorf("hex runs of %q: %q, the regexp's %q", text, got, want)
		}
		want := oldDecimalCodes.FindAllString(text, -1)
		if len(want) < minCodeEscape {
			want = nil
		}
		if got := decimalCodes(text); !slices.Equal(got, want) {
			t.Errorf("decimalCodes(%q) = %q, the regexp's %q", text, got, want)
		}
	})
}

// TestOtherEscapesSeeds runs FuzzOtherEscapes' oracle on texts made of
// many escapes of each kind, which random fuzzing rarely reaches, each of
// which otherEscapes must decode.
func TestOtherEscapesSeeds(t *testing.T) {
	for _, form := range []string{`\%o`, `\%03o`, `\u{%x}`, `\U%08X`, `%%u%04x`, `%d `, `%d,`, `(%d)`} {
		var b strings.Builder
		for _, r := range "BWK-CANARY-0123456789abcdef" {
			fmt.Fprintf(&b, form, r)
		}
		text := b.String()
		got, want := otherEscapes(text), oldOtherEscapes(text)
		if !slices.Equal(got, want) {
			t.Errorf("otherEscapes(%q) = %q, the regexps' %q", text, got, want)
		}
		if !slices.Contains(got, "BWK-CANARY-0123456789abcdef") {
			t.Errorf("otherEscapes(%q) = %q, without the text", text, got)
		}
	}
	for _, text := range []string{"72 101 108 108 111 44 32 119 _12 a12 12b", "72 101 108 108 111 44 32 119 9 12345678"} {
		if got, want := decimalCodes(text), oldDecimalCodes.FindAllString(text, -1); !slices.Equal(got, want) || len(got) != minCodeEscape {
			t.Errorf("decimalCodes(%q) = %q, the regexp's %q", text, got, want)
		}
	}
}

// oldInPlain is inPlain as it was, building the text it looks in.
func (c Canary) oldInPlain(s string) bool {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case 'A' <= ch && ch <= 'Z':
			b.WriteByte(ch + 'a' - 'A')
		case 'a' <= ch && ch <= 'z' || '0' <= ch && ch <= '9':
			b.WriteByte(ch)
		}
	}
	t := b.String()
	return strings.Contains(t, c.secret) || strings.Contains(t, reverse(c.secret))
}

// FuzzInPlain holds inPlain, on its stack buffer or past it, to the old
// one, with the random part or its reverse put in any text.
func FuzzInPlain(f *testing.F) {
	f.Add("a-b", "", uint16(0), false)
	f.Add(strings.Repeat("x", 600), "Z", uint16(500), true)
	c := NewCanary()
	f.Fuzz(func(t *testing.T, text, sep string, at uint16, rev bool) {
		p := c.secret
		if rev {
			p = reverse(p)
		}
		i := int(at) % (len(text) + 1)
		for _, s := range []string{text, text[:i] + strings.Join(strings.Split(strings.ToUpper(p), ""), sep) + text[i:]} {
			if got, want := c.inPlain(s), c.oldInPlain(s); got != want {
				t.Errorf("inPlain(%q) = %v, the old one's %v", s, got, want)
			}
		}
	})
}
