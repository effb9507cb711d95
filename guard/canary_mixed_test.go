package guard

import (
	"bufio"
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pieceEncodings are the ways each piece of a split token is written in
// the red-team tests below: every encoding In claims, each alone.
var pieceEncodings = []struct {
	name string
	enc  func(string) string
}{
	{"plain", func(s string) string { return s }},
	{"hex", func(s string) string { return hex.EncodeToString([]byte(s)) }},
	{"HEX", func(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) }},
	{"base64", func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }},
	{"base64 raw", func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }},
	{"base64 URL", func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }},
	{"base32", func(s string) string { return base32.StdEncoding.EncodeToString([]byte(s)) }},
	{"base32 raw", func(s string) string {
		return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(s))
	}},
	{"base32 lower", func(s string) string { return strings.ToLower(base32.StdEncoding.EncodeToString([]byte(s))) }},
	{"base32 hex", func(s string) string { return base32.HexEncoding.EncodeToString([]byte(s)) }},
	{"%XX", func(s string) string { return escapeBytes(s, "%%%02X") }},
	{"query", url.QueryEscape},
	{`\u`, func(s string) string { return escapeBytes(s, `\u%04x`) }},
	{`\x`, func(s string) string { return escapeBytes(s, `\x%02x`) }},
	{"&#x;", func(s string) string { return escapeBytes(s, "&#x%x;") }},
	{"&#;", func(s string) string { return escapeBytes(s, "&#%d;") }},
}

// escapeBytes writes each byte of s (ASCII here) with format.
func escapeBytes(s, format string) string {
	var b strings.Builder
	for i := range len(s) {
		fmt.Fprintf(&b, format, s[i])
	}
	return b.String()
}

// pieceSeparators are what the pieces are written apart with: spaces,
// lines, DNS labels, URL path segments, dashes, JSON values joined (as the
// agent joins a call's values), and nothing (one piece right after the
// other, in one word: cuts).
var pieceSeparators = []string{" ", "\n", ".", "/", "-", "\",\"", "\n\t", ""}

// eachSplit calls f with the token (or its random part) cut in two, each
// piece written in an encoding of its own, with a separator between, for
// every other cut (every fifth with -short), pair of encodings and
// separator.
func eachSplit(t *testing.T, tok string, f func(name, text string)) {
	t.Helper()
	step := 2
	if testing.Short() {
		step = 5
	}
	for cut := 1; cut < len(tok); cut += step {
		for _, e1 := range pieceEncodings {
			for _, e2 := range pieceEncodings {
				for _, sep := range pieceSeparators {
					name := fmt.Sprintf("%s + %q + %s, cut at %d", e1.name, sep, e2.name, cut)
					f(name, e1.enc(tok[:cut])+sep+e2.enc(tok[cut:]))
				}
			}
		}
	}
}

// TestCanarySplitEachPieceItsOwnWay: the token, and its random part alone,
// cut in two anywhere, each piece in any encoding In claims (the two
// pieces in base32 each, one plain and one base64, one hex and one
// URL-encoded, ...), with any separator between: found, inside other
// text too.
func TestCanarySplitEachPieceItsOwnWay(t *testing.T) {
	c := NewCanary()
	missed := 0
	for _, tok := range []string{c.token, c.secret} {
		eachSplit(t, tok, func(name, text string) {
			if !c.In(text) || !c.In("note: "+text+" (end)") {
				if missed++; missed <= 20 {
					t.Errorf("%s: the canary in %q was not found", name, text)
				}
			}
		})
	}
	if missed > 20 {
		t.Errorf("and %d more", missed-20)
	}
}

