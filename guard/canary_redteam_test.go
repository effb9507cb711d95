package guard

// The canary check as it was before it was rewritten for speed (commits
// 0a0ee45 and d038167), kept as an oracle: whatever it caught, In must
// catch. The functions below are copies of main's (c1a9721), renamed.

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html"
	"math/rand/v2"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func (c Canary) oldIn(text string) bool {
	if c.secret == "" {
		return false
	}
	if strings.Contains(text, c.secret) || strings.Contains(text, c.token) {
		return true
	}
	if c.inNormalized(text) {
		return true
	}
	for _, n := range c.encodedNeedles() {
		if n.in(text) {
			return true
		}
	}
	segs := oldDecodeAll(text)
	for _, seg := range segs {
		if c.inNormalized(seg.Text) {
			return true
		}
	}
	return c.oldInReassembled(text, segs)
}

func (c Canary) oldInReassembled(text string, segs []Segment) bool {
	if squeezed := oldSqueezeSeparators(text); squeezed != text {
		if c.inNormalized(squeezed) {
			return true
		}
		for _, seg := range oldDecodeAll(squeezed) {
			if c.inNormalized(seg.Text) {
				return true
			}
		}
	}
	joined := map[string]*strings.Builder{}
	for _, seg := range segs {
		b := joined[seg.Encoding]
		if b == nil {
			b = &strings.Builder{}
			joined[seg.Encoding] = b
		}
		b.WriteString(seg.Text)
	}
	hexJoined := &strings.Builder{}
	var hexRuns []string
	if hasRun(text, 16, hexBytes.Get()) {
		hexRuns = oldHexPiece.FindAllString(text, -1)
	}
	for _, run := range hexRuns {
		if b, err := hex.DecodeString(run[:len(run)&^1]); err == nil {
			hexJoined.WriteString(string(b))
		}
	}
	joined["hex pieces"] = hexJoined
	for _, b := range joined {
		if c.inNormalized(b.String()) {
			return true
		}
	}
	for _, s := range oldOtherEscapes(text) {
		if c.inNormalized(s) {
			return true
		}
		for _, seg := range oldDecodeAll(s) {
			if c.inNormalized(seg.Text) {
				return true
			}
		}
	}
	return false
}

func oldSqueezeSeparators(text string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\r', '\n', ':', '.', ',', ';', '"', '\'', '\\', '|':
			return -1
		}
		return r
	}, text)
}

func oldDecodeAll(text string) []Segment {
	d := oldDecoder{budget: maxDecodedBytes, all: true}
	d.walk(text, "", 0)
	return d.out
}

func oldDecodeSegments(text string) []Segment {
	d := oldDecoder{budget: maxDecodedBytes}
	d.walk(text, "", 0)
	return d.out
}

type oldDecoder struct {
	out    []Segment
	budget int
	all    bool
}

func (d *oldDecoder) add(enc, prefix, text string, depth int) {
	if len(d.out) >= maxSegments || len(text) > d.budget {
		return
	}
	if prefix != "" {
		enc = prefix + "/" + enc
	}
	if !d.all && !readable(text) {
		if depth+1 < maxDecodeDepth && len(oldRuns(text, isBase64Byte, minBase64Len)) == 1 {
			d.budget -= len(text)
			d.walk(text, enc, depth+1)
		}
		return
	}
	d.budget -= len(text)
	d.out = append(d.out, Segment{Encoding: enc, Text: text})
	if depth+1 < maxDecodeDepth {
		d.walk(text, enc, depth+1)
	}
}

func (d *oldDecoder) walk(text, prefix string, depth int) {
	if t := oldHiddenTagText(text); len(t) >= 4 {
		d.add("tags", prefix, t, depth)
	}
	if strings.Contains(text, "&#") || strings.Contains(text, "&amp;") {
		if u := html.UnescapeString(text); u != text {
			d.add("html", prefix, u, depth)
		}
	}
	for _, run := range oldRuns(text, isBase64Byte, minBase64Len) {
		if isHexRun(run) && len(run) < 2*minHexLen {
			if b, ok := oldDecodeBase64(run); ok {
				d.add("base64", prefix, string(b), depth)
			}
		}
		if isHexRun(run) {
			if b, err := hex.DecodeString(run[:len(run)&^1]); err == nil {
				d.add("hex", prefix, string(b), depth)
			}
			continue
		}
		if b, ok := oldDecodeBase64(run); ok {
			d.add("base64", prefix, string(b), depth)
		}
	}
	for _, run := range oldHexEscapes(text) {
		d.add("hex", prefix, run, depth)
	}
	for _, run := range unicodeEscapes(text) {
		d.add("unicode", prefix, run, depth)
	}
	if strings.Count(text, "%") >= minPercentEscapes {
		for _, run := range oldRuns(text, isURLByte, 6) {
			if strings.Count(run, "%") < minPercentEscapes {
				continue
			}
			if u, err := url.QueryUnescape(strings.ReplaceAll(run, "+", "%2B")); err == nil && u != run {
				d.add("url", prefix, u, depth)
			} else if u, err := url.PathUnescape(run); err == nil && u != run {
				d.add("url", prefix, u, depth)
			}
		}
	}
}

