package guard

import (
	"strings"
	"testing"
)

// TestCanaryUnfinished: a token's start, in any encoding of
// pieceEncodings that writes words (plain, hex, base64, base32), after
// other words and followed by separators only, is where Unfinished holds
// from, for many canaries; once another word follows it, or for text
// without one, nothing is held.
func TestCanaryUnfinished(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 40
	}
	held, wrong := 0, 0
	for ci, c := range seededCanaries(2, n) {
		cut := len(canaryPrefix) + minBegun + ci%(len(c.secret)-minBegun)
		for _, e := range pieceEncodings[:10] {
			lead := "we told you so, and then: "
			start := e.enc(c.token[:cut])
			gap := []string{"   ", "\n\n", " . ", "\",\""}[ci%4]
			text := lead + start + strings.Repeat(gap, 200)
			if got := c.Unfinished(text); got > len(lead) {
				if held++; held <= 10 {
					t.Errorf("%s of %q: Unfinished(%.60q...) = %d, want %d or less", e.name, c.token[:cut], text, got, len(lead))
				}
			}
			if got := c.Unfinished(text + "so it goes "); got != len(text)+11 {
				if wrong++; wrong <= 10 {
					t.Errorf("%s of %q, another word after: Unfinished = %d, want %d", e.name, c.token[:cut], got, len(text)+11)
				}
			}
		}
	}
	if held+wrong > 20 {
		t.Errorf("%d not held, %d held wrongly in all", held, wrong)
	}
}
