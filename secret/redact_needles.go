package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Registered values and their encodings ("needles") are found with an index
// by their first four bytes: a 16 KiB Bloom filter over those four bytes
// rejects almost every text position with one load, a multiply and a bit
// test, and the few positions that pass are looked up in a map whose buckets
// list the needles sharing those four bytes, longest first. Every needle is
// at least minNeedle bytes long, so four bytes always fit.

const (
	minNeedle = 6        // shortest needle: raw values and encoded fragments
	bloomBits = 17       // the filter has 1<<bloomBits bits
	mergeCap  = 4 << 10  // overlapping matches are merged into one mask up to this size
	b64Ext    = uint8(1) // needle: absorb one trailing base64 character and padding
)

type needle struct {
	text  string
	label string
	flags uint8
}

type needleSet struct {
	bloom  [1 << (bloomBits - 6)]uint64
	table  map[uint32][]needle
	maxLen int
}

// hold is how many bytes at the end of a text that may go on a scan
// leaves open, whatever they are: a needle starting before them ends
// within the text, also with line breaks in it (see wrapHold: its room
// covers the base64 character it may absorb), and so does the padding
// after it (b64Ext: up to 2 more bytes).
// Holding back only the bytes that could start a needle would tell
// whoever watches the text as it comes whether its end starts a secret:
// the value, a byte at a time.
func (ns *needleSet) hold() int { return wrapHold(ns.maxLen) + 2 }

var emptyNeedles = &needleSet{}

func (ns *needleSet) empty() bool { return len(ns.table) == 0 }

func bloomHash(k uint32) uint32 { return (k * 0x9E3779B1) >> (32 - bloomBits) }

// buildNeedles indexes every encoding of every value. When two values share
// an encoding, the name that sorts first labels it.
func buildNeedles(values map[string]string) *needleSet {
	if len(values) == 0 {
		return emptyNeedles
	}
	ns := &needleSet{table: make(map[uint32][]needle)}
	seen := make(map[string]bool)
	for _, label := range sortedKeys(values) {
		for _, nd := range needlesFor(label, values[label]) {
			if seen[nd.text] {
				continue
			}
			seen[nd.text] = true
			k := binary.LittleEndian.Uint32([]byte(nd.text[:4]))
			h := bloomHash(k)
			ns.bloom[h>>6] |= 1 << (h & 63)
			ns.table[k] = append(ns.table[k], nd)
			ns.maxLen = max(ns.maxLen, len(nd.text))
		}
	}
	for _, b := range ns.table {
		slices.SortStableFunc(b, func(x, y needle) int { return len(y.text) - len(x.text) })
	}
	return ns
}

// needlesFor lists the forms in which value is masked.
func needlesFor(label, value string) []needle {
	var out []needle
	add := func(s string, flags uint8) {
		if len(s) >= minNeedle {
			out = append(out, needle{s, label, flags})
		}
	}
	add(value, 0)
	h := hex.EncodeToString([]byte(value))
	add(h, wrapOK)
	add(strings.ToUpper(h), wrapOK)
	escaped := []string{value}
	for _, e := range []string{url.QueryEscape(value), url.PathEscape(value), uriComponent(value),
		rfc3986(value, "/"), rfc3986(value, ""), // Python's urllib.parse.quote, with its default safe="/" and with safe=""
	} {
		if !slices.Contains(escaped, e) {
			escaped = append(escaped, e)
			add(e, 0)
			add(lowerPercent(e), 0)
		}
	}
	for _, e := range []string{jsonEscape(value, true), jsonEscape(value, false), goEscape(value),
		jsonASCII(value, "\"&'+<>`", true), // .NET's System.Text.Json
		jsonASCII(value, "", false),        // Python's json.dumps, Java's and others' ASCII output
	} {
		if e != value {
			add(e, 0)
		}
	}
	// base64: the characters that depend only on the value's bytes, for
	// each alignment of the value within 3-byte groups. At alignment 1 the
	// character that mixes the byte before with the value's first 4 bits is
	// kept, in its 4 possible forms; at alignment 2 the shared character
	// carries only 2 bits of the value and is left out.
	v := []byte(value)
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		for a, prefixes := range [][][]byte{{nil}, {{0}, {1}, {2}, {3}}, {{0, 0}}} {
			lead := [...]int{0, 1, 3}[a]
			bits := (a + len(v)) * 8
			flags := wrapOK
			if bits%6 != 0 {
				flags |= b64Ext
			}
			for _, p := range prefixes {
				s := enc.EncodeToString(append(slices.Clip(p), v...))
				add(s[lead:bits/6], flags)
			}
		}
	}
	return out
}

func lowerPercent(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1] = lowerHex(b[i+1])
			b[i+2] = lowerHex(b[i+2])
			i += 2
		}
	}
	return string(b)
}

