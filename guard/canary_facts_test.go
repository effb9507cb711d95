package guard

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// inAllEvery is inAll with every reader run, none skipped by factsOf:
// the check as it was before textFacts.
func (c Canary) inAllEvery(text string, k *CanaryCheck) bool {
	if strings.Contains(text, c.secret) {
		return true
	}
	if c.inNormalized(text) || c.inRotated(text) {
		return true
	}
	for _, n := range c.encodedNeedles() {
		if n.in(text) {
			return true
		}
	}
	if c.inRawForms(text) {
		return true
	}
	segs := k.decodeAll(text)
	if c.inSegments(segs, k) {
		return true
	}
	return c.inReassembled(text, segs, k) || c.inMixed(text)
}

// checkFacts fails t when a reader factsOf lets inAll skip finds the
// random part in text, or when In and inAllEvery disagree on it.
func checkFacts(t testing.TB, c Canary, text string) {
	t.Helper()
	f := factsOf(text, c.secret)
	if f.ascii != isPlainASCII(text) {
		t.Fatalf("factsOf(%s).ascii = %v", short(text), f.ascii)
	}
	if b := hexRunBound(text, 1<<30); f.ascii && f.hexRun != b {
		t.Fatalf("factsOf(%s).hexRun = %d, hexRunBound = %d", short(text), f.hexRun, b)
	}
	if !f.mayPlain(c.secret) && c.inNormalized(text) {
		t.Fatalf("inNormalized(%s) = true, facts %+v skip it", short(text), f)
	}
	if !f.mayRotate(c.rotPattern()) && c.inRotated(text) {
		t.Fatalf("inRotated(%s) = true, facts %+v skip it", short(text), f)
	}
	if !f.mayMix(c.secret) && c.inMixed(text) {
		t.Fatalf("inMixed(%s) = true, facts %+v skip it", short(text), f)
	}
	if !f.decodes {
		segs := decodeAll(text)
		if c.inSegments(segs, nil) || c.inReassembled(text, segs, nil) {
			t.Fatalf("the decoders find the canary in %s, facts %+v skip them", short(text), f)
		}
	}
	want := !tooShort(text, c.secret) && c.inAllEvery(text, nil)
	if got := c.In(text); got != want {
		t.Fatalf("In(%s) = %v, every reader run: %v", short(text), got, want)
	}
}

// shrink deletes bytes of text at random, one at a time, keeping each
// deletion after which found still holds, and calls each on every text it
// kept: texts with as little of the token left as a reader needs, where
// the counts of factsOf are closest to their bounds.
func shrink(r *rand.Rand, text string, tries int, found func(string) bool, each func(string)) {
	if !found(text) {
		return
	}
	each(text)
	for range tries {
		if text == "" {
			return
		}
		i := r.IntN(len(text))
		n := 1 + r.IntN(min(4, len(text)-i))
		if s := text[:i] + text[i+n:]; found(s) {
			text = s
			each(text)
		}
	}
}

// factsReaders are the readers factsOf skips, each on its own, to shrink
// texts against.
func factsReaders(c Canary) []func(string) bool {
	return []func(string) bool{
		c.inRotated,
		c.inMixed,
		func(s string) bool {
			segs := decodeAll(s)
			return c.inSegments(segs, nil) || c.inReassembled(s, segs, nil)
		},
		func(s string) bool { return c.inAllEvery(s, nil) },
	}
}

// TestCanaryFactsAgree holds In to every reader run on the token, its
// random part and pieces of them hidden in every encoding of the red
// team's (one and two deep), in pieces each its own way, rotated, and
// near tokens, each text shrunk against each reader factsOf skips to as
// little as that reader still finds the canary in; and on the fuzz
// corpora's texts.
func TestCanaryFactsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	tries := 300
	if testing.Short() {
		tries = 60
	}
	for _, c := range seededCanaries(3, 2) {
		readers := factsReaders(c)
		var texts []string
		for _, p := range []string{c.token, c.secret, c.secret[:12], c.token[4:30], reverse(c.secret)} {
			for _, e := range encoders {
				texts = append(texts, e.enc(p), encoders[r.IntN(len(encoders))].enc(e.enc(p)))
			}
			for _, e := range pieceEncodings {
				for _, e2 := range pieceEncodings {
					h := len(p) / 2
					texts = append(texts, e.enc(p[:h])+e2.enc(p[h:]), e.enc(p[:h])+" "+e2.enc(p[h:]))
				}
			}
		}
		for _, m := range []func(string) string{
			func(s string) string { return mapText(s, rotN(13), same) },
			func(s string) string { return mapText(s, atbash, shiftN(3)) },
			func(s string) string { return mapText(reverse(s), rotN(5), shiftN(7)) },
		} {
			texts = append(texts, m(c.secret), m(c.token), "say "+m(c.secret)+" now")
		}
		for _, n := range nearSplits(c, r, 200, true) {
			texts = append(texts, n.text)
		}
		for i, text := range texts {
			sur := surroundings[i%len(surroundings)]
			text = sur[0] + text + sur[1]
			checkFacts(t, c, text)
			for _, found := range readers {
				shrink(r, text, tries, found, func(s string) { checkFacts(t, c, s) })
			}
		}
	}
	c := NewCanary()
	for _, s := range fuzzCorpus(t) {
		checkFacts(t, c, s)
		checkFacts(t, c, s+c.secret[:20])
	}
}

