package guard

import (
	"encoding/base64"
	"encoding/hex"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// checkShared fails t when k, a CanaryCheck that has looked in other texts
// before, reaches another verdict on text than the old check (which
// checkSame holds In to), or decodes text into other segments than
// decodeAll does on its own.
func checkShared(t testing.TB, k *CanaryCheck, text string) {
	t.Helper()
	// In is the old check, shared, or inMixed (pieces each encoded their
	// own way), which shares nothing.
	want, got := k.c.oldIn(text) || k.c.inMixed(text) || k.c.inRawForms(text), k.In(text)
	if want && !got {
		t.Fatalf("regression: In caught the canary in %s, the shared check misses it", short(text))
	}
	if want != got {
		t.Fatalf("shared In(%s) = %v, In = %v", short(text), got, want)
	}
	if o, n := decodeAll(text), k.decodeAll(text); !slices.Equal(o, n) {
		t.Fatalf("shared decodeAll(%s) differs from decodeAll:\n%q\n%q", short(text), n, o)
	}
}

// TestCanaryCheckBounds: a run's decoding is replayed only where the
// decoders' bounds would let all of it through again, and a decoding the
// bounds cut short is not remembered. hidden is caught only by decoding
// it three times (base64 of the hex of the token's base64: 96 bytes, then
// 48, then 35; inMixed reads a piece encoded twice, not three times); "!"
// is neither base64 nor a separator, so the runs stay apart, squeezed or
// not.
func TestCanaryCheckBounds(t *testing.T) {
	c := NewCanary()
	hidden := base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString([]byte(base64.StdEncoding.EncodeToString([]byte(c.token))))))
	hello := "aGVsbG8gd29ybGQgaGVsbG8=!" // one segment of 17 bytes
	// junk decodes to n bytes of text with no run in it.
	junk := func(n int) string {
		return base64.StdEncoding.EncodeToString([]byte(strings.Repeat("junk text, ", 1+n/11)[:n])) + "!"
	}
	for _, tc := range []struct {
		name        string
		fits, spent string // hidden fits in the bounds, and not
	}{
		// Behind 300 segments, the 257th on is refused.
		{"segments", hidden, strings.Repeat(hello, 300) + hidden},
		// Remembered with 1 segment out and half the budget spent, the
		// run must not be replayed behind 256 segments.
		{"segments, budget left", junk(maxDecodedBytes/2) + hidden, strings.Repeat(hello, 300) + hidden},
		// Two segments out in both: 34 bytes spent, and all but 23 spent.
		{"budget", hello + hello + hidden, hello + junk(maxDecodedBytes-40) + hidden},
	} {
		if c.In(tc.spent) || !c.In(tc.fits) {
			t.Fatalf("%s: In(spent) = %v, In(fits) = %v: the test no longer puts the run past the bounds", tc.name, c.In(tc.spent), c.In(tc.fits))
		}
		for _, order := range [][]string{{tc.spent, tc.fits}, {tc.fits, tc.spent}, {tc.spent, tc.fits, tc.spent, tc.fits}} {
			k := c.Check()
			for _, text := range order {
				checkShared(t, k, text)
			}
		}
	}
}

// pieces are what TestCanaryCheckShared builds texts of: the token, its
// random part and halves of them in the encodings the check undoes, and
// decoy runs that decode to text, to junk, or to nothing.
func canaryPieces(c Canary) []string {
	var out []string
	for _, p := range []string{c.token, c.secret, c.token[:len(c.token)/2], c.token[len(c.token)/2:]} {
		for _, e := range encoders {
			out = append(out, e.enc(p))
		}
	}
	return append(out,
		strings.Repeat("x", 64), "step-3.txt", "content", "path",
		"aGVsbG8gd29ybGQgaGVsbG8=", "68656c6c6f20776f726c64", `\x41\x42\x43\x44\x45\x46\x47\x48`,
		"%41%42%43", "&#65;&#66;", "\xff\xfe", "\xf3\xa0", "\u0301", "=", "-", "_")
}

