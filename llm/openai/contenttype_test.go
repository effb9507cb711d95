package openai

import (
	"mime"
	"testing"
)

// isJSON answers as ParseMediaType does, on every Content-Type.
func FuzzIsJSON(f *testing.F) {
	for _, ct := range []string{
		"", "text/event-stream", "text/event-stream; charset=utf-8", "application/json",
		"Application/JSON; charset=utf-8", " application/json ", "application/json;", "application/jsonl",
		"application/x-json", "application/problem+json", "APPLICATION/JSON", "application/ĳson", "application/jſon",
		"application/json; a=\"b", "json", "application/json, text/plain",
	} {
		f.Add(ct)
	}
	f.Fuzz(func(t *testing.T, ct string) {
		want, _, _ := mime.ParseMediaType(ct)
		if got := isJSON(ct); got != (want == "application/json") {
			t.Errorf("isJSON(%q) = %v, ParseMediaType says %q", ct, got, want)
		}
	})
}
