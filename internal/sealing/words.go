package sealing

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// A search index of sealed text must not hold its words in the clear. The
// stores index, in place of each word, a keyed hash of it: IndexWords
// turns a text into the hashes of its words, with a key of the tenant's
// (IndexKey) that the database never holds, and a query goes through the
// same transform, so full-text search (SQLite FTS5, PostgreSQL tsvector)
// ranks tokens that mean nothing without the key.

// Index limits: longer words are cut, and a text indexes its first
// maxIndexWords words.
const (
	maxIndexWordLen = 64
	maxIndexWords   = 4096
)

// IndexKey is the key tenant's search tokens are made with: derived from
// its first data key (the one every later version sits beside), so that
// the index stays valid while the tenant's keys are re-wrapped. nil when
// the tenant has no key.
func (tk *TenantKeys) IndexKey(tenant string) []byte {
	if len(tk.Keys) == 0 {
		return nil
	}
	first := slices.Min(keysOf(tk.Keys))
	mac := hmac.New(sha256.New, tk.Keys[first])
	mac.Write([]byte("bulwark search index v1\x00" + tenant))
	return mac.Sum(nil)
}

func keysOf(m map[uint32][]byte) []uint32 {
	out := make([]uint32, 0, len(m))
	for v := range m {
		out = append(out, v)
	}
	return out
}

// Words splits text into its words for the index: runs of letters and
// digits, in Unicode normal form NFKC, lowercased, cut at 64 bytes; at
// most 4096 of them.
func Words(text string) []string {
	text = strings.ToLower(norm.NFKC.String(text))
	words := strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	if len(words) > maxIndexWords {
		words = words[:maxIndexWords]
	}
	for i, w := range words {
		if len(w) > maxIndexWordLen {
			words[i] = strings.ToValidUTF8(w[:maxIndexWordLen], "")
		}
	}
	return words
}

// IndexWords returns the search tokens of text under key: for each word
// (Words), "w" and the first 16 hex digits of its HMAC-SHA256, joined by
// spaces. The letter in front keeps a full-text parser from reading a
// token as a number.
func IndexWords(key []byte, text string) string {
	return strings.Join(IndexTokens(key, text), " ")
}

// IndexTokens is IndexWords as a list, in the order of the words.
func IndexTokens(key []byte, text string) []string {
	words := Words(text)
	out := make([]string, 0, len(words))
	for _, w := range words {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(w))
		out = append(out, "w"+hex.EncodeToString(mac.Sum(nil))[:16])
	}
	return out
}
