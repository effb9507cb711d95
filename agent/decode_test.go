package agent

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecodedStrings: the canary check sees every key and every value of
// the arguments, decoded, in document order, however they are escaped.
func FuzzDecodedStrings(f *testing.F) {
	f.Add("a", "b", "c")
	f.Add("\u0000{", "}\"[", "\\u0042")
	f.Fuzz(func(t *testing.T, k, a, b string) {
		if k == "x" || k == "n" || !utf8.ValidString(k) || !utf8.ValidString(a) || !utf8.ValidString(b) {
			return // a repeated key; text JSON cannot hold
		}
		raw, err := json.Marshal(map[string]any{k: a, "x": []any{b, map[string]any{"n": 1.5}}})
		if err != nil {
			return
		}
		got0 := decodedStrings(raw)
		keys, values, strs := got0.keys, got0.values, got0.strs
		wantStrValues := []string{a, b}
		if k > "x" {
			wantStrValues = []string{b, a}
		}
		if !slices.Equal(got0.strValues, wantStrValues) {
			t.Errorf("string values of %s = %q, want %q", raw, got0.strValues, wantStrValues)
		}
		wantStrs := []string{k, a, "x", b, "n"}
		if k > "x" {
			wantStrs = []string{"x", b, "n", k, a}
		}
		if !slices.Equal(strs, wantStrs) {
			t.Errorf("strings of %s in order = %q, want %q", raw, strs, wantStrs)
		}
		want := []string{k, "x"}
		slices.Sort(want) // as json.Marshal writes them
		got := slices.Clone(keys)
		if !slices.Contains(got, "n") {
			t.Fatalf("keys %q of %s lack the nested key", keys, raw)
		}
		got = slices.DeleteFunc(got, func(s string) bool { return s == "n" })
		if !slices.Equal(got, want) {
			t.Errorf("keys of %s = %q, want %q", raw, keys, want)
		}
		wantValues := []string{a, b, "1.5"}
		if k > "x" {
			wantValues = []string{b, "1.5", a}
		}
		if !slices.Equal(values, wantValues) {
			t.Errorf("values of %s = %q, want %q", raw, values, wantValues)
		}
	})
}

// FuzzScanStrings: the fast walk of valid JSON finds the same keys and
// values as the token decoder.
func FuzzScanStrings(f *testing.F) {
	for _, s := range []string{`{"path":"a.txt","content":"x"}`, `[1,-2.5e3,true,null,{"a":["b",{"c":"d"}],"e":{}}]`,
		`"top"`, `{"k\u00e9":"v\n\"q\"","\ud800":"\xff"}`, "{\"a\":\"\xff\xfe\"}", ` { "a" : [ ] , "b" : 0 } `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !json.Valid(raw) {
			return
		}
		if got, want := scanStrings(raw), tokenStrings(raw); !sameStrings(got, want) {
			t.Errorf("scanStrings(%q) = %q; want %q", raw, got, want)
		}
	})
}

// sameStrings reports whether a and b hold the same strings in the same
// order, list by list.
func sameStrings(a, b argStrings) bool {
	return slices.Equal(a.keys, b.keys) && slices.Equal(a.values, b.values) &&
		slices.Equal(a.strs, b.strs) && slices.Equal(a.strValues, b.strValues)
}

// TestScanStringsAllocs: the strings of a write_file call's arguments are
// cut from one copy of them, into one array of lists: two allocations
// (each string and each list's growth were one, 13 in all).
func TestScanStringsAllocs(t *testing.T) {
	args := []byte(`{"content":"` + strings.Repeat("x", 64) + `","path":"step-3.txt"}`)
	if n := testing.AllocsPerRun(100, func() { scanStrings(args) }); n > 2 {
		t.Errorf("scanStrings: %v allocations, want at most 2", n)
	}
	a := scanStrings(args)
	want := argStrings{keys: []string{"content", "path"}, values: []string{strings.Repeat("x", 64), "step-3.txt"},
		strs: []string{"content", strings.Repeat("x", 64), "path", "step-3.txt"}, strValues: []string{strings.Repeat("x", 64), "step-3.txt"}}
	if !sameStrings(a, want) {
		t.Errorf("scanStrings = %q, want %q", a, want)
	}
	// The lists share an array: none may grow into the next.
	a.keys = append(a.keys, "more")
	if a.values[0] != strings.Repeat("x", 64) {
		t.Error("a list grew into the next")
	}
}
