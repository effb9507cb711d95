package sealing

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

var tokenRE = regexp.MustCompile(`^w[0-9a-f]{16}$`)

// TestIndexWords: the same word, whatever its case or Unicode form, gives
// the same token; another key, another token; no word is in the output.
func TestIndexWords(t *testing.T) {
	k1, k2 := []byte("key one"), []byte("key two")
	a := IndexTokens(k1, "Deploy ﬁle, DEPLOY file!")
	if len(a) != 4 || a[0] != a[2] || a[1] != a[3] {
		t.Errorf("IndexTokens = %v, want the two words twice", a)
	}
	if b := IndexTokens(k2, "deploy"); b[0] == a[0] {
		t.Errorf("two keys give the same token %s", b[0])
	}
	if out := IndexWords(k1, "secretword"); strings.Contains(out, "secret") || !tokenRE.MatchString(out) {
		t.Errorf("IndexWords = %q", out)
	}
}

// FuzzIndexWords: whatever the text, the output is tokens of "w" and 16
// hex digits, separated by spaces (nothing a full-text query parser reads
// as syntax), and each word is valid UTF-8 of at most 64 bytes.
func FuzzIndexWords(f *testing.F) {
	for _, s := range []string{"", "a b", `"OR" NEAR(x) * ^ - : | & ! ( )`, "\xff\xfe", strings.Repeat("é", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, w := range Words(s) {
			if w == "" || len(w) > maxIndexWordLen || !utf8.ValidString(w) {
				t.Fatalf("Words(%q) gives %q", s, w)
			}
		}
		out := IndexWords([]byte("k"), s)
		if out == "" {
			return
		}
		for _, tok := range strings.Split(out, " ") {
			if !tokenRE.MatchString(tok) {
				t.Fatalf("IndexWords(%q) gives the token %q", s, tok)
			}
		}
	})
}