// uriComponent escapes s as JavaScript's encodeURIComponent does: every
// byte but letters, digits and -_.!~*'() as %XX.
func uriComponent(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// rfc3986 escapes s as RFC 3986 percent-encoding does with the
// characters in keep left as they are: every byte but letters, digits,
// -._~ and keep as %XX (Python's urllib.parse.quote, curl's and many
// others' URL encoders).
func rfc3986(s, keep string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~"+keep, c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// jsonASCII escapes s as the body of a JSON string the way encoders that
// write only ASCII do: the backslash as \\, the usual control characters
// short (\n), and the characters in esc, the other control characters and
// all beyond ASCII as \uXXXX (UTF-16), in upper- or lower-case hex.
func jsonASCII(s, esc string, upper bool) string {
	format := `\u%04x`
	if upper {
		format = `\u%04X`
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '"' && !strings.ContainsRune(esc, r):
			b.WriteString(`\"`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r >= 0x7f || strings.ContainsRune(esc, r):
			if r > 0xffff {
				r -= 0x10000
				fmt.Fprintf(&b, format+format, 0xd800+r>>10, 0xdc00+r&0x3ff)
				continue
			}
			fmt.Fprintf(&b, format, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func lowerHex(c byte) byte {
	if 'A' <= c && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

func jsonEscape(s string, html bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(html)
	if enc.Encode(s) != nil {
		return s
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	return string(b[1 : len(b)-1])
}

func goEscape(s string) string {
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// scan masks needles in t[start:], t[:start] being text already handled,
// of which t[from:start] was passed on undecided (Release): a needle that
// starts there and ends past start is masked from start on, once all of
// them are decided (no more is passed on before, which the hold would not
// let pass anyway).
// When eof is false it stops before the last hold() bytes of t, whatever
// they are (or past a match that reaches into them), or, rarely, at a match
// whose extent depends on bytes not yet in t (another needle overlapping its
// end), and returns that position as stop; otherwise it decides every
// position as if t ended the text, and stop is len(t). It appends to dst
// the output for t[start:stop] only if it masked something (changed);
// otherwise dst is returned as it came. It never writes to t.
//
// At each position the longest needle starting there wins; needles that
// start inside a match and reach past its end extend it, so overlapping
// secrets are masked as one.
func (ns *needleSet) scan(dst, t []byte, from, start int, eof bool) (out []byte, stop int, changed bool) {
	n := len(t)
	if from < start {
		if !eof && n-ns.hold() < start {
			return dst, start, false
		}
		end, label := start, ""
		for q := from; q < start && q+4 <= n; q++ {
			h := bloomHash(binary.LittleEndian.Uint32(t[q:]))
			if ns.bloom[h>>6]&(1<<(h&63)) == 0 {
				continue
			}
			if e, l, _ := ns.matchAt(t, q, true); e > end {
				end, label = e, l
			}
		}
		for _, w := range ns.wrapped(t, from, start) {
			if w.end > end {
				end, label = w.end, w.label
			}
		}
		if end > start {
			dst = slices.Grow(dst, n-start+64)
			dst = appendMask(dst, label)
			changed = true
			start = end
		}
	}
	// Needles are looked for at positions before lim; every one starting
	// there ends within t, so what is passed on depends on how long the
	// text is, not on whether its end could start a secret.
	lim := n
	if !eof {
		lim = max(start, n-ns.hold())
	}
	last, i := start, start
	// Needles broken into lines, found first; each is taken when the scan
	// reaches its start, unless a match before it covered that.
	wm := ns.wrapped(t, start, lim)
	for {
		for len(wm) > 0 && wm[0].start < i {
			wm = wm[1:]
		}
		next := lim
		if len(wm) > 0 {
			next = wm[0].start
		}
		for i < next && i+4 <= n {
			h := bloomHash(binary.LittleEndian.Uint32(t[i:]))
			if ns.bloom[h>>6]&(1<<(h&63)) != 0 {
				break
			}
			i++
		}
		if i >= lim || i+4 > n {
			stop = max(i, lim)
			break
		}
		end, label, need := ns.matchAt(t, i, eof)
		if need {
			stop = i
			break
		}
		if len(wm) > 0 && wm[0].start == i && wm[0].end > end {
			end, label = wm[0].end, wm[0].label
		}
		if end < 0 {
			i++
			continue
		}
		for j := i + 1; j < end && end-i < mergeCap; j++ {
			if j+4 > n {
				if !eof {
					need = true
				}
				break
			}
			h := bloomHash(binary.LittleEndian.Uint32(t[j:]))
			if ns.bloom[h>>6]&(1<<(h&63)) == 0 {
				continue
			}
			e, _, nd := ns.matchAt(t, j, eof)
			if nd {
				need = true
				break
			}
			end = max(end, e)
		}
		for _, w := range wm {
			if w.start >= end {
				break
			}
			end = max(end, w.end) // a needle across lines overlaps this one
		}
		if need {
			stop = i
			break
		}
		if !changed {
			dst = slices.Grow(dst, n-start+64)
		}
		dst = append(dst, t[last:i]...)
		dst = appendMask(dst, label)
		changed = true
		last, i = end, end
	}
	if changed {
		dst = append(dst, t[last:stop]...)
	}
	return dst, stop, changed
}

// matchAt returns the end of the longest needle at t[i:] (-1 for none) and
// its label, or need when that depends on bytes past the end of t.
// It requires i+4 <= len(t).
func (ns *needleSet) matchAt(t []byte, i int, eof bool) (end int, label string, need bool) {
	rem := len(t) - i
	for _, nd := range ns.table[binary.LittleEndian.Uint32(t[i:])] {
		l := len(nd.text)
		if l > rem {
			if !eof && string(t[i:]) == nd.text[:rem] {
				return -1, "", true
			}
			continue
		}
		if string(t[i:i+l]) != nd.text {
			continue
		}
		end = i + l
		if nd.flags&b64Ext != 0 {
			if end, need = extendBase64(t, end, eof); need {
				return -1, "", true
			}
		}
		return end, nd.label, false
	}
	return -1, "", false
}

// extendBase64 extends a base64 fragment that ends inside a 3-byte group
// over the character it shares with the next byte and over padding.
func extendBase64(t []byte, end int, eof bool) (int, bool) {
	if end == len(t) {
		return end, !eof
	}
	if !b64Char[t[end]] {
		return end, false
	}
	end++
	for range 2 {
		if end == len(t) {
			return end, !eof
		}
		if t[end] != '=' {
			break
		}
		end++
	}
	return end, false
}
