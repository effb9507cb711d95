package files

import (
	"strings"
	"unicode/utf8"

	"github.com/bulwark-agents/bulwark/internal/flatjson"
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
	var stack [8]flatjson.Pair
	pairs, ok := flatjson.Pairs(args, stack[:0])
	// Keys beyond the few a file tool takes are left to json.Unmarshal.
	if !ok || len(pairs) > len(stack) {
		return false
	}
	for _, p := range pairs {
		k := string(p.Key)
		known := false
		for n, name := range names {
			if k == name {
				vals[n], known = string(p.Value), true
			} else if strings.EqualFold(k, name) {
				return false
			}
		}
		if !known {
			for _, c := range p.Key {
				if c >= utf8.RuneSelf {
					return false // Unicode case folding: leave it to json.Unmarshal
				}
			}
		}
	}
	return true
}
