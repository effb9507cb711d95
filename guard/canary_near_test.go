package guard

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// nearSplit is a text made from a near token (the canary's token with one
// character of its random part changed): cut in pieces, each written its
// own way, with a separator between each two.
type nearSplit struct {
	text, name string
}

// nearSplits returns k texts made from near tokens of c, drawn from r: a
// character of the random part changed to another hex digit (with
// tail, any; else one before the last minPiece-1: a token with one of
// those changed, its last piece short after an unpadded base64 or base32
// block, may be taken for it, as minPiece says), the token
// (or its random part) cut once or twice (with tail, anywhere; else
// not just before or after the changed character), each piece in an
// encoding of pieceEncodings, the pieces apart with a separator of
// pieceSeparators (nothing among them).
func nearSplits(c Canary, r *rand.Rand, k int, tail bool) []nearSplit {
	out := make([]nearSplit, 0, k)
	for range k {
		tok := []byte(c.token)
		n := len(c.secret)
		if !tail {
			n -= minPiece - 1
		}
		at := len(canaryPrefix) + r.IntN(n)
		old := strings.IndexByte("0123456789abcdef", tok[at])
		tok[at] = "0123456789abcdef"[(old+1+r.IntN(15))%16]
		s := string(tok)
		if r.IntN(4) == 0 {
			s, at = s[len(canaryPrefix):], at-len(canaryPrefix)
		}
		// The changed character is inside a piece (with tail, anywhere):
		// at a piece's edge, the next piece's encoding may begin with the
		// right character read plain (hex writes a digit d "3d"), and
		// the text then is the canary itself, cut otherwise.
		cut := func() int {
			for {
				if c := 1 + r.IntN(len(s)-1); tail || c < at || c > at+1 {
					return c
				}
			}
		}
		cuts := []int{cut()}
		if r.IntN(2) == 0 {
			cuts = append(cuts, cut())
			if cuts[1] < cuts[0] {
				cuts[0], cuts[1] = cuts[1], cuts[0]
			}
		}
		var b, name strings.Builder
		from := 0
		for i, end := range append(cuts, len(s)) {
			if end <= from {
				continue
			}
			e := pieceEncodings[r.IntN(len(pieceEncodings))]
			if i > 0 {
				sep := pieceSeparators[r.IntN(len(pieceSeparators))]
				b.WriteString(sep)
				fmt.Fprintf(&name, " %q ", sep)
			}
			b.WriteString(e.enc(s[from:end]))
			fmt.Fprintf(&name, "%s(%d:%d)", e.name, from, end)
			from = end
		}
		out = append(out, nearSplit{b.String(), fmt.Sprintf("%s changed at %d: %s", c.token, at, name.String())})
	}
	return out
}

// TestCanaryNearTokenSplits: no text made from a near token (one
// character of the random part changed, cut in pieces each written its
// own way: nearSplits) is taken for the canary, over many canaries, each
// seeded: the same texts every run, so that a false positive fails every
// run, not one in many (CI's TestCanarySplitNotOverreaching drew a new
// canary each time).
func TestCanaryNearTokenSplits(t *testing.T) {
	canaries, per := 400, 40
	if testing.Short() {
		canaries, per = 100, 20
	}
	r := rand.New(rand.NewPCG(3, 0x6e656172))
	taken := 0
	for _, c := range seededCanaries(3, canaries) {
		for _, s := range nearSplits(c, r, per, false) {
			if c.In(s.text) {
				if taken++; taken <= 10 {
					t.Errorf("%s: %q taken for the canary", s.name, s.text)
				}
			}
		}
	}
	if taken > 10 {
		t.Errorf("%d of %d taken in all", taken, canaries*per)
	}
}

var (
	nearCanaries = flag.Int("near.canaries", 0, "TestCanaryNearTokenRate: the canaries to try")
	nearPer      = flag.Int("near.per", 50, "TestCanaryNearTokenRate: the texts to try for each")
)