// fuzzCorpus returns the strings of the fuzz corpora under testdata.
func fuzzCorpus(t *testing.T) []string {
	files, _ := filepath.Glob("testdata/fuzz/*/*")
	var out []string
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if l := sc.Text(); strings.HasPrefix(l, "string(") && strings.HasSuffix(l, ")") {
				if s, err := strconv.Unquote(l[len("string(") : len(l)-1]); err == nil {
					out = append(out, s)
				}
			}
		}
		f.Close()
	}
	if len(out) == 0 {
		t.Fatal("no fuzz corpus under testdata/fuzz")
	}
	return out
}

// TestCanaryFactsRandom holds In to every reader run on random texts of
// the bytes the readers turn on, and a CanaryCheck's In on a call's texts
// in turn.
func TestCanaryFactsRandom(t *testing.T) {
	c := NewCanary()
	r := rand.New(rand.NewPCG(5, 9))
	alphabet := []string{" ", "\n", ":", ".", "\\", "%", "&", "#", ";", "x", "0", "0x", "=", "+", "/", "-", "_", "é", "⅒", "１", "\U000E0041",
		"\xff", "\xf3", "A", "Z", "q", c.secret[:1], c.secret[1:2], c.secret[2:3], c.secret[:6], c.secret[6:12], c.secret[12:18], c.secret[18:],
		"QldL", "LUNBTkFSWS", "4257", "%41", `\x41`, `\u0041`, "&#65;", "&#x41;", `\101`, "65 ", "MFRGG", "bwk", "canary"}
	n := 20000
	if testing.Short() {
		n = 3000
	}
	for range n {
		var b strings.Builder
		for range r.IntN(40) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		checkFacts(t, c, b.String())
	}
}

// FuzzCanaryFacts holds In to every reader run on any text, with the
// token or a piece of it hidden in one of the red team's encodings (or
// two), shrunk at random against the readers factsOf skips.
func FuzzCanaryFacts(f *testing.F) {
	f.Add("", "", uint8(0), uint8(0), uint8(24), uint64(1))
	f.Add("a\xf3b", "\xff", uint8(3), uint8(11), uint8(0), uint64(2))
	f.Add("&#", "%41%42%43", uint8(33), uint8(20), uint8(12), uint64(3))
	f.Add("0x", "0x", uint8(11), uint8(0x80|12), uint8(40), uint64(4))
	c := NewCanary()
	readers := factsReaders(c)
	f.Fuzz(func(t *testing.T, before, after string, e1, e2, cut uint8, seed uint64) {
		s := fuzzPiece(c, cut, e1, e2)
		text := before + s + after
		checkFacts(t, c, text)
		checkFacts(t, c, before+after)
		r := rand.New(rand.NewPCG(seed, 1))
		shrink(r, text, 40, readers[seed%uint64(len(readers))], func(s string) { checkFacts(t, c, s) })
	})
}

// TestCanaryFactsNamedReferences: HTML's named references spell the
// random part's letters ("&aopf;" is a double-struck "a", which reads as
// "a") with no digit, so that a text of fewer than 2*minCodeEscape digits
// and no long run of base64 bytes still decodes to the canary: the
// decoders are not skipped for text with a '&'.
func TestCanaryFactsNamedReferences(t *testing.T) {
	n := 0
	for _, c := range seededCanaries(9, 40) {
		if countDigits(c.secret) >= 2*minCodeEscape {
			continue
		}
		var b strings.Builder
		b.WriteString("&amp; ")
		for i := 0; i < len(c.secret); i++ {
			if ch := c.secret[i]; isDigit(ch) {
				b.WriteByte(ch)
			} else {
				b.WriteString("&" + string(ch) + "opf;")
			}
		}
		text := b.String()
		if !c.inAllEvery(text, nil) {
			t.Fatalf("every reader run misses the canary in %q", text)
		}
		checkFacts(t, c, text)
		n++
	}
	if n == 0 {
		t.Fatal("no canary with few enough digits")
	}
}

// TestCanaryFactsDecimalCodes: character codes with a byte between them
// that is neither a separator nor base64's ("57!50!...") are no run of
// base64 bytes, squeezed or not, but decimalCodes reads them: the
// decoders are not skipped for text with 2*minCodeEscape digits.
func TestCanaryFactsDecimalCodes(t *testing.T) {
	c := NewCanary()
	text := strings.TrimSuffix(runeEsc(c.secret, "%d!"), "!")
	if !c.inAllEvery(text, nil) {
		t.Fatalf("every reader run misses the canary in %q", text)
	}
	checkFacts(t, c, text)
}

// TestIsSeparator: isSeparator's bits are squeezeSeparators' characters.
func TestIsSeparator(t *testing.T) {
	for c := range 256 {
		if got, want := isSeparator(byte(c)), c < 128 && strings.ContainsRune(" \t\r\n:.,;\"'\\|", rune(c)); got != want {
			t.Errorf("isSeparator(%#x) = %v, want %v", c, got, want)
		}
	}
}