// TestCanaryCheckShared builds texts of pieces that recur from text to text
// (encoded tokens, halves of them, decoys), joined as tool arguments are,
// and looks in runs of them with one CanaryCheck each: every verdict and
// every decoding must be In's.
func TestCanaryCheckShared(t *testing.T) {
	c := NewCanary()
	pieces := canaryPieces(c)
	seps := []string{"\n", " ", "", "!", `","`, `":"`, ":", "="}
	rng := rand.New(rand.NewPCG(5, 6))
	rounds := 600
	if testing.Short() {
		rounds = 150
	}
	caught := 0
	for range rounds {
		k := c.Check()
		// Texts of the round share a few pieces, as a call's texts do.
		pool := make([]string, 3)
		for i := range pool {
			pool[i] = pieces[rng.IntN(len(pieces))]
		}
		for range 8 {
			var b strings.Builder
			for j := range 1 + rng.IntN(4) {
				if j > 0 {
					b.WriteString(seps[rng.IntN(len(seps))])
				}
				b.WriteString(pool[rng.IntN(len(pool))])
			}
			checkShared(t, k, b.String())
			if k.In(b.String()) {
				caught++
			}
		}
	}
	t.Logf("%d texts, %d caught", rounds*8, caught)
}

// FuzzCanaryCheck holds a CanaryCheck to In on texts that share pieces:
// any two texts with the token, a piece of it, or a doubly encoded piece
// put in, and those put together in the ways a tool call's texts are, then
// lines of those again (which inMixed may skip).
func FuzzCanaryCheck(f *testing.F) {
	f.Add("", "", uint8(0), uint8(0), uint8(24))
	f.Add("content", "step-3.txt", uint8(11), uint8(0x80|3), uint8(40))
	f.Add("aGVsbG8gd29ybGQgaGVsbG8=!", "\xff&#65", uint8(14), uint8(20), uint8(9))
	c := NewCanary()
	f.Fuzz(func(t *testing.T, a, b string, e1, e2, cut uint8) {
		s := fuzzPiece(c, cut, e1, e2)
		k := c.Check()
		for _, text := range []string{
			a + s + b, s, a, b,
			a + "\n" + s, s + "\n" + b, b + "\n" + s + "\n" + a,
			`{"` + a + `":"` + s + `","p":"` + b + `"}`,
			s[:len(s)/2] + "\n" + b + "\n" + s[len(s)/2:],
			a + s + b,
			s, a, b, s[:len(s)/2], s[len(s)/2:],
		} {
			checkShared(t, k, text)
		}
	})
}

// TestCanaryCheckWordMemo: a CanaryCheck keeps the states inMixed left
// after each word it read, and a text read later takes a word's states
// from there: with those of "content" from nothing matched made all but
// the random part's last character (which no reading of "content" leaves),
// that character after it completes the random part.
func TestCanaryCheckWordMemo(t *testing.T) {
	c := NewCanary()
	k := c.Check()
	text := `{"content":"step-3.txt","path":"docs/notes/readme.txt"}`
	if k.In(text) {
		t.Fatalf("In(%q) = true", text)
	}
	if _, ok := k.memo[wordKey{1, "content"}]; !ok {
		t.Fatalf("no states kept for %q: %v", "content", k.memo)
	}
	k.memo[wordKey{1, "content"}] = 1 << (len(c.secret) - 1)
	next := "content " + c.secret[len(c.secret)-1:] + " and many more words to read"
	if !k.In(next) {
		t.Errorf("In(%q) = false: the states kept for %q were not read", next, "content")
	}
	if c.In(next) {
		t.Errorf("c.In(%q) = true", next)
	}
}

// fuzzPiece is the fuzz targets' piece of c's token: its first cut bytes
// (all of it for a larger cut), encoded by the encoder e1 picks, and by
// the one e2 picks again when e2's high bit is set.
func fuzzPiece(c Canary, cut, e1, e2 uint8) string {
	p := c.token
	if int(cut) < len(p) {
		p = p[:cut]
	}
	s := encoders[int(e1)%len(encoders)].enc(p)
	if e2&0x80 != 0 {
		s = encoders[int(e2)%len(encoders)].enc(s)
	}
	return s
}