// TestCanaryNearTokenRate estimates how often a text made from a near
// token is taken for the canary, over -near.canaries canaries (run by
// hand: go test ./guard -run NearTokenRate -near.canaries 2000 -v).
func TestCanaryNearTokenRate(t *testing.T) {
	if *nearCanaries == 0 {
		t.Skip("set -near.canaries")
	}
	r := rand.New(rand.NewPCG(4, 0x72617465))
	for _, tail := range []bool{false, true} {
		taken, all := 0, 0
		for _, c := range seededCanaries(4, *nearCanaries) {
			for _, s := range nearSplits(c, r, *nearPer, tail) {
				all++
				if c.In(s.text) {
					taken++
					t.Logf("%s: %q", s.name, s.text)
				}
			}
		}
		t.Logf("the last characters changed too: %v: %d of %d texts (%d canaries) taken for the canary: %.2g", tail, taken, all, *nearCanaries, float64(taken)/float64(all))
	}
}

// FuzzCanaryNearToken: a near token cut and written as the fuzzer's
// numbers say (nearSplits' draws, from its seed) is not the canary.
func FuzzCanaryNearToken(f *testing.F) {
	f.Add(uint64(1), uint64(2))
	f.Add(uint64(0x5eed), uint64(7))
	f.Fuzz(func(t *testing.T, canarySeed, textSeed uint64) {
		c := seededCanaries(canarySeed, 1)[0]
		for _, s := range nearSplits(c, rand.New(rand.NewPCG(textSeed, canarySeed)), 8, false) {
			if c.In(s.text) {
				t.Errorf("%s: %q taken for the canary", s.name, s.text)
			}
		}
	})
}

// TestCanaryNearTokenTail: texts CI-like runs of nearSplits found taken
// for the canary, a token with its last character changed: a base64
// needle that left out the token's last byte (its bits in the character
// after were not read), and hex whose pair for the changed character
// begins with the right one ("3d" for a digit d), read plain, the pair's
// second character left over in the word. The canary itself, so
// written, is found.
func TestCanaryNearTokenTail(t *testing.T) {
	for _, tc := range []struct {
		secret, text string
		want         bool
	}{
		{"0ffe98d31448e0d13d1af74e", "QldLLUNBTkFSWS0wZmZlOThkMzE0NDhlMGQxM2QxYWY3NGI=", false},
		{"0ffe98d31448e0d13d1af74e", "QldLLUNBTkFSWS0wZmZlOThkMzE0NDhlMGQxM2QxYWY3NGU=", true},
		{"0ffe98d31448e0d13d1af74e", "eDpCV0stQ0FOQVJZLTBmZmU5OGQzMTQ0OGUwZDEzZDFhZjc0ZTp5", true}, // "x:" token ":y"
		{"3bb132d299c609765ddd847d", "QldLLUNBTkFSWS0zYmIxMzJkMjk5YzYwOTc2NWRkZDg0Nw==\n\t62", false},
		{"3bb132d299c609765ddd847d", "QldLLUNBTkFSWS0zYmIxMzJkMjk5YzYwOTc2NWRkZDg0Nw==\n\t64", true},
		{"4ed8ba58960bd99d50fd7a13", "NGVkOGJhNTg5NjBiZDk5ZDUwZmQ3.613132", false},
		{"4ed8ba58960bd99d50fd7a13", "NGVkOGJhNTg5NjBiZDk5ZDUwZmQ3.613133", true},
		{"78ef14f9f79ef8a8819b33b6", "42574b2d43414e4152592d37386566313466396637396566\n\t3861383831396233336263", false},
		{"78ef14f9f79ef8a8819b33b6", "42574b2d43414e4152592d37386566313466396637396566\n\t3861383831396233336236", true},
		{"788c2eb8d0b31e9c7a1e7843", "78 8c2eb8d0b31e9c7a1\n6537383432", false},
		{"788c2eb8d0b31e9c7a1e7843", "78 8c2eb8d0b31e9c7a1\n6537383433", true},
		// A base64 word ending, by chance, in the random part's first
		// character, which the next words go on with.
		{"07f86e8db446e3355700c67b", "QldLLUNBTkFSWS00-\\x37\\x66ODZlOGRiNDQ2ZTMzNTU3MDBjNjdi", false},
		{"07f86e8db446e3355700c67b", "QldLLUNBTkFSWS0w-\\x37\\x66ODZlOGRiNDQ2ZTMzNTU3MDBjNjdi", true},
	} {
		if got := canaryOf(tc.secret).In(tc.text); got != tc.want {
			t.Errorf("canary %s: In(%q) = %v, want %v", tc.secret, tc.text, got, tc.want)
		}
	}
}
