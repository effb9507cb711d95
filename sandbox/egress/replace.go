package egress

// This file is a streaming replacer: it rewrites needles in a byte stream
// (placeholders into values on the way out, values into placeholders on the
// way back) without holding more than the longest needle in memory.

import (
	"bytes"
	"io"
	"slices"
)

// rule replaces one needle. When refuse is set, meeting the needle is an
// error instead (a placeholder of a secret not bound to the host).
type rule struct {
	needle  string
	repl    string
	secret  string // the secret's name, for reports
	refuse  bool
	encoded bool // the needle is a percent-encoded form, and so is repl
	// escaped makes the needle match also with any of its bytes escaped
	// as percent (%2f, %2F; '+' for a space) or JSON (\u002b, \u002B,
	// \/, \", \\) escapes, in any mix: servers escape a value they echo
	// in many spellings, and masking must find it in each.
	escaped bool
	// wrapped (with escaped) lets a line break (CR, LF, CRLF, or their
	// JSON escapes) stand between any two bytes of the needle: encoders
	// break base64 into lines (MIME, PEM, GitHub's contents API), and the
	// sandbox chooses where the value falls.
	wrapped bool
}

// lineBreaks are what a wrapped rule skips between two bytes, longest first.
var lineBreaks = []string{`\r\n`, "\r\n", `\n`, `\r`, "\n", "\r"}

// maxLineBreak is the longest of lineBreaks.
const maxLineBreak = 4

// maxEscape is the longest escape of one byte a rule with escaped matches
// (\u00XX).
const maxEscape = 6

// matchLen is the length of the longest match of ru at the start of b, or
// -1 when there is none there.
func (ru *rule) matchLen(b []byte) int {
	if !ru.escaped {
		if bytes.HasPrefix(b, []byte(ru.needle)) {
			return len(ru.needle)
		}
		return -1
	}
	// The offsets in b at which a match of the needle's first i bytes can
	// end; a byte can be matched in several spellings ('%' as itself or
	// %25), so there may be more than one.
	ends := []int{0}
	var next []int
	for i := 0; i < len(ru.needle) && len(ends) > 0; i++ {
		if ru.wrapped && i > 0 {
			for _, at := range ends {
				for _, lb := range lineBreaks {
					if bytes.HasPrefix(b[at:], []byte(lb)) && !slices.Contains(ends, at+len(lb)) {
						ends = append(ends, at+len(lb))
						break
					}
				}
			}
		}
		next = next[:0]
		for _, at := range ends {
			for _, n := range escapedByte(b[at:], ru.needle[i]) {
				if n > 0 && !slices.Contains(next, at+n) {
					next = append(next, at+n)
				}
			}
		}
		ends, next = next, ends
	}
	if len(ends) == 0 {
		return -1
	}
	return slices.Max(ends)
}

// escapedByte returns the lengths of the spellings of c that b starts with
// (0 for those it does not).
func escapedByte(b []byte, c byte) [3]int {
	var out [3]int
	if len(b) == 0 {
		return out
	}
	if b[0] == c {
		out[0] = 1
	}
	switch {
	case b[0] == '+' && c == ' ':
		out[1] = 1
	case b[0] == '%' && len(b) >= 3 && hexIs(b[1:3], c):
		out[1] = 3
	case b[0] == '\\' && len(b) >= 2 && b[1] == c && (c == '/' || c == '"' || c == '\\'):
		out[1] = 2
	}
	if b[0] == '\\' && len(b) >= 6 && b[1] == 'u' && c < 0x80 && hexIs(b[2:4], 0) && hexIs(b[4:6], c) {
		out[2] = 6
	}
	return out
}

// hexIs reports whether the two hex digits h (either case) spell c.
func hexIs(h []byte, c byte) bool {
	const digits = "0123456789abcdef"
	return h[0]|0x20 == digits[c>>4] && h[1]|0x20 == digits[c&15]
}

// index is the first offset in b at which ru matches, and the match's
// length; -1 when there is none.
func (ru *rule) index(b []byte) (at, n int) {
	if !ru.escaped {
		return bytes.Index(b, []byte(ru.needle)), len(ru.needle)
	}
	c := ru.needle[0]
	for i := range b {
		if d := b[i]; d != c && d != '%' && d != '\\' && d != '+' {
			continue
		}
		if n := ru.matchLen(b[i:]); n > 0 {
			return i, n
		}
	}
	return -1, 0
}

// replaceReader applies rules to what it reads from src. The earliest match
// wins; of matches at one place, the longest.
type replaceReader struct {
	src   io.Reader
	rules []rule
	hold  int    // bytes kept back: the longest needle less one
	buf   []byte // read buffer
	in    []byte
	out   []byte
	eof   bool
	err   error
	// onHit is told of each match; a non-nil error stops the stream with it.
	onHit func(rule) error
}

func newReplaceReader(src io.Reader, rules []rule, onHit func(rule) error) *replaceReader {
	r := &replaceReader{src: src, rules: rules, onHit: onHit}
	for _, ru := range rules {
		if ru.wrapped {
			r.hold = max(r.hold, len(ru.needle)*(maxEscape+maxLineBreak)-1)
		} else if ru.escaped {
			r.hold = max(r.hold, len(ru.needle)*maxEscape-1)
		} else {
			r.hold = max(r.hold, len(ru.needle)-1)
		}
	}
	return r
}

func (r *replaceReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.eof && len(r.in) == 0 {
			return 0, io.EOF
		}
		if !r.eof {
			if r.buf == nil {
				r.buf = make([]byte, 32<<10)
			}
			n, err := r.src.Read(r.buf)
			r.in = append(r.in, r.buf[:n]...)
			if err == io.EOF {
				r.eof = true
			} else if err != nil {
				r.err = err
			}
		}
		if err := r.process(r.eof || r.err != nil); err != nil {
			r.err = err
			r.out = nil
		}
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// process moves what is settled from in to out; final flushes everything.
func (r *replaceReader) process(final bool) error {
	for {
		at, which, size := -1, -1, 0
		for i := range r.rules {
			ru := &r.rules[i]
			if ru.needle == "" {
				continue
			}
			j, n := ru.index(r.in)
			if j >= 0 && (at < 0 || j < at || j == at && n > size) {
				at, which, size = j, i, n
			}
		}
		if at < 0 {
			break
		}
		ru := r.rules[which]
		if r.onHit != nil {
			if err := r.onHit(ru); err != nil {
				return err
			}
		}
		r.out = append(r.out, r.in[:at]...)
		r.out = append(r.out, ru.repl...)
		r.in = r.in[at+size:]
	}
	keep := r.hold
	if final {
		keep = 0
	}
	if n := len(r.in) - keep; n > 0 {
		r.out = append(r.out, r.in[:n]...)
		r.in = append([]byte(nil), r.in[n:]...)
	}
	return nil
}

// replaceString applies rules to s at once.
func replaceString(s string, rules []rule, onHit func(rule) error) (string, error) {
	if len(rules) == 0 {
		return s, nil
	}
	b, err := io.ReadAll(newReplaceReader(bytes.NewReader([]byte(s)), rules, onHit))
	return string(b), err
}
