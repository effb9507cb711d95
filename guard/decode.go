package guard

import (
	"encoding/base64"
	"encoding/hex"
	"html"
	"iter"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// Bounds of segment decoding, so that hostile input cannot make Score
// decode without end.
const (
	maxDecodeDepth    = 3       // decoded text is searched again, this many levels deep
	maxDecodedBytes   = 1 << 20 // total decoded text per call
	maxSegments       = 256     // decoded segments per call
	minBase64Len      = 16      // shorter runs are words, ids or hashes
	minHexLen         = 16      // hex digits
	minPercentEscapes = 3
)

// Segment is a piece of text found encoded inside another text and
// decoded.
type Segment struct {
	// Encoding is how it was hidden: "base64", "hex", "url", "html"
	// (character references), "unicode" (\uXXXX escapes) or "tags"
	// (Unicode tag characters); nested
	// decodings are joined with "/", e.g. "base64/hex".
	Encoding string
	// Text is the decoded text.
	Text string
}

// DecodeSegments finds base64, hex, percent-encoded, HTML-escaped and
// \u-escaped segments and text spelled in Unicode tag characters, decodes
// those that turn into readable text, and repeats on what it decoded, up to three
// levels deep, 256 segments and 1 MiB of decoded text in all.
func DecodeSegments(text string) []Segment {
	d := decoder{budget: maxDecodedBytes}
	d.walk(text, "", 0)
	return d.out
}

// decodeAll is DecodeSegments keeping decoded text that does not read as
// prose (a token, an id), for the canary search.
func decodeAll(text string) []Segment {
	d := decoder{budget: maxDecodedBytes, all: true}
	d.walk(text, "", 0)
	return d.out
}

type decoder struct {
	out     []Segment
	budget  int
	all     bool   // keep unreadable decoded text too
	scratch []byte // decoded bytes, before they are made a string
	refused int    // segments the bounds kept out
	// shared, if not nil, holds the decodings of runs that other decoders
	// of a CanaryCheck made, to replay, and gets this one's.
	shared *CanaryCheck
}

// unhex is the value of the hex digit c, or 16 when c is not one.
func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 16
}