func oldRuns(text string, in func(byte) bool, min int) []string {
	var out []string
	start := -1
	for i := 0; i <= len(text); i++ {
		if i < len(text) && in(text[i]) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 && i-start >= min {
			out = append(out, text[start:i])
		}
		start = -1
	}
	return out
}

func oldDecodeBase64(s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	if i := strings.LastIndexByte(s, '='); i >= 0 {
		s = s[i+1:]
	}
	if len(s) < minBase64Len {
		return nil, false
	}
	enc := base64.RawStdEncoding
	if strings.ContainsAny(s, "-_") {
		if strings.ContainsAny(s, "+/") {
			return nil, false
		}
		enc = base64.RawURLEncoding
	}
	if len(s)%4 == 1 {
		s = s[:len(s)-1]
	}
	b, err := enc.DecodeString(s)
	return b, err == nil
}

func oldHexEscapes(text string) []string {
	var out []string
	for _, pfx := range []string{`\x`, "0x"} {
		if strings.Count(text, pfx) < 8 {
			continue
		}
		var b []byte
		flush := func() {
			if len(b) >= 8 {
				out = append(out, string(b))
			}
			b = b[:0]
		}
		for i := 0; i < len(text); {
			if strings.HasPrefix(text[i:], pfx) && i+4 <= len(text) {
				if v, err := hex.DecodeString(text[i+2 : i+4]); err == nil {
					b = append(b, v[0])
					i += 4
					for i < len(text) && (text[i] == ' ' || text[i] == ',') {
						i++
					}
					continue
				}
			}
			flush()
			i++
		}
		flush()
	}
	return out
}

func oldHiddenTagText(s string) string {
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

// checkSame fails t when the rewritten check differs from the old one on
// text: a verdict the old check reached that the new one misses is a
// leak; decoded segments must also be the same, in the same order.
func checkSame(t testing.TB, c Canary, text string) {
	t.Helper()
	old, got := c.oldIn(text), c.In(text)
	if old && !got {
		t.Fatalf("regression: old In caught the canary in %s, new In misses it", short(text))
	}
	// In also reads words each plain or decoded on its own (inMixed),
	// and the text's ASCII letters and digits turned (inRotated, which
	// reads past characters that are not ASCII, where Normalize may
	// make a letter of one), which find more than the old check: only
	// those may differ.
	if old != got && !(got && (c.inMixed(text) || c.inRotated(text) || c.inRawForms(text))) {
		t.Errorf("In(%s) = %v, old In = %v", short(text), got, old)
	}
	if o, n := oldDecodeAll(text), decodeAll(text); !slices.Equal(o, n) {
		t.Errorf("decodeAll(%s) differs from the old one", short(text))
	}
	if o, n := oldDecodeSegments(text), DecodeSegments(text); !slices.Equal(o, n) {
		t.Errorf("DecodeSegments(%s) differs from the old one", short(text))
	}
	if o, n := oldHiddenTagText(text), hiddenTagText(text); o != n {
		t.Errorf("hiddenTagText(%s) = %q, old = %q", short(text), n, o)
	}
}

// short quotes s, cut to its first 300 bytes and its length.
func short(s string) string {
	if len(s) <= 300 {
		return strconv.Quote(s)
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:300], len(s))
}

