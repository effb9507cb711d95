package flatjson

import (
	"encoding/json"
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