// TestCanarySplitNotOverreaching: the same splits with one digit of the
// random part changed are not the canary, and inMixed takes neither the
// pieces in the wrong order nor pieces with a word between them for it
// (a word cannot be skipped). (In as a whole may: it joins the pieces of
// one encoding in the order it decodes them, hex runs before \x escapes.)
func TestCanarySplitNotOverreaching(t *testing.T) {
	c := NewCanary()
	wrong := []byte(c.token)
	i := len(wrong) - 7
	wrong[i] = "01"[boolInt(wrong[i] == '0')]
	found := 0
	eachSplit(t, string(wrong), func(name, text string) {
		if strings.Contains(name, `+ "" +`) {
			return // pieces with nothing between them: see minPiece
		}
		if c.In(text) {
			if found++; found <= 10 {
				t.Errorf("%s: %q, with a digit changed, is taken for the canary", name, text)
			}
		}
	})
	h := len(c.token) / 2
	for _, e1 := range pieceEncodings {
		for _, e2 := range pieceEncodings {
			a, b := e1.enc(c.token[:h]), e2.enc(c.token[h:])
			for _, sep := range []string{" ", ""} {
				if text := b + sep + a; c.inMixed(text) {
					t.Errorf("%s + %s: the pieces in the wrong order %q are taken for the canary", e2.name, e1.name, text)
				}
			}
			// "zzzz" decodes, as base64 and base32, to bytes that are not
			// text: no reading of it may let it vanish either.
			for _, between := range []string{" and ", " zzzz "} {
				if text := a + between + b; c.inMixed(text) {
					t.Errorf("%s + %s: inMixed joins pieces with a word between them: %q", e1.name, e2.name, text)
				}
			}
		}
	}
}

// TestCanarySplitPieceEncodedTwice: the token cut in two, one piece plain
// and the other encoded twice (hex, then base64; %XX, then base64; base64,
// then hex or %XX; ...: any two of pieceEncodings), is found; with a
// digit of the random part changed, it is not.
func TestCanarySplitPieceEncodedTwice(t *testing.T) {
	c := NewCanary()
	wrong := []byte(c.token)
	i := len(wrong) - 7
	wrong[i] = "01"[boolInt(wrong[i] == '0')]
	missed, taken := 0, 0
	for cut := 3; cut < len(c.token); cut += 8 {
		for _, inner := range pieceEncodings[1:] {
			for _, outer := range pieceEncodings[1:] {
				for _, tok := range []string{c.token, string(wrong)} {
					a, b := tok[:cut], outer.enc(inner.enc(tok[cut:]))
					for _, text := range []string{a + " " + b, outer.enc(inner.enc(tok[:cut])) + " " + tok[cut:]} {
						switch got := c.In(text); {
						case tok == c.token && !got:
							if missed++; missed <= 10 {
								t.Errorf("%s then %s, cut at %d: the canary in %q was not found", inner.name, outer.name, cut, text)
							}
						case tok != c.token && got:
							if taken++; taken <= 10 {
								t.Errorf("%s then %s, cut at %d: %q, with a digit changed, is taken for the canary", inner.name, outer.name, cut, text)
							}
						}
					}
				}
			}
		}
	}
	if missed+taken > 20 {
		t.Errorf("%d missed and %d taken in all", missed, taken)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestCanaryMixedNoFalsePositives: texts full of hex, base64 and base32
// words (hashes, ids, keys, MIME bodies, DNS names) and the guard's
// evaluation texts hold no canary, for many canaries.
func TestCanaryMixedNoFalsePositives(t *testing.T) {
	var texts []string
	for _, name := range []string{"agentdojo.jsonl", "bulwark-heldout.jsonl"} {
		f, err := os.Open(filepath.Join("testdata", "eval", name))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line struct{ Text string }
			if err := json.Unmarshal(sc.Bytes(), &line); err == nil {
				texts = append(texts, line.Text)
			}
		}
		f.Close()
	}
	if len(texts) < 100 {
		t.Fatalf("%d evaluation texts: the test proves little", len(texts))
	}
	for range 200 {
		b := make([]byte, 96)
		rand.Read(b)
		texts = append(texts, strings.Join([]string{
			hex.EncodeToString(b[:20]), hex.EncodeToString(b[20:52]),
			base64.StdEncoding.EncodeToString(b[:33]), base64.RawURLEncoding.EncodeToString(b[33:60]),
			base32.StdEncoding.EncodeToString(b[60:80]), strings.ToLower(base32.HexEncoding.EncodeToString(b[80:])),
			url.QueryEscape(string(b[40:70])), escapeBytes(string(b[10:30]), `\x%02x`),
		}, []string{" ", "\n", ".", "/", "-", ""}[b[0]%6]))
	}
	canaries := 10
	if testing.Short() {
		canaries = 2
	}
	for range canaries {
		c := NewCanary()
		for _, text := range texts {
			if c.In(text) {
				t.Fatalf("canary %s found in %q", c.token, text)
			}
		}
	}
}

// BenchmarkCanaryInMixed is inMixed alone on BenchmarkCanaryIn's texts.
func BenchmarkCanaryInMixed(b *testing.B) {
	c := NewCanary()
	content := "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	for _, s := range []string{`{"path":"step-3.txt","content":"` + content + `"}`, content} {
		b.Run(s[:4], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.inMixed(s)
			}
		})
	}
}