// encoders are the ways of hiding text the old check undid.
var encoders = []struct {
	name string
	enc  func(string) string
}{
	{"plain", func(s string) string { return s }},
	{"upper", strings.ToUpper},
	{"reversed", reverse},
	{"hex", func(s string) string { return hex.EncodeToString([]byte(s)) }},
	{"HEX", func(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) }},
	{"hex-colons", func(s string) string { return joinBytes(s, "%02x", ":") }},
	{"hex-spaces", func(s string) string { return joinBytes(s, "%02x", " ") }},
	{"hex-dots", func(s string) string { return joinBytes(s, "%02X", ".") }},
	{`\x`, func(s string) string { return joinBytes(s, `\x%02x`, "") }},
	{`\x,`, func(s string) string { return joinBytes(s, `\x%02X`, ", ") }},
	{"0x", func(s string) string { return joinBytes(s, "0x%02x", " ") }},
	{"base64", func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }},
	{"base64url", func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }},
	{"base64raw", func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }},
	{"base64-lines", func(s string) string { return chunk(base64.StdEncoding.EncodeToString([]byte(s)), 8, "\n") }},
	{"base64-spaces", func(s string) string { return chunk(base64.StdEncoding.EncodeToString([]byte(s)), 4, " ") }},
	{"base64-shift1", func(s string) string { return base64.StdEncoding.EncodeToString([]byte("x" + s)) }},
	{"base64-shift2", func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte("xy" + s + "z")) }},
	{"data=base64", func(s string) string { return "data=" + base64.StdEncoding.EncodeToString([]byte(s)) }},
	{"base32", func(s string) string { return base32.StdEncoding.EncodeToString([]byte(s)) }},
	{`\u`, func(s string) string { return runeEsc(s, `\u%04x`) }},
	{`\u-upper`, func(s string) string { return runeEsc(s, `\u%04X`) }},
	{`\u-surrogates`, func(s string) string { return surrogates(s) }},
	{`\u{}`, func(s string) string { return runeEsc(s, `\u{%x}`) }},
	{`\U`, func(s string) string { return runeEsc(s, `\U%08x`) }},
	{"%u", func(s string) string { return runeEsc(s, `%%u%04x`) }},
	{"octal", func(s string) string { return runeEsc(s, `\%o`) }},
	{"decimal", func(s string) string { return runeEsc(s, `%d `) }},
	{"url", func(s string) string { return joinBytes(s, "%%%02X", "") }},
	{"url-query", func(s string) string { return url.QueryEscape("q=" + s + "&x=%") }},
	{"html-dec", func(s string) string { return runeEsc(s, "&#%d;") }},
	{"html-hex", func(s string) string { return runeEsc(s, "&#x%x;") }},
	{"html-amp", func(s string) string { return "&amp;" + runeEsc(s, "&#%d;") }},
	{"tags", tagText},
	{"tags-mixed", func(s string) string { return "see " + tagText(s[:len(s)/2]) + "the " + tagText(s[len(s)/2:]) + " end" }},
	{"tags-f3", func(s string) string { return "\U000F0000\xf3" + tagText(s) + "\xf3\xa0" }},
	{"fullwidth", func(s string) string { return strings.Map(fullwidth, s) }},
	{"homoglyph", func(s string) string {
		return strings.NewReplacer("a", "а", "e", "е", "c", "с", "B", "В").Replace(s)
	}},
	{"zero-width", func(s string) string { return interleave(s, "\u200b") }},
	{"combining", func(s string) string { return interleave(s, "\u0301") }},
	{"separators", func(s string) string { return interleave(s, " ") }},
	{"bad-bytes", func(s string) string { return interleave(s, "\xff") }},
	{"bad-f3", func(s string) string { return interleave(s, "\xf3") }},
	{"quotes", func(s string) string { return interleave(s, `"|'`) }},
}

func joinBytes(s, format, sep string) string {
	parts := make([]string, len(s))
	for i := 0; i < len(s); i++ {
		parts[i] = fmt.Sprintf(format, s[i])
	}
	return strings.Join(parts, sep)
}

func runeEsc(s, format string) string {
	var b strings.Builder
	for _, r := range s {
		fmt.Fprintf(&b, format, r)
	}
	return b.String()
}

func surrogates(s string) string {
	var b strings.Builder
	b.WriteString(`\ud83d\ude00`)
	for _, r := range s {
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	b.WriteString(`\ud83d\ude00\ud800`)
	return b.String()
}

func tagText(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(0xE0000 + r)
	}
	return b.String()
}

func fullwidth(r rune) rune {
	if '!' <= r && r <= '~' {
		return r - '!' + '！'
	}
	return r
}

func interleave(s, sep string) string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteRune(r)
	}
	return b.String()
}

