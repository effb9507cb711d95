package guard

import (
	"encoding/base64"
	"testing"
)

// FuzzCanaryIn checks that In never panics on any text, and finds the
// token wherever it is put in that text, as is and base64-encoded.
func FuzzCanaryIn(f *testing.F) {
	f.Add("", "")
	f.Add("hello ", " world")
	f.Add(`\u0042\x41`, "%41&#66;")
	f.Add("42:57:4b", "QldL LUNB")
	c := NewCanary()
	f.Fuzz(func(t *testing.T, before, after string) {
		c.In(before + after)
		if text := before + c.String() + after; !c.In(text) {
			t.Errorf("In(%q) = false", text)
		}
		if text := base64.StdEncoding.EncodeToString([]byte(before + c.String() + after)); !c.In(text) {
			t.Errorf("In(base64 %q) = false", before+c.String()+after)
		}
	})
}