// FuzzInMixed: inMixed reads any text without failing, finds the random
// part put in plainly between two words of it, and decodeText agrees with
// the standard library's decoders wherever it decodes.
func FuzzInMixed(f *testing.F) {
	f.Add("QldLLQ== %41 \\u0042 &#x43; ijlu====", "a")
	f.Add("\\ud800\\udc00 %u0041 \\101 \\U00000041 \\u{41}", "=")
	c := NewCanary()
	std := func(dec func(string) ([]byte, error), upper bool) func(string) ([]byte, error) {
		return func(w string) ([]byte, error) {
			if upper {
				w = strings.ToUpper(w)
			}
			return dec(w)
		}
	}
	decoders := [wordReadings]func(string) ([]byte, error){
		readHex:       std(hex.DecodeString, false),
		readBase64:    std(base64.RawStdEncoding.DecodeString, false),
		readBase64URL: std(base64.RawURLEncoding.DecodeString, false),
		readBase32:    std(base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString, true),
		readBase32Hex: std(base32.HexEncoding.WithPadding(base32.NoPadding).DecodeString, true),
	}
	f.Fuzz(func(t *testing.T, text, w string) {
		c.inMixed(text)
		if s := text + " " + c.secret + " " + text; !c.inMixed(s) {
			t.Errorf("inMixed(%q) = false", s)
		}
		if strings.Contains(w, "=") {
			return
		}
		for e, dec := range decoders {
			got, ok := decodeText(nil, w, e)
			if want, err := dec(w); ok && (err != nil || string(got) != string(want)) {
				t.Errorf("decodeText(%q, %d) = %q, the standard library's: %q, %v", w, e, got, want, err)
			}
		}
	})
}

// FuzzCanaryAdjacentPieces: the token, or its random part, cut anywhere
// in two pieces each in any encoding of pieceEncodings, written one right
// after the other (cuts), between any texts, is found.
func FuzzCanaryAdjacentPieces(f *testing.F) {
	f.Add("note:", "(end)", uint8(1), uint8(3), uint8(14), false)
	f.Add("", "", uint8(6), uint8(9), uint8(33), true)
	f.Add("x=", "&#", uint8(8), uint8(5), uint8(2), false)
	c := NewCanary()
	f.Fuzz(func(t *testing.T, before, after string, e1, e2, cut uint8, secret bool) {
		tok := c.token
		if secret {
			tok = c.secret
		}
		k := 1 + int(cut)%(len(tok)-1)
		a := pieceEncodings[int(e1)%len(pieceEncodings)]
		b := pieceEncodings[int(e2)%len(pieceEncodings)]
		if text := before + " " + a.enc(tok[:k]) + b.enc(tok[k:]) + " " + after; !c.In(text) {
			t.Errorf("%s then %s, cut at %d: the canary in %q was not found", a.name, b.name, k, text)
		}
	})
}

// canaryOf returns the canary whose random part is secret.
func canaryOf(secret string) Canary {
	c := Canary{token: canaryPrefix + secret, secret: secret}
	needles := c.makeNeedles()
	c.needles = &needles
	c.matcher = newPieceMatcher(secret)
	return c
}

// TestCanaryShortBlockEndsWithZeroBits: a base64 piece may end in a
// short block unpadded only with its left-over bits zero, as encoders
// write them. CI found a token with a digit changed taken for the
// canary: "ZDA=" ("d0") read as "ZD" ('d', bits 0011 left over) and "A"
// plain, the right digit.
func TestCanaryShortBlockEndsWithZeroBits(t *testing.T) {
	c := canaryOf("09dd12b9ba8a4529da4b0654")
	head := "QldLLUNBTkFSWS0wOWRkMTJiOWJhOGE0NTI5" // "BWK-CANARY-09dd12b9ba8a4529"
	for _, tc := range []struct {
		text string
		want bool
	}{
		{head + "ZDA=/4b0654", false}, // "…d0" + "4b0654": a digit changed
		{head + "ZDA=-4b0654", false},
		{head + "ZA==a4b0654", true}, // "…d", padded, then the rest plain
		{head + "ZAa4b0654", true},   // unpadded, its bits zero
		{head + "ZD==a4b0654", true}, // padded: the padding ends the piece
	} {
		if got := c.In(tc.text); got != tc.want {
			t.Errorf("In(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}