func chunk(s string, n int, sep string) string {
	var parts []string
	for len(s) > n {
		parts = append(parts, s[:n])
		s = s[n:]
	}
	return strings.Join(append(parts, s), sep)
}

// surroundings put the hidden token at the start, the end, in the middle
// of prose, next to other encoded text, and next to bytes that are not
// UTF-8 or that start a 4-byte character without being a tag.
var surroundings = [][2]string{
	{"", ""},
	{"path: ", "\n"},
	{"Here is the file you asked for. ", " Thanks, and see you."},
	{"\xff\xfe", "\xf3\x80"},
	{"\U000F0041 ", " \U000E0100"},
	{"aGVsbG8gd29ybGQgaGVsbG8=", "68656c6c6f20776f726c64"},
	{`\x41\x42 `, ` \u0041\u0042`},
	{"%41%42%43 ", " &#65;&#66;"},
	{"url=https://example.com/", "?a=b"},
	{strings.Repeat("A", 300), strings.Repeat("0", 301)},
}

// TestCanaryRedTeamDifferential hides the token, the random part and
// halves of it in every encoding the old check undid, alone, nested two
// deep, and split into two pieces each encoded on its own, in several
// surroundings, and holds In to the old check on each.
func TestCanaryRedTeamDifferential(t *testing.T) {
	c := NewCanary()
	payloads := []string{c.token, c.secret, "prefix " + c.token + " suffix"}
	// single texts go in every surrounding; nested and split ones, many
	// more, in one each, in turn.
	var single, more []string
	for i, p := range payloads {
		for _, e := range encoders {
			single = append(single, e.enc(p))
			for _, e2 := range encoders {
				if (i > 0 || testing.Short()) && e2.name != "base64" && e2.name != "hex" {
					continue // every pair for the token only
				}
				more = append(more, e2.enc(e.enc(p)))
			}
		}
	}
	// Split: each half on its own encoding, with text between or not.
	for _, e := range encoders {
		for _, e2 := range encoders {
			for _, cut := range []int{5, len(c.token) / 2} {
				a, b := c.token[:cut], c.token[cut:]
				more = append(more, e.enc(a)+" and "+e2.enc(b), e.enc(a)+e2.enc(b))
			}
		}
	}
	n, caught := 0, 0
	check := func(text string) {
		checkSame(t, c, text)
		n++
		if c.oldIn(text) {
			caught++
		}
	}
	for _, s := range single {
		for _, sur := range surroundings {
			check(sur[0] + s + sur[1])
		}
	}
	for i, s := range more {
		sur := surroundings[i%len(surroundings)]
		check(sur[0] + s + sur[1])
	}
	t.Logf("%d texts, the old check caught %d", n, caught)
}

// TestCanaryRedTeamRandom mutates hidden tokens at random: bytes dropped,
// duplicated, replaced with separators, 0xF3, invalid UTF-8 or tag
// characters, so that the verdicts near the edge of what is caught are
// compared too.
func TestCanaryRedTeamRandom(t *testing.T) {
	c := NewCanary()
	rng := rand.New(rand.NewPCG(1, 2))
	iters := 5000
	if testing.Short() {
		iters = 1000
	}
	inserts := []string{" ", ":", "\n", "\xf3", "\xf3\xa0", "\xf3\xa0\x81", "\xff", "\U000E0041", "\U000F0000", "\\", `\x`, `\u`, "%", "&#", "=", "-", "_", "/", "+", "\u200b", "\u0301", "é"}
	for range iters {
		p := c.token
		if rng.IntN(2) == 0 {
			p = c.secret
		}
		e := encoders[rng.IntN(len(encoders))]
		s := e.enc(p)
		if rng.IntN(3) == 0 {
			s = encoders[rng.IntN(len(encoders))].enc(s)
		}
		b := []byte(s)
		for range rng.IntN(4) {
			if len(b) == 0 {
				break
			}
			i := rng.IntN(len(b))
			switch rng.IntN(4) {
			case 0:
				b = slices.Delete(b, i, i+1)
			case 1:
				b = slices.Insert(b, i, b[i])
			default:
				b = slices.Insert(b, i, []byte(inserts[rng.IntN(len(inserts))])...)
			}
		}
		sur := surroundings[rng.IntN(len(surroundings))]
		checkSame(t, c, sur[0]+string(b)+sur[1])
		if t.Failed() {
			return
		}
	}
}

