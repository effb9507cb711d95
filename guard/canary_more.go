package guard

import (
	"encoding/base32"
	"encoding/hex"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// inReassembled looks for the canary in what text holds once the ways of
// spreading an encoding out are undone: base64 or hex broken by spaces,
// line breaks, colons, dots or commas ("42:57:4b...", MIME lines, DNS
// labels), encoded pieces that each hold part of the token (their decoded
// text put together, in order), and the escapes of other languages (octal
// \NNN, \u{X}, \UXXXXXXXX, %uXXXX, decimal character codes).
// segs are decodeAll(text), which In has worked out already; k, if not
// nil, shares decodings between texts.
func (c Canary) inReassembled(text string, segs []Segment, k *CanaryCheck) bool {
	if squeezed := squeezeSeparators(text); squeezed != text {
		// ASCII text squeezed reads as it did to inNormalized (which
		// reads its letters and digits, and the separators are neither).
		if !isPlainASCII(text) && c.inNormalized(squeezed) {
			return true
		}
		if c.inSegments(k.decodeAll(squeezed), k) {
			return true
		}
	}
	// The segments of each encoding put together, in order. An encoding
	// with one segment is that segment, which In has looked in.
	for i, seg := range segs {
		if !firstOfMany(segs, i) {
			continue
		}
		var b strings.Builder
		for _, s := range segs[i:] {
			if s.Encoding == seg.Encoding {
				b.WriteString(s.Text)
			}
		}
		if c.inNormalized(b.String()) {
			return true
		}
	}
	// Hex pieces inside longer runs (a URL's "//4257..." reads as base64).
	if hasRun(text, 16, hexBytes.Get()) { // no piece otherwise
		var joined []byte
		for run := range runs(text, hexBytes.Get(), minHexPiece) {
			if b, err := hex.AppendDecode(joined, []byte(run[:len(run)&^1])); err == nil {
				joined = b
			}
		}
		if c.inNormalized(string(joined)) {
			return true
		}
	}
	for _, s := range otherEscapes(text) {
		if c.inNormalized(s) {
			return true
		}
		if c.inSegments(k.decodeAll(s), k) {
			return true
		}
	}
	return false
}

// firstOfMany reports whether segs[i] is the first of two or more segments
// of its encoding.
func firstOfMany(segs []Segment, i int) bool {
	enc := segs[i].Encoding
	for _, s := range segs[:i] {
		if s.Encoding == enc {
			return false
		}
	}
	for _, s := range segs[i+1:] {
		if s.Encoding == enc {
			return true
		}
	}
	return false
}

// squeezeSeparators removes the characters an encoded run may be broken up
// with, so that the pieces read as one run. Text that is not valid UTF-8
// has each of its bad bytes replaced with U+FFFD, as strings.Map does,
// even when it has no separator: inReassembled then decodes that copy
// again, with a decoding budget of its own, which finds what text's
// decoding may have run out of budget for (TestCanaryBadBytesWithoutSeparators).
// Valid UTF-8 without separators comes back as is.
func squeezeSeparators(text string) string {
	if !utf8.ValidString(text) {
		return strings.Map(func(r rune) rune {
			if r < utf8.RuneSelf && isSeparator(byte(r)) {
				return -1
			}
			return r
		}, text)
	}
	i := 0
	for i < len(text) && !isSeparator(text[i]) {
		i++
	}
	if i == len(text) {
		return text
	}
	// The separators are ASCII, which is never part of another character.
	var b strings.Builder
	b.Grow(len(text) - 1)
	for from := 0; ; {
		b.WriteString(text[from:i])
		for i < len(text) && isSeparator(text[i]) {
			i++
		}
		if i == len(text) {
			return b.String()
		}
		from = i
		for i < len(text) && !isSeparator(text[i]) {
			i++
		}
	}
}

// separators are the bytes isSeparator reports, a bit each: those below
// 64, then those from 64 to 127.
const (
	separatorsLow  = 1<<' ' | 1<<'\t' | 1<<'\r' | 1<<'\n' | 1<<':' | 1<<'.' | 1<<',' | 1<<';' | 1<<'"' | 1<<'\''
	separatorsHigh = 1<<('\\'-64) | 1<<('|'-64)
)

func isSeparator(c byte) bool {
	if c < 64 {
		return separatorsLow>>c&1 != 0
	}
	return c < 128 && separatorsHigh>>(c-64)&1 != 0
}

var (
	octalEscape   = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`\\([0-3]?[0-7]{1,2})`) }}
	braceEscape   = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`\\u\{([0-9A-Fa-f]{1,6})\}`) }}
	longEscape    = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`\\U([0-9A-Fa-f]{8})`) }}
	percentU      = lazy.Value[*regexp.Regexp]{New: func() *regexp.Regexp { return regexp.MustCompile(`%u([0-9A-Fa-f]{4})`) }}
	minCodeEscape = 8
	// The runs of base32 and of hex the scans read (runs), which a
	// regexp found before: [A-Z2-7]{16,}=* and [0-9A-Fa-f]{16,}
	// (FuzzRunsAsRegexps).
	base32Bytes = lazy.Value[*byteSet]{New: func() *byteSet { s := setOf(isBase32Byte); return &s }}
	hexBytes    = lazy.Value[*byteSet]{New: func() *byteSet { s := setOf(isHexByte); return &s }}
	minHexPiece = 16
)

