package guard

import (
	"strings"
	"testing"
)

// TestCanaryAdjacentPiecesLongWord: the token cut in two, each piece in
// any encoding that writes a word, the pieces written one right after
// the other and more text glued after them (a word longer than
// maxCutWord), is found, for many canaries.
func TestCanaryAdjacentPiecesLongWord(t *testing.T) {
	n := 40
	if testing.Short() {
		n = 10
	}
	missed := 0
	for ci, c := range seededCanaries(5, n) {
		k := 3 + ci%(len(c.token)-4)
		for _, e1 := range pieceEncodings[:10] {
			for _, e2 := range pieceEncodings[:10] {
				text := "see " + e1.enc(c.token[:k]) + e2.enc(c.token[k:]) + "_" + strings.Repeat("zq", maxCutWord) + " end"
				if !c.In(text) {
					if missed++; missed <= 10 {
						t.Errorf("%s then %s, cut at %d: the canary in %q was not found", e1.name, e2.name, k, text[:120])
					}
				}
			}
		}
	}
	if missed > 10 {
		t.Errorf("%d missed in all", missed)
	}
}

// TestCanaryPieceBeginsInsideWord: the random part cut in two, its first
// piece plain (minPiece characters or more) glued after other text in
// the same word, the second in any encoding that writes a word right
// after it, is found; with a character of the first piece changed, not.
func TestCanaryPieceBeginsInsideWord(t *testing.T) {
	n := 40
	if testing.Short() {
		n = 10
	}
	missed, taken := 0, 0
	for ci, c := range seededCanaries(6, n) {
		k := minPiece + ci%(len(c.secret)-minPiece-1)
		wrong := []byte(c.secret)
		wrong[k-2] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", wrong[k-2])+7)%16]
		for _, e := range pieceEncodings[1:10] {
			for _, lead := range []string{"zq", "id=Zx", "Quux"} {
				text := "see " + lead + c.secret[:k] + e.enc(c.secret[k:]) + " end"
				if !c.In(text) {
					if missed++; missed <= 10 {
						t.Errorf("plain then %s, cut at %d: the canary in %q was not found", e.name, k, text)
					}
				}
				text = "see " + lead + string(wrong[:k]) + e.enc(c.secret[k:]) + " end"
				if c.In(text) {
					if taken++; taken <= 10 {
						t.Errorf("plain then %s, cut at %d, a character changed: %q taken for the canary", e.name, k, text)
					}
				}
			}
		}
	}
	if missed+taken > 20 {
		t.Errorf("%d missed, %d taken in all", missed, taken)
	}
}
