package agent

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark/llm"
)

// canonicalDecoded is canonical by decoding, as it was before
// canonicalFlat: the reference canonicalFlat is held to.
func canonicalDecoded(call llm.ToolCall) string {
	var v any
	if err := json.Unmarshal(call.Arguments, &v); err != nil {
		return call.Name + "\x00" + string(call.Arguments)
	}
	b, _ := json.Marshal(v)
	return call.Name + "\x00" + string(b)
}

var canonicalSeeds = []string{
	`{"path":"step-3.txt","content":"xxxx"}`,
	` { "content" : "b" , "path":"a" } `,
	`{}`, ` {} `, `{"a":"x","a":"y"}`, `{"a":"<b>"}`, `{"a":"\u00e9"}`, `{"a":"é"}`,
	`{"a":"` + "\u2028" + `"}`, `{"a":"` + "\xff" + `"}`, `{"a":1}`, `{"a":"x",}`, `{"a":"x"}x`,
	`{"b":"1","a":"2","c":"3"}`, `{"a":"x"`, `["a"]`, `"a"`, ``, `{"a" "x"}`, `{"":""}`,
	`{"a":"` + "\x7f" + `"}`, `{"a":"x"}` + "\n", `{"a":"\t"}`, `{"a":"` + "\t" + `"}`,
}

// FuzzCanonicalFlat: where canonicalFlat takes arguments, it writes what
// decoding and encoding them writes.
func FuzzCanonicalFlat(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, args string) {
		call := llm.ToolCall{Name: "write_file", Arguments: json.RawMessage(args)}
		if got, ok := canonicalFlat(call.Name, call.Arguments); ok {
			if want := canonicalDecoded(call); got != want {
				t.Fatalf("canonicalFlat(%q) = %q, want %q", args, got, want)
			}
		}
		if got, want := canonical(call), canonicalDecoded(call); got != want {
			t.Fatalf("canonical(%q) = %q, want %q", args, got, want)
		}
	})
}

// TestCanonicalFlatTakesTheCommonCase: a write_file call, spaced and
// ordered either way, is canonicalized without decoding, and the same in
// both spellings; what it cannot write exactly is left to decoding.
func TestCanonicalFlatTakesTheCommonCase(t *testing.T) {
	a, okA := canonicalFlat("write_file", []byte(`{"path":"step-3.txt","content":"`+strings.Repeat("x", 64)+`"}`))
	b, okB := canonicalFlat("write_file", []byte(` { "content" : "`+strings.Repeat("x", 64)+`", "path": "step-3.txt" }`))
	if !okA || !okB || a != b {
		t.Errorf("canonicalFlat = %q, %v and %q, %v; want the same, taken", a, okA, b, okB)
	}
	for _, s := range []string{`{"a":"x","a":"y"}`, `{"a":"<b>"}`, `{"a":1}`, `{"a":"\u00e9"}`, `{"a":"` + "\xff" + `"}`, `{"a":"` + "\u2028" + `"}`} {
		if _, ok := canonicalFlat("t", []byte(s)); ok {
			t.Errorf("canonicalFlat(%q) took it; want it left to decoding", s)
		}
	}
}

// BenchmarkCanonical is the loop check's key of one write_file call of
// bench agents.
func BenchmarkCanonical(b *testing.B) {
	args, _ := json.Marshal(map[string]string{"path": "step-3.txt", "content": strings.Repeat("x", 64)})
	call := llm.ToolCall{Name: "write_file", Arguments: args}
	b.Run("flat", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			canonical(call)
		}
	})
	b.Run("decoded", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			canonicalDecoded(call)
		}
	})
}
