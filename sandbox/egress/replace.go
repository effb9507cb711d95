package egress

// This file is a streaming replacer: it rewrites needles in a byte stream
// (placeholders into values on the way out, values into placeholders on the
// way back) without holding more than the longest needle in memory.

import (
	"bytes"
	"io"
	"strings"
)

// rule replaces one needle. When refuse is set, meeting the needle is an
// error instead (a placeholder of a secret not bound to the host).
type rule struct {
	needle  string
	repl    string
	secret  string // the secret's name, for reports
	refuse  bool
	why     string // for a refusing rule: why the placeholder may not go there
	encoded bool   // the needle is a percent-encoded form, and so is repl
	// escaped makes the needle match also with any of its bytes escaped
	// as percent (%2f, %2F; '+' for a space), JSON (\u002b, \u002B,
	// \/, \", \\) or HTML/XML (&#43;, &#x2b;, &amp;) escapes, in any
	// mix, and with line breaks (CR, LF, or their JSON escapes) between
	// its bytes: servers escape a value they echo in many spellings and
	// break base64 into lines (MIME, PEM, GitHub's contents API), and
	// masking must find it in each. It
	// matches in any case of ASCII letters too: a server may echo a value
	// in capitals (an error message), and the capitals give it away.
	escaped bool
}

// maxSpelling is the longest spelling of one byte of an escaped rule's
// needle: an escaped line break and a character reference (&#x0000;).
const maxSpelling = 4 + maxCharRef

// decoded is a view of a text with escapes decoded and line breaks left
// out, in which escaped rules are looked for: text[start[j]:end[j]] is
// where byte j of the view came from.
type decoded struct {
	text       []byte
	start, end []int32
	// escapes tells that an escape was decoded (or an escaped line break
	// left out): else a needle as written, less its line breaks and with
	// '+' for a space, is in the view wherever it is in the text.
	escapes bool
}

// decode makes d the view of b. The view has '+' for a space, as the
// needles looked for in it do (a space is '+' in a query), and ASCII
// letters in lower case, as those needles are.
func (d *decoded) decode(b []byte) {
	d.text, d.start, d.end, d.escapes = d.text[:0], d.start[:0], d.end[:0], false
	for i := 0; i < len(b); {
		c, n := b[i], 1
		switch {
		case c == '\r' || c == '\n':
			i++
			continue
		case c == '\\' && i+1 < len(b) && (b[i+1] == 'n' || b[i+1] == 'r'):
			i += 2
			d.escapes = true
			continue
		case c == '%' && i+2 < len(b) && isHex(b[i+1]) && isHex(b[i+2]):
			c, n = unhex(b[i+1])<<4|unhex(b[i+2]), 3
		case c == '\\' && i+5 < len(b) && b[i+1] == 'u' && b[i+2] == '0' && b[i+3] == '0' && isHex(b[i+4]) && isHex(b[i+5]) && unhex(b[i+4]) < 8:
			c, n = unhex(b[i+4])<<4|unhex(b[i+5]), 6
		case c == '\\' && i+1 < len(b) && (b[i+1] == '/' || b[i+1] == '"' || b[i+1] == '\\'):
			c, n = b[i+1], 2
		case c == '&':
			if e, k := charRef(b[i:]); k > 0 {
				c, n = e, k
			}
		}
		if c == ' ' {
			c = '+'
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		d.escapes = d.escapes || n > 1
		d.text = append(d.text, c)
		d.start = append(d.start, int32(i))
		d.end = append(d.end, int32(i+n))
		i += n
	}
}

// maxCharRef is the longest character reference charRef reads.
const maxCharRef = len("&#x0000;")

// charRef reads an HTML or XML character reference to an ASCII byte at
// the start of b (&#43;, &#x2B;, with up to four digits, or &amp; &lt;
// &gt; &quot; &apos;), as servers write a value they echo in a page;
// n is 0 when there is none.
func charRef(b []byte) (c byte, n int) {
	for _, e := range [...]struct {
		ref string
		c   byte
	}{{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}} {
		if bytes.HasPrefix(b, []byte(e.ref)) {
			return e.c, len(e.ref)
		}
	}
	if len(b) < 4 || b[1] != '#' {
		return 0, 0
	}
	i, base := 2, 10
	if b[2] == 'x' || b[2] == 'X' {
		i, base = 3, 16
	}
	v, digits := 0, 0
	for ; i < len(b) && digits < 4; i, digits = i+1, digits+1 {
		d := b[i]
		if !('0' <= d && d <= '9' || base == 16 && isHex(d)) {
			break
		}
		v = v*base + int(unhex(d))
	}
	if digits == 0 || i >= len(b) || b[i] != ';' || v >= 0x80 {
		return 0, 0
	}
	return byte(v), i + 1
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c|0x20 && c|0x20 <= 'f'
}

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c | 0x20 - 'a' + 10
}

// replaceReader applies rules to what it reads from src. The earliest match
// wins; of matches at one place, the longest.
type replaceReader struct {
	src   io.Reader
	rules []rule
	norm  []string // each escaped rule's needle as looked for in the view
	hold  int      // bytes kept back: the longest needle, spelled longest, less one
	buf   []byte   // read buffer
	in    []byte
	out   []byte
	view  decoded
	eof   bool
	err   error
	// onHit is told of each match; a non-nil error stops the stream with it.
	onHit func(rule) error
}

func newReplaceReader(src io.Reader, rules []rule, onHit func(rule) error) *replaceReader {
	r := &replaceReader{src: src, rules: rules, onHit: onHit, norm: make([]string, len(rules))}
	for i, ru := range rules {
		if ru.escaped {
			r.norm[i] = strings.ToLower(strings.NewReplacer("\r", "", "\n", "", " ", "+").Replace(ru.needle))
			r.hold = max(r.hold, len(ru.needle)*maxSpelling-1)
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
		viewed := false
		for i, ru := range r.rules {
			if ru.needle == "" {
				continue
			}
			j, n := -1, len(ru.needle)
			if ru.escaped && !viewed {
				r.view.decode(r.in)
				viewed = true
			}
			if !ru.escaped || r.view.escapes || r.norm[i] == "" {
				j = bytes.Index(r.in, []byte(ru.needle))
			}
			if ru.escaped && r.norm[i] != "" {
				if k := bytes.Index(r.view.text, []byte(r.norm[i])); k >= 0 {
					s, e := int(r.view.start[k]), int(r.view.end[k+len(r.norm[i])-1])
					if j < 0 || s < j || s == j && e-s > n {
						j, n = s, e-s
					}
				}
			}
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