// otherEscapes decodes text written as octal, \u{X}, \UXXXXXXXX or %uXXXX
// escapes, or as a list of decimal character codes, when it has at least
// minCodeEscape of them, and base32 runs.
func otherEscapes(text string) []string {
	var out []string
	if hasRun(text, 16, base32Bytes.Get()) { // no run otherwise (and runs' loop costs more)
		for run := range runs(text, base32Bytes.Get(), 16) {
			// The base32 alphabet has no "=": a run ends before its padding.
			if b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(run[:len(run)/8*8]); err == nil {
				out = append(out, string(b))
			}
		}
	}
	// Each escape starts with a backslash or "%u", and no two of one kind
	// overlap: text with fewer than minCodeEscape of them has fewer
	// escapes, and the regexps, which are most of the cost of a canary
	// check, need not run.
	backslash := strings.Count(text, `\`) >= minCodeEscape
	for _, e := range []struct {
		re   *lazy.Value[*regexp.Regexp]
		base int
		may  bool
	}{
		{&octalEscape, 8, backslash},
		{&braceEscape, 16, backslash},
		{&longEscape, 16, backslash},
		{&percentU, 16, strings.Count(text, "%u") >= minCodeEscape},
	} {
		if !e.may {
			continue
		}
		m := e.re.Get().FindAllStringSubmatch(text, -1)
		if len(m) < minCodeEscape {
			continue
		}
		var b strings.Builder
		for _, g := range m {
			writeCode(&b, g[len(g)-1], e.base)
		}
		out = append(out, b.String())
	}
	if codes := decimalCodes(text); len(codes) >= minCodeEscape {
		var b strings.Builder
		for _, g := range codes {
			writeCode(&b, g, 10)
		}
		out = append(out, b.String())
	}
	return out
}

// writeCode writes the character whose code digits spell in base, if it
// is one.
func writeCode(b *strings.Builder, digits string, base int) {
	if v, err := strconv.ParseUint(digits, base, 32); err == nil && v <= 0x10FFFF {
		b.WriteRune(rune(v))
	}
}

// decimalCodes returns the numbers of two to seven ASCII digits that
// stand as words of their own (what `\b(\d{2,7})\b` finds: a run of
// digits with no letter, digit or '_' on either side), when text has at
// least minCodeEscape of them; else nil, having counted no further.
// FuzzDecimalCodes holds it to the regexp.
func decimalCodes(text string) []string {
	if countDigits(text) < 2*minCodeEscape {
		return nil
	}
	var out []string
	for i := 0; i < len(text); {
		if !isDigit(text[i]) {
			i++
			continue
		}
		j := i + 1
		for j < len(text) && isDigit(text[j]) {
			j++
		}
		if n := j - i; n >= 2 && n <= 7 && (i == 0 || !isWordByte(text[i-1])) && (j == len(text) || !isWordByte(text[j])) {
			out = append(out, text[i:j])
		}
		i = j
	}
	if len(out) < minCodeEscape {
		return nil
	}
	return out
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isWordByte reports whether c is a byte of \w: an ASCII letter or digit,
// or '_'.
func isWordByte(c byte) bool {
	return 'a' <= c|0x20 && c|0x20 <= 'z' || isDigit(c) || c == '_'
}

// hasRun reports whether s has n bytes in a row that are in.
func hasRun(s string, n int, in *byteSet) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		if !in[s[i]] {
			run = 0
			continue
		}
		if run++; run >= n {
			return true
		}
	}
	return false
}

func isHexByte(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isBase32Byte(c byte) bool { return 'A' <= c && c <= 'Z' || '2' <= c && c <= '7' }

// countDigits counts the ASCII digits of s (what \d matches).
func countDigits(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			n++
		}
	}
	return n
}
