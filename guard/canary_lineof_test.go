package guard

import (
	"encoding/base64"
	"encoding/hex"
	"html"
	"slices"
	"strings"
	"testing"
)

// FuzzInMixedLineOf: whatever inMixed finds in a text it finds in any
// text holding that one as whole lines (isLineOf), which is what lets a
// CanaryCheck skip a line of a text it found nothing in. The text is any
// text, or one with a piece of the random part, each piece written in one
// of pieceEncodings, put in; the lines around it are any text, escapes cut
// short and surrogates left waiting included.
func FuzzInMixedLineOf(f *testing.F) {
	f.Add("", "", "", uint8(0), uint8(0), uint8(24))
	f.Add(`\ud800`, "x", `\udc00`, uint8(0x80|3), uint8(12), uint8(12))
	f.Add("%4", "1 QldL", "&#x", uint8(0x80|9), uint8(18), uint8(24))
	f.Add(`\u{4`, "%u00", "}", uint8(0x80|16), uint8(13), uint8(8))
	f.Add("abc", "0123", "def", uint8(0x80), uint8(0), uint8(24))
	f.Add("\n", "", "\n\n", uint8(0), uint8(0), uint8(0))
	c := NewCanary()
	f.Fuzz(func(t *testing.T, a, text, b string, e, from, to uint8) {
		if e&0x80 != 0 {
			lo, hi := int(from)%len(c.secret), int(to)%(len(c.secret)+1)
			if lo < hi {
				text += pieceEncodings[int(e&0x7f)%len(pieceEncodings)].enc(c.secret[lo:hi])
			}
			if hi < len(c.secret) {
				text += " " + c.secret[hi:]
			}
			if lo > 0 {
				text = c.secret[:lo] + " " + text
			}
		}
		for _, j := range []string{a, a + b, a + "\n" + b, text + a, a + "\n" + text + b} {
			if got, want := isLineOf(text, j), strings.Contains("\n"+j+"\n", "\n"+text+"\n"); got != want {
				t.Fatalf("isLineOf(%q, %q) = %v, want %v", text, j, got, want)
			}
		}
		if !c.inMixed(text) {
			return
		}
		for _, j := range []string{text, a + "\n" + text, text + "\n" + b, a + "\n" + text + "\n" + b, text + "\n" + text} {
			if !isLineOf(text, j) {
				t.Fatalf("isLineOf(%q, %q) = false", text, j)
			}
			if !c.inMixed(j) {
				t.Fatalf("inMixed finds the canary in %q, not in %q, which holds it as a line", text, j)
			}
		}
	})
}

// TestInMixedSharedSkipsLines: a CanaryCheck does not read for pieces a
// text that is a whole line of one it found nothing in (here one marked
// so, holding the random part, to see the skip), and reads any other.
func TestInMixedSharedSkipsLines(t *testing.T) {
	c := NewCanary()
	half := len(c.secret) / 2
	text := c.secret[:half] + " " + hex.EncodeToString([]byte(c.secret[half:]))
	if !c.inMixed(text) {
		t.Fatalf("inMixed(%q) = false", text)
	}
	for _, tc := range []struct {
		clean string
		skip  bool
	}{
		{text, true},
		{"a\n" + text, true},
		{text + "\nb", true},
		{"a\n" + text + "\nb", true},
		{text + "\n" + text, true},
		{"a" + text + "\nb", false},
		{"a\n" + text + "b", false},
		{"a\n" + text[1:] + "\nb", false},
		{"a\r" + text + "\r\nb", false},
		{"a\n" + text[:half] + "\n" + text[half:], false},
	} {
		k := c.Check()
		k.mixedClean = append(k.mixedClean, tc.clean)
		if got := !k.c.inMixedShared(text, k); got != tc.skip {
			t.Errorf("with %q clean, inMixedShared(%q) skipped: %v, want %v", tc.clean, text, got, tc.skip)
		}
	}
	// What it found nothing in, it marks clean if it has several lines
	// (and letters and digits enough for inMixed to read it: mayMix;
	// the lines of one with fewer have fewer).
	k := c.Check()
	for _, s := range []string{"content\nstep-3.txt\npath\nREADME.md", "step-3.txt, step-4.txt, step-5.txt", "a\n" + text, "content\npath\nstep-3.txt"} {
		k.In(s)
	}
	if want := []string{"content\nstep-3.txt\npath\nREADME.md"}; !slices.Equal(k.mixedClean, want) {
		t.Errorf("mixedClean = %q, want %q", k.mixedClean, want)
	}
}

// FuzzCanaryTooShort: In finds nothing in a text tooShort says is too
// short, read every way (inAll). The seeds pack the most hex digits in
// the fewest bytes each way: plain, other characters, HTML references,
// escapes, tags, base64.
func FuzzCanaryTooShort(f *testing.F) {
	c := NewCanary()
	for _, s := range []string{
		c.secret, strings.ToUpper(c.secret), reverse(c.secret), "⅒⅒⅒⅒⅒", "ａｂｃｄｅ", "&nGt;&nGt;&nGt;", "&#8530;&#8530;",
		`\x41\x42\x43\x44`, "%41%42%43%44%45", `\u2152\u2152`, tagText(c.secret), hex.EncodeToString([]byte(c.secret)),
		base64.StdEncoding.EncodeToString([]byte(c.secret)), c.secret[:8] + "⅒⅒",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for n := 0; n <= len(text) && tooShort(text[:n], c.secret); n++ {
			if c.inAll(text[:n], nil) {
				t.Fatalf("inAll(%q) = true, %d bytes: tooShort is wrong", text[:n], n)
			}
		}
	})
}

// TestHTMLReferenceBound: HTML's references undone give no more than 3/2
// of a hex digit a byte of the reference, as hexRunBound counts them (the
// names of one to three letters, with and without ';', are all tried).
func TestHTMLReferenceBound(t *testing.T) {
	letters := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var check func(name string)
	check = func(name string) {
		for _, s := range []string{"&" + name, "&" + name + ";"} {
			if u := html.UnescapeString(s); 2*hexRunBound(u, 1<<30) > 3*len(s) {
				t.Errorf("UnescapeString(%q) = %q: hexRunBound %d, over 3/2 a byte", s, u, hexRunBound(u, 1<<30))
			}
		}
		if len(name) < 3 {
			for i := range len(letters) {
				check(name + letters[i:i+1])
			}
		}
	}
	check("")
}
