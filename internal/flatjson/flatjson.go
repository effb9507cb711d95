// Package flatjson reads the commonest tool arguments, a JSON object whose
// values are all plain strings, without encoding/json's reflection or
// token decoder. A plain string has no escape, no control character and
// only valid UTF-8, so that its value is its bytes. Anything else (other
// values, an escape, a repeated key, more than MaxPairs keys, data after
// the object) is left to encoding/json: Pairs says so, and the caller
// reads the long way.
package flatjson

import "unicode/utf8"

// MaxPairs is the most pairs Pairs takes. Its check for a repeated key
// compares each key with those before it, n²/2 comparisons for n keys:
// unbounded, a tool call of 50,000 keys (600 kB) took 9 s in each of the
// schema check, Effects, the tool and the loop check, where encoding/json
// takes 40 ms. Tool arguments of more keys are rare and read the long way.
const MaxPairs = 16

// Pair is one key and its value, both slices of the input.
type Pair struct{ Key, Value []byte }

// Pairs appends the pairs of data to dst, in their order, when data is an
// object (white space allowed around its parts) whose keys and values are
// plain strings and whose keys are all different and at most MaxPairs;
// ok is false otherwise, and dst is then not to be used.
func Pairs(data []byte, dst []Pair) (_ []Pair, ok bool) {
	i := skipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		return dst, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return dst, skipSpace(data, i+1) == len(data)
	}
	first := len(dst)
	for {
		k, j, ok := plainString(data, i)
		if !ok {
			return dst, false
		}
		if i = skipSpace(data, j); i == len(data) || data[i] != ':' {
			return dst, false
		}
		v, j, ok := plainString(data, skipSpace(data, i+1))
		if !ok {
			return dst, false
		}
		if len(dst)-first == MaxPairs {
			return dst, false
		}
		for _, p := range dst[first:] {
			if string(p.Key) == string(k) {
				return dst, false // encoding/json keeps the last: its call
			}
		}
		dst = append(dst, Pair{k, v})
		if i = skipSpace(data, j); i == len(data) {
			return dst, false
		}
		if data[i] == '}' {
			return dst, skipSpace(data, i+1) == len(data)
		}
		if data[i] != ',' {
			return dst, false
		}
		i = skipSpace(data, i+1)
	}
}

// skipSpace returns the index of the first byte at or after i in b that
// is not JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainString reads the plain JSON string at b[i:], returning its content
// and the index after it.
func plainString(b []byte, i int) ([]byte, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	start := i + 1
	ascii := true
	for j := start; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(b[start:j]) {
				return nil, 0, false
			}
			return b[start:j], j + 1, true
		case c < 0x20 || c == '\\':
			return nil, 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, 0, false
}