// FuzzCanaryOldNew holds In and the decoders to the old check on any text,
// with the token or a piece of it hidden in one of the old check's
// encodings.
func FuzzCanaryOldNew(f *testing.F) {
	f.Add("", "", uint8(0), uint8(0), uint8(24))
	f.Add("a\xf3b", "\xff", uint8(3), uint8(11), uint8(0))
	f.Add("&#", "%41%42%43", uint8(33), uint8(20), uint8(12))
	f.Add(`\x41\x42\x43\x44\x45\x46\x47\x48 `, " \xf3\xa0\x81", uint8(40), uint8(34), uint8(30))
	c := NewCanary()
	f.Fuzz(func(t *testing.T, before, after string, e1, e2, cut uint8) {
		p := c.token
		if int(cut) < len(p) {
			p = p[:cut] // a piece only: what the old check missed, the new one may too
		}
		s := encoders[int(e1)%len(encoders)].enc(p)
		if e2&0x80 != 0 {
			s = encoders[int(e2)%len(encoders)].enc(s)
		}
		checkSame(t, c, before+s+after)
		checkSame(t, c, before+after)
	})
}

// TestCanaryRedTeamLong: text past the decoders' budget (1 MiB decoded)
// and segment limit, the token hidden after the junk that spends them.
func TestCanaryRedTeamLong(t *testing.T) {
	c := NewCanary()
	b64 := base64.StdEncoding.EncodeToString([]byte(c.token))
	junk := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("junk text, ", 1<<16)))
	pct := joinBytes(c.token, "%%%02X", "")
	many := strings.Repeat("aGVsbG8gd29ybGQgaGVsbG8= ", maxSegments+10)
	for _, text := range []string{
		junk + " " + b64,
		junk + " " + junk + " " + b64,
		junk + " " + pct,
		junk + " " + junk + " " + pct,
		many + pct,
		many + b64,
		many + hex.EncodeToString([]byte(c.token[:12])) + " " + hex.EncodeToString([]byte(c.token[12:])),
		strings.Repeat("\xf3\xa0", 5000) + tagText(c.token),
		strings.Repeat("\xf3", 1<<16) + joinBytes(c.token, `\x%02x`, ""),
	} {
		checkSame(t, c, text)
		t.Logf("%d bytes: caught %v", len(text), c.In(text))
	}
}

// TestCanaryBadBytesWithoutSeparators: text that is not UTF-8 and has no
// separator. squeezeSeparators used to give it back with its bad bytes
// replaced, and inReassembled decoded that copy again, with a fresh budget
// of its own. The copy's bad bytes are three bytes each (U+FFFD), so an
// HTML-escaped copy of the whole text, which takes most of the budget in
// text, does not fit in the copy's: there, the budget is left for the
// encodings inside, nested three deep, which text's decoding has no room
// left for once it has spent it on the HTML copy and the same encodings
// one level down. The rewrite gave such text back as is and missed the
// token the old check found (FuzzCanaryOldNew would only find this with
// a megabyte of input).
func TestCanaryBadBytesWithoutSeparators(t *testing.T) {
	c := NewCanary()
	// The token as hex, in base64, in base64: three levels of decoding.
	p := base64.StdEncoding.EncodeToString([]byte(base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString([]byte(c.token))))))
	// 120,000 bytes of 0xFF in base64 ("////"), which decode to nothing
	// more; "&#65" makes the whole text an HTML segment; "!" and 0xFF are
	// no separators.
	junk := strings.Repeat("////", 40000)
	caught := 0
	for _, bad := range []int{768150, 768250, 800000} {
		text := strings.Repeat("\xff", bad) + "&#65!" + junk + "!" + p
		if squeezeSeparators(text) == text {
			t.Errorf("squeezeSeparators gave back text with %d bad bytes as is", bad)
		}
		if c.oldIn(text) {
			caught++
		}
		checkSame(t, c, text)
	}
	if caught == 0 {
		t.Fatal("the old check caught none: the test no longer exercises the budget")
	}
}

// FuzzSqueezeIsMap: squeezeSeparators is the old strings.Map on any text,
// valid UTF-8 or not, separators or not.
func FuzzSqueezeIsMap(f *testing.F) {
	f.Add("a\xffb")
	f.Add("a:b\xfe")
	f.Add("plain")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := squeezeSeparators(s), oldSqueezeSeparators(s); got != want {
			t.Errorf("squeezeSeparators(%q) = %q, want %q", s, got, want)
		}
	})
}
