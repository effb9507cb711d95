package egress

// This file is a streaming replacer: it rewrites needles in a byte stream
// (placeholders into values on the way out, values into placeholders on the
// way back) without holding more than the longest needle in memory.

import (
	"bytes"
	"io"
)

// rule replaces one needle. When refuse is set, meeting the needle is an
// error instead (a placeholder of a secret not bound to the host).
type rule struct {
	needle  string
	repl    string
	secret  string // the secret's name, for reports
	refuse  bool
	encoded bool // the needle is a percent-encoded form, and so is repl
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
		r.hold = max(r.hold, len(ru.needle)-1)
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
		at, which := -1, -1
		for i, ru := range r.rules {
			if ru.needle == "" {
				continue
			}
			j := bytes.Index(r.in, []byte(ru.needle))
			if j >= 0 && (at < 0 || j < at || j == at && len(ru.needle) > len(r.rules[which].needle)) {
				at, which = j, i
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
		r.in = r.in[at+len(ru.needle):]
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
