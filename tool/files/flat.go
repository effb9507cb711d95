package files

import (
	"strings"
	"unicode/utf8"
)

// flatStrings reads args, the arguments of a call, when they are an
// object of plain string values (no escapes, no control characters,
// valid UTF-8), as a file tool's usually are, without json.Unmarshal's
// reflection: vals[i] is the value of the key names[i] ("" when absent),
// as json.Unmarshal into a struct of string fields tagged with names
// would set them. ok is false for anything else, which decode reads:
// other values, a repeated key, a key that is not one of names but
// json.Unmarshal might match to one (it ignores case), data after the
// object. FuzzFlatStrings holds it to json.Unmarshal.
func flatStrings(args []byte, vals []string, names ...string) (ok bool) {
	i := skipSpace(args, 0)
	if i == len(args) || args[i] != '{' {
		return false
	}
	var seen uint64
	i = skipSpace(args, i+1)
	if i < len(args) && args[i] == '}' {
		return skipSpace(args, i+1) == len(args)
	}
	var keys [8]string
	nkeys := 0
	for {
		k, j, ok := plainString(args, i)
		if !ok {
			return false
		}
		if i = skipSpace(args, j); i == len(args) || args[i] != ':' {
			return false
		}
		v, j, ok := plainString(args, skipSpace(args, i+1))
		if !ok {
			return false
		}
		// A repeated key (json.Unmarshal keeps the last value) is left
		// to it; so are keys beyond the few a file tool takes.
		if nkeys == len(keys) {
			return false
		}
		for _, x := range keys[:nkeys] {
			if x == k {
				return false
			}
		}
		keys[nkeys] = k
		nkeys++
		known := false
		for n, name := range names {
			if k == name {
				vals[n], known = v, true
				seen |= 1 << n
			} else if strings.EqualFold(k, name) {
				return false
			}
		}
		if !known {
			for _, c := range []byte(k) {
				if c >= utf8.RuneSelf {
					return false // Unicode case folding: leave it to json.Unmarshal
				}
			}
		}
		if i = skipSpace(args, j); i == len(args) {
			return false
		}
		if args[i] == '}' {
			return skipSpace(args, i+1) == len(args)
		}
		if args[i] != ',' {
			return false
		}
		i = skipSpace(args, i+1)
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

// plainString reads the JSON string at b[i:] when its value is its bytes
// (no escape, no control character, valid UTF-8), returning the value and
// the index after it.
func plainString(b []byte, i int) (string, int, bool) {
	if i >= len(b) || b[i] != '"' {
		return "", 0, false
	}
	start := i + 1
	ascii := true
	for j := start; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(b[start:j]) {
				return "", 0, false
			}
			return string(b[start:j]), j + 1, true
		case c < 0x20 || c == '\\':
			return "", 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", 0, false
}
