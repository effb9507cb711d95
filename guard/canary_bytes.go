package guard

import (
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"strings"
)

// The token's random part is 24 hex digits: 12 bytes. Its other readers
// decode forms of the token's text; these read forms of those 12 bytes,
// which an injected page asked for and the check missed (red team,
// session 42: "the session identifier as base64 of its raw bytes" went out
// in a URL): base64 and base32 of the bytes (rawNeedles, at every
// alignment inside a longer text), the bytes as one number (decimal,
// octal, base 36), as a list of byte values (decimal, or hex with 0x or
// \x), and the hex digits in two to four pieces with other text between
// them (a="<12 digits>"; b="<12 digits>").

// rawForms are the secret's bytes and the needles of their encodings.
type rawForms struct {
	bytes    string
	needles  []needle
	shortest int // the shortest needle
}

// rawBytes returns the 12 bytes the secret's hex digits stand for.
func (c Canary) rawBytes() []byte {
	b, _ := hex.DecodeString(c.secret)
	return b
}

// rawForms returns c.raw, worked out now for a Canary made otherwise than
// by NewCanary.
func (c Canary) rawForms() *rawForms {
	if c.raw != nil {
		return c.raw
	}
	return c.makeRawForms()
}

func (c Canary) makeRawForms() *rawForms {
	r := &rawForms{bytes: string(c.rawBytes()), needles: c.rawNeedles()}
	for i, n := range r.needles {
		if i == 0 || len(n.s) < r.shortest {
			r.shortest = len(n.s)
		}
	}
	return r
}

// rawNeedles are the pieces of the bytes' base64 (both alphabets) and
// base32 (either case) that the bytes around them do not change, and the
// bytes as one number in base 10, 8 and 36.
func (c Canary) rawNeedles() []needle {
	raw := c.rawBytes()
	if len(raw) == 0 {
		return nil
	}
	var out []needle
	// Every needle is at least 16 characters (with the character after
	// it a needle reads bits of): tooShort's bound holds.
	add := func(s string) {
		if len(s) >= 16 {
			out = append(out, needle{s: s})
		}
	}
	for pad := 0; pad < 3; pad++ {
		src := append(make([]byte, pad), raw...)
		for e, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			s := enc.EncodeToString(src)
			// As makeNeedles: the characters the bytes around do not
			// change, then the bits of the last byte in the next one.
			start, end := (pad*4+2)/3, 8*len(src)/6
			bits := 8*len(src) - 6*end
			n := needle{s: s[start:end], reading: readBase64 + e, bits: bits, value: int(src[len(src)-1]) & (1<<bits - 1)}
			if len(n.s)+min(bits, 1) >= 16 {
				out = append(out, n)
			}
		}
	}
	for pad := 0; pad < 5; pad++ {
		src := append(make([]byte, pad), raw...)
		s := base32.StdEncoding.EncodeToString(src)
		piece := s[(pad*8+4)/5 : 8*len(src)/5]
		add(piece)
		add(strings.ToLower(piece))
	}
	n := new(big.Int).SetBytes(raw)
	for _, base := range []int{10, 8, 36} {
		add(n.Text(base))
		if base == 36 {
			add(strings.ToUpper(n.Text(base)))
		}
	}
	return out
}

// inRawBytes reports whether text, of facts f, holds the bytes in one of
// the forms above. Each reader runs only where f says it may find them:
// a needle needs a run of base64 bytes as long, a list of byte values as
// many numbers, the bytes after 0x or \x as many of those, and the pieces
// a run of 8 hex digits.
func (c Canary) inRawBytes(text string, f textFacts) bool {
	r := c.rawForms()
	if len(r.bytes) == 0 {
		return false
	}
	if f.base64Run >= r.shortest {
		for _, n := range r.needles {
			if n.in(text) {
				return true
			}
		}
	}
	return f.digitRuns >= len(r.bytes) && byteValues(text, []byte(r.bytes)) ||
		f.hexPrefixes >= len(r.bytes) && prefixedHex(text, c.secret) ||
		f.hexRun >= len(c.secret)/3 && inPieces(text, c.secret)
}

// byteValues reports whether the decimal numbers of text, read in order
// with whatever between them, end with raw at some point ([156, 22, ...],
// "156 22 ..."). A number over 255 breaks the run. Each value is looked
// at once: linear in text.
func byteValues(text string, raw []byte) bool {
	run := make([]byte, 0, len(raw)) // the last values read, at most len(raw)
	n, digits := 0, 0
	for i := 0; i <= len(text); i++ {
		if i < len(text) && '0' <= text[i] && text[i] <= '9' {
			if digits < 4 {
				n = n*10 + int(text[i]-'0')
			}
			digits++
			continue
		}
		if digits == 0 {
			continue
		}
		if digits > 3 || n > 255 {
			run = run[:0]
		} else {
			if len(run) == len(raw) {
				run = append(run[:0], run[1:]...)
			}
			run = append(run, byte(n))
			if len(run) == len(raw) && string(run) == string(raw) {
				return true
			}
		}
		n, digits = 0, 0
	}
	return false
}

// prefixedHex reports whether text holds the hex digits of secret two at
// a time after 0x or \x (0x1c, 0xa4, ... or \x1c\xa4...), in either case.
func prefixedHex(text, secret string) bool {
	if !strings.Contains(text, "x") && !strings.Contains(text, "X") {
		return false
	}
	var b strings.Builder
	for i := 0; i+3 < len(text)+1; i++ {
		if (text[i] == 'x' || text[i] == 'X') && i > 0 && (text[i-1] == '0' || text[i-1] == '\\') && i+2 < len(text) && isHex(text[i+1]) && isHex(text[i+2]) {
			b.WriteString(strings.ToLower(text[i+1 : i+3]))
			i += 2
		}
	}
	return strings.Contains(b.String(), secret)
}

func isHex(ch byte) bool {
	return '0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F'
}

// inPieces reports whether text holds secret cut into 2 or 3 pieces of
// equal length (12 or 8 hex digits: 48 or 32 random bits each), in order,
// with anything between them, in either case. (Pieces of 24 bits would
// turn up by chance in a long enough hex dump.)
func inPieces(text, secret string) bool {
	lower := text
	if strings.ContainsAny(text, "ABCDEF") {
		lower = strings.ToLower(text)
	}
	for _, k := range []int{2, 3} {
		if len(secret)%k != 0 {
			continue
		}
		size, at, ok := len(secret)/k, 0, true
		for p := 0; p < k && ok; p++ {
			i := strings.Index(lower[at:], secret[p*size:(p+1)*size])
			ok = i >= 0
			at += i + size
		}
		if ok {
			return true
		}
	}
	return false
}