func (d *decoder) add(enc, prefix, text string, depth int) {
	if len(d.out) >= maxSegments || len(text) > d.budget {
		d.refused++
		return
	}
	if prefix != "" {
		enc = prefix + "/" + enc
	}
	if !d.all && !readable(text) {
		// An encoding of an encoding (base64 of hex) is not readable
		// itself; look inside it without reporting it.
		if depth+1 < maxDecodeDepth && countRuns(text, base64Bytes.Get(), minBase64Len) == 1 {
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

func (d *decoder) walk(text, prefix string, depth int) {
	if t := hiddenTagText(text); len(t) >= 4 {
		d.add("tags", prefix, t, depth)
	}
	if strings.Contains(text, "&#") || strings.Contains(text, "&amp;") {
		if u := html.UnescapeString(text); u != text {
			d.add("html", prefix, u, depth)
		}
	}
	for run := range runs(text, base64Bytes.Get(), minBase64Len) {
		d.decodeRun(run, prefix, depth)
	}
	for _, run := range hexEscapes(text) {
		d.add("hex", prefix, run, depth)
	}
	for _, run := range unicodeEscapes(text) {
		d.add("unicode", prefix, run, depth)
	}
	if strings.Count(text, "%") >= minPercentEscapes {
		for run := range runs(text, urlBytes.Get(), 6) {
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

// decodeRunOnce decodes a run of base64 bytes as base64 or hex (short hex
// as both) and adds what it reads as.
func (d *decoder) decodeRunOnce(run, prefix string, depth int) {
	if isHexRun(run) && len(run) < 2*minHexLen {
		// Short hex may be base64 too; try both.
		if b, ok := d.decodeBase64(run); ok {
			d.add("base64", prefix, string(b), depth)
		}
	}
	if isHexRun(run) {
		var err error
		if d.scratch, err = hex.AppendDecode(d.scratch[:0], []byte(run[:len(run)&^1])); err == nil {
			d.add("hex", prefix, string(d.scratch), depth)
		}
		return
	}
	if b, ok := d.decodeBase64(run); ok {
		d.add("base64", prefix, string(b), depth)
	}
}

// byteSet is a set of bytes, looked up without a call.
type byteSet [256]bool

func setOf(in func(byte) bool) (s byteSet) {
	for c := range s {
		s[c] = in(byte(c))
	}
	return s
}

// The sets are made on first use, not by the package's init, which every
// command runs.
var (
	base64Bytes = lazy.Value[*byteSet]{New: func() *byteSet { s := setOf(isBase64Byte); return &s }}
	urlBytes    = lazy.Value[*byteSet]{New: func() *byteSet { s := setOf(isURLByte); return &s }}
)

// runs yields the maximal runs of bytes of text in the set that are at
// least min bytes long.
func runs(text string, in *byteSet, min int) iter.Seq[string] {
	return func(yield func(string) bool) {
		start := -1
		for i := 0; i <= len(text); i++ {
			if i < len(text) && in[text[i]] {
				if start < 0 {
					start = i
				}
				continue
			}
			if start >= 0 && i-start >= min && !yield(text[start:i]) {
				return
			}
			start = -1
		}
	}
}

// countRuns counts the runs runs yields.
func countRuns(text string, in *byteSet, min int) int {
	n := 0
	for range runs(text, in, min) {
		n++
	}
	return n
}

func isBase64Byte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_' || c == '='
}

func isURLByte(c byte) bool {
	return c > ' ' && c < 0x7f && c != '"' && c != '\'' && c != '<' && c != '>' && c != '`'
}

func isHexRun(s string) bool {
	s = strings.TrimRight(s, "=")
	if len(s) < minHexLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// decodeBase64 is appendBase64 decoding into d.scratch, which the result
// is valid until the next use of.
func (d *decoder) decodeBase64(s string) ([]byte, bool) {
	var ok bool
	d.scratch, ok = appendBase64(d.scratch[:0], s)
	return d.scratch, ok
}

// appendBase64 appends to dst s decoded in the standard or URL alphabet,
// padded or not.
func appendBase64(dst []byte, s string) ([]byte, bool) {
	s = strings.TrimRight(s, "=")
	if i := strings.LastIndexByte(s, '='); i >= 0 {
		s = s[i+1:] // "data=SGVsbG8...": the value after the last "="
	}
	if len(s) < minBase64Len {
		return dst, false
	}
	enc := base64.RawStdEncoding
	// IndexByte, not ContainsAny, which builds a set of the bytes each call.
	if hasByte(s, '-') || hasByte(s, '_') {
		if hasByte(s, '+') || hasByte(s, '/') {
			return dst, false
		}
		enc = base64.RawURLEncoding
	}
	if len(s)%4 == 1 {
		s = s[:len(s)-1]
	}
	b, err := enc.AppendDecode(dst, []byte(s))
	return b, err == nil
}

func hasByte(s string, c byte) bool { return strings.IndexByte(s, c) >= 0 }

// hexEscapes decodes runs of \xNN or 0xNN escapes (at least eight bytes).
func hexEscapes(text string) []string {
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
				if hi, lo := unhex(text[i+2]), unhex(text[i+3]); hi|lo < 16 {
					b = append(b, hi<<4|lo)
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

// minUnicodeEscapes is how many \uXXXX escapes in a row are decoded.
const minUnicodeEscapes = 4

// unicodeEscapes decodes runs of \uXXXX escapes (JSON, JavaScript, Python;
// surrogate pairs joined), at least minUnicodeEscapes in a row.
func unicodeEscapes(text string) []string {
	if strings.Count(text, `\u`) < minUnicodeEscapes {
		return nil
	}
	var out []string
	var b []rune
	flush := func() {
		if len(b) >= minUnicodeEscapes {
			out = append(out, string(b))
		}
		b = b[:0]
	}
	for i := 0; i < len(text); {
		if strings.HasPrefix(text[i:], `\u`) && i+6 <= len(text) {
			if v, err := strconv.ParseUint(text[i+2:i+6], 16, 16); err == nil {
				r := rune(v)
				if n := len(b); n > 0 && utf16.IsSurrogate(b[n-1]) {
					if pair := utf16.DecodeRune(b[n-1], r); pair != unicode.ReplacementChar {
						b[n-1] = pair
						i += 6
						continue
					}
				}
				b = append(b, r)
				i += 6
				continue
			}
		}
		flush()
		i++
	}
	flush()
	return out
}

// readable reports whether decoded bytes look like text a model would
// read: valid UTF-8, mostly letters and spaces, with a few words.
func readable(s string) bool {
	if len(s) < 4 || !utf8.ValidString(s) {
		return false
	}
	if len(s) >= 8 && strings.Trim(s, "0123456789abcdefABCDEF=+/-_") == "" {
		return false
	}
	var letters, spaces, other int
	for _, r := range s {
		switch {
		case unicode.IsLetter(r):
			letters++
		case r == ' ' || r == '\n' || r == '\t':
			spaces++
		case unicode.IsPrint(r):
		default:
			other++
		}
	}
	n := utf8.RuneCountInString(s)
	return other*10 < n && letters*2 >= n && (spaces > 0 || n < 24)
}
