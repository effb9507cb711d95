package flatjson

import (
	"encoding/json"
	"strconv"
	"testing"
)

// FuzzPairs: what Pairs takes, encoding/json reads as an object of the
// same strings, in the same order; and a plain object is taken.
func FuzzPairs(f *testing.F) {
	for _, s := range []string{
		`{"path":"a.txt","content":"x"}`, ` { "a" : "b" } `, `{}`, `{"a":"x","a":"y"}`, `{"a":"\u0041"}`,
		`{"a":1}`, `{"a":"x",}`, `{"a":"x"}x`, `{"a":"x"`, `["a"]`, "{\"a\":\"\xff\"}", "{\"a\":\"\t\"}", `{"é":"ſ"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pairs, ok := Pairs(data, nil)
		if !ok {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("Pairs took %q, which json.Unmarshal refuses: %v", data, err)
		}
		if len(m) != len(pairs) {
			t.Fatalf("Pairs(%q) = %d pairs, json has %d keys", data, len(pairs), len(m))
		}
		for _, p := range pairs {
			var v string
			if err := json.Unmarshal(m[string(p.Key)], &v); err != nil || v != string(p.Value) {
				t.Fatalf("Pairs(%q): %q = %q, json reads %q (%v)", data, p.Key, p.Value, v, err)
			}
		}
	})
}

func TestPairsTakesAPlainObject(t *testing.T) {
	pairs, ok := Pairs([]byte(` {"path" : "src/a.go", "content":"package a\u00e9"} `), nil)
	if ok {
		t.Fatalf("an escape was taken: %q", pairs)
	}
	pairs, ok = Pairs([]byte(" {\"path\" : \"src/a.go\",\n\"content\":\"package é\"} "), nil)
	if !ok || len(pairs) != 2 || string(pairs[0].Key) != "path" || string(pairs[1].Value) != "package é" {
		t.Fatalf("Pairs = %q, %v", pairs, ok)
	}
}

// object returns {"k0":"v","k1":"v",...} of n keys.
func object(n int) []byte {
	b := []byte{'{'}
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `"k`...)
		b = strconv.AppendInt(b, int64(i), 10)
		b = append(b, `":"v"`...)
	}
	return append(b, '}')
}

// TestPairsBoundsKeys: Pairs takes at most MaxPairs keys and leaves more
// to encoding/json, so that its repeated-key check (each key against
// those before) stays bounded: 50,000 keys took 9 s per read unbounded,
// a tool call of 600 kB that each of the schema check, Effects, the tool
// and the loop check read.
func TestPairsBoundsKeys(t *testing.T) {
	if pairs, ok := Pairs(object(MaxPairs), nil); !ok || len(pairs) != MaxPairs {
		t.Errorf("an object of MaxPairs keys: %d pairs, %v; want all taken", len(pairs), ok)
	}
	for _, n := range []int{MaxPairs + 1, 50_000} {
		if _, ok := Pairs(object(n), nil); ok {
			t.Errorf("an object of %d keys was taken; want it left to encoding/json", n)
		}
	}
}
