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
	for len(out) < k {
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
		if spellsOut(b.String(), c.secret) || c.oldIn(b.String()) {
			// By chance, the canary itself; or what the old check took
			// for it, which In must too (checkSame): the old readers'
			// verdicts are a floor, as they were (a \u escape's digits,
			// squeezed, read plain: "\u0035" is "u0035", and "35" a
			// random part's first two characters).
			continue
		}
		out = append(out, nearSplit{b.String(), fmt.Sprintf("%s changed at %d: %s", c.token, at, name.String())})
	}
	return out
}

// spellsOut reports whether text, as written or with its escapes undone
// (once or twice), holds secret in its letters and digits, lowercased,
// one after the other: the canary, however it was made. A near split may
// (the hex of the changed character, "37" for a "7", the secret's first
// two characters, read plain, then the rest as its own piece: "...2d37"
// "3722e8..." with "3722e8..." the random part).
func spellsOut(text, secret string) bool {
	for range 3 {
		var b strings.Builder
		for i := range len(text) {
			if c, ok := lowerAlnum(text[i]); ok {
				b.WriteByte(c)
			}
		}
		if strings.Contains(b.String(), secret) {
			return true
		}
		text = unescapeInPlace(text)
	}
	return false
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

// inCase is a text and whether the canary whose random part is secret is
// in it.
type inCase struct {
	secret, text string
	want         bool
}

// checkIn fails t for each case In gets wrong.
func checkIn(t *testing.T, cases []inCase) {
	t.Helper()
	for _, tc := range cases {
		if got := canaryOf(tc.secret).In(tc.text); got != tc.want {
			t.Errorf("canary %s: In(%q) = %v, want %v", tc.secret, tc.text, got, tc.want)
		}
	}
}

// TestCanaryNearTokenHead: texts FuzzCanaryNearToken found taken for
// the canary, a token with its first character changed (FuzzCanaryNearToken
// in CI and here), where the changed character's encoding, read another
// way, gives the right one; and the canary, so written, found.
func TestCanaryNearTokenHead(t *testing.T) {
	checkIn(t, []inCase{
		// The token's first character changed to "f", in hex: "66",
		// whose second character, read plain, is the right "6", and
		// the hex from the next pair the rest (FuzzCanaryNearToken,
		// CI): a piece that began inside another's reading.
		{"611faeee9432c8568cc4e880", "66313166616565653934333263383536386363346538\",\"ODA=", false},
		{"611faeee9432c8568cc4e880", "36313166616565653934333263383536386363346538\",\"ODA=", true},
		{"611faeee9432c8568cc4e880", "663131666165656539343332633835363863633465383830", false},
		{"611faeee9432c8568cc4e880", "363131666165656539343332633835363863633465383830", true},
		{"611faeee9432c8568cc4e880", "6 663131666165656539343332633835363863633465383830", false},
		// Its first character changed to "d", in hex: "64", base32hex's
		// "1", the right one (FuzzCanaryNearToken).
		{"16a1ab045e1fb810c29d33b7", "64366131616230343565 65J64E1H61HJ4E8=\n\td33b7", false},
		{"16a1ab045e1fb810c29d33b7", "31366131616230343565 65J64E1H61HJ4E8=\n\td33b7", true},
		// "RY", the prefix's end in base64, is "E" with bits left
		// over that are not zero; "8c", base32hex, is "C".
		{"ec309f051d55d7528e5199b6", "BWK.2D43414E41\nRY-8c309f051d55d7528e5199b6", false},
		{"ec309f051d55d7528e5199b6", "BWK.2D43414E41\nRY-ec309f051d55d7528e5199b6", true},
		// "%32", the escape of "2", read as written: "32".
		{"32fbe147d3bd5da7453a9363", "%42%57%4B%2D%43%41%4E%41%52%59%2D%66%32.MZRGKMJUG5SDGYTEGVSGCNZUGUZWCOJTGYZQ====", false},
		{"32fbe147d3bd5da7453a9363", "%42%57%4B%2D%43%41%4E%41%52%59%2D%33%32.MZRGKMJUG5SDGYTEGVSGCNZUGUZWCOJTGYZQ====", true},
		{"30fed5650d41b69ad13280d4", "%42%57%4B%2D%43%41%4E%41%52%59%2D%63%30/fed5650d41b69a\nMQYTGMRYGBSDI", false},
		{"30fed5650d41b69ad13280d4", "%42%57%4B%2D%43%41%4E%41%52%59%2D%33%30/fed5650d41b69a\nMQYTGMRYGBSDI", true},
		// Its third character changed to "e": "65" of the hex read as
		// hex ("6", "5"), then "6530" plain (the hex of "e0", the
		// random part's first four characters), then hex.
		{"65304920e51881c8069d8191", "QldLLUNBTkFSWS0=-3635653034393230653531383831633830363964\n\\u0038\\u0031\\u0039\\u0031", false},
		{"65304920e51881c8069d8191", "QldLLUNBTkFSWS0=-3635333034393230653531383831633830363964\n\\u0038\\u0031\\u0039\\u0031", true},
		{"65304920e51881c8069d8191", "3635653034393230653531383831633830363964 8191", false},
		// Its first character changed to "6": the hex of "BWK-CANARY-62",
		// whose "32", read plain, begins "320d8b..." as it is written.
		{"320d8b602e431716709e1fe8", "42574b2d43414e4152592d36320d8b602e43171670396531666538", false},
		{"320d8b602e431716709e1fe8", "42574b2d43414e4152592d33320d8b602e43171670396531666538", true},
		// Its second changed to "e": the hex of "BWK-CANARY-3e36" ends
		// in "3336", the random part's first four characters.
		{"3336f80d491632063734ceab", "42574B2D43414E4152592D33653336\",\"MY4DAZBUHEYTMMZSGA3DGNZTGRRWKYLC", false},
		{"3336f80d491632063734ceab", "42574B2D43414E4152592D33333336\",\"MY4DAZBUHEYTMMZSGA3DGNZTGRRWKYLC", true},
		// Its fourth changed to "2": "2323", as written, inside the
		// hex of "2322", from the second character of a pair.
		{"2323460f568288456c406a47", "\\u0042\\u0057\\u004b\\u002d\\u0043\\u0041\\u004e\\u0041\\u0052 592d32333232343630663536383238383435366334303661 \\x34\\x37", false},
		{"2323460f568288456c406a47", "\\u0042\\u0057\\u004b\\u002d\\u0043\\u0041\\u004e\\u0041\\u0052 592d32333233343630663536383238383435366334303661 \\x34\\x37", true},
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
	checkIn(t, []inCase{
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
	})
}

// TestCanaryAdjacentPiecesAtTheStart: the token, or its random part, cut
// one to three characters from its start, each piece in any encoding of
// pieceEncodings, written one right after the other, after a word that
// may read as the random part's first character ("A" for an "a"), is
// found, over many canaries, each seeded: the rules that keep near tokens
// from being read as the canary there (headFor, extend) must not miss
// it. A run of FuzzCanaryAdjacentPieces found base32 then base64 missed
// ("MVRQ", "ec", is base64's "1TP", text) and a random part "aa04..."
// after "A".
func TestCanaryAdjacentPiecesAtTheStart(t *testing.T) {
	canaries := 100
	if testing.Short() {
		canaries = 20
	}
	missed := 0
	for _, c := range seededCanaries(11, canaries) {
		for _, tok := range []string{c.secret, c.token} {
			for k := 1; k <= 3; k++ {
				for _, a := range pieceEncodings {
					for _, b := range pieceEncodings {
						for _, before := range []string{"A ", strings.ToUpper(c.secret[:1]) + " ", ""} {
							text := before + a.enc(tok[:k]) + b.enc(tok[k:]) + " 0"
							if !c.In(text) {
								if missed++; missed <= 10 {
									t.Errorf("%s then %s, cut at %d: the canary in %q was not found", a.name, b.name, k, text)
								}
							}
						}
					}
				}
			}
		}
	}
	if missed > 10 {
		t.Errorf("%d missed in all", missed)
	}
}

// TestCanaryPrefixEncodedThenRandomPart: the token's prefix in hex or
// base64, then its random part in two pieces each its own way (the first
// glued to the prefix), is found: the token's matcher reads the prefix
// and the first piece, and the secret's states it leaves at the word's
// end go on into the next (as escapes undone leave "42574B2D...2D" then
// "72f125d7..." in one word, the rest after a line break).
func TestCanaryPrefixEncodedThenRandomPart(t *testing.T) {
	prefixes := []func(string) string{pieceEncodings[1].enc, pieceEncodings[2].enc, pieceEncodings[4].enc}
	missed := 0
	for _, c := range seededCanaries(12, 40) {
		for _, pre := range prefixes {
			for _, a := range pieceEncodings {
				for _, b := range pieceEncodings {
					text := "see " + pre(canaryPrefix) + a.enc(c.secret[:14]) + "\n" + b.enc(c.secret[14:]) + " end"
					if !c.In(text) {
						if missed++; missed <= 10 {
							t.Errorf("%s then %s: the canary in %q was not found", a.name, b.name, text)
						}
					}
				}
			}
		}
	}
	if missed > 10 {
		t.Errorf("%d missed in all", missed)
	}
}
