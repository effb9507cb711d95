package guard

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestCanaryCheckReusing runs TestCanaryCheckShared's rounds with one
// check made again for each (CheckReusing), for one canary and then
// another: every verdict and every decoding must be In's, for the canary
// the check was made for last.
func TestCanaryCheckReusing(t *testing.T) {
	c1, c2 := NewCanary(), NewCanary()
	pieces := append(canaryPieces(c1), canaryPieces(c2)...)
	seps := []string{"\n", " ", "", "!", `","`, `":"`, ":", "="}
	rng := rand.New(rand.NewPCG(7, 8))
	var k *CanaryCheck
	caught := 0
	for round := range 400 {
		c := c1
		if round%3 == 2 {
			c = c2
		}
		k = c.CheckReusing(k)
		pool := make([]string, 3)
		for i := range pool {
			pool[i] = pieces[rng.IntN(len(pieces))]
		}
		for range 8 {
			var b strings.Builder
			for j := range 1 + rng.IntN(4) {
				if j > 0 {
					b.WriteString(seps[rng.IntN(len(seps))])
				}
				b.WriteString(pool[rng.IntN(len(pool))])
			}
			checkShared(t, k, b.String())
			if k.In(b.String()) {
				caught++
			}
		}
	}
	t.Logf("%d texts, %d caught", 400*8, caught)
}

// TestCanaryCheckReusingLetsGo: a check made again keeps nothing of the
// texts it read before (their decodings, the clean texts, the memo's
// words), finds its new canary and not its old one, and keeps its memo
// and scratch only while they are small.
func TestCanaryCheckReusingLetsGo(t *testing.T) {
	c1, c2 := NewCanary(), NewCanary()
	k := c1.Check()
	// The turn, then more runs than the first few hold.
	for _, text := range append(agentTurnTexts[:len(agentTurnTexts):len(agentTurnTexts)], "aGVsbG8gd29ybGQgaGVsbG8=!YmVuY2ggYWdlbnRzIHJ1bg==!c2Vzc2lvbiB0aGlydHktZWlnaHQ=!dGhlIGNoZWNrIG1hZGUgYWdhaW4=") {
		if k.In(text) {
			t.Fatalf("In(%q) = true", text)
		}
	}
	if len(k.runs) <= len(k.runsBuf) {
		t.Fatalf("%d runs: the test no longer grows them past the first few", len(k.runs))
	}
	if len(k.runs) == 0 || len(k.clean) == 0 || len(k.mixedClean) == 0 || len(k.memo) == 0 {
		t.Fatalf("the turn's texts left runs %d, clean %d, mixed %d, memo %d: the test no longer fills them", len(k.runs), len(k.clean), len(k.mixedClean), len(k.memo))
	}
	memo := k.memo
	k2 := c2.CheckReusing(k)
	if k2 != k {
		t.Fatal("CheckReusing made a new check")
	}
	if len(k.runs)+len(k.clean)+len(k.mixedClean)+len(k.memo) != 0 {
		t.Errorf("kept runs %d, clean %d, mixed %d, memo %d", len(k.runs), len(k.clean), len(k.mixedClean), len(k.memo))
	}
	for i := range k.runsBuf {
		if k.runsBuf[i].run != "" || k.cleanBuf[i] != "" || k.mixedBuf[i] != "" {
			t.Errorf("kept a text in the first few, at %d", i)
		}
	}
	if k.memo == nil || len(memo) != 0 {
		t.Error("a small memo was not kept, cleared")
	}
	if !k.In("leak: "+c2.String()) || k.In("leak: "+c1.String()) {
		t.Errorf("made again for another canary: finds it %v, finds the old one %v", k.In("leak: "+c2.String()), k.In("leak: "+c1.String()))
	}
	for i := range maxKeptMemo + 1 {
		k.memo[wordKey{w: strings.Repeat("w", i+1)}] = 0
	}
	k.scratch = make([]byte, 0, maxKeptScratch+1)
	if c1.CheckReusing(k); k.memo != nil || k.scratch != nil {
		t.Errorf("kept a memo of %d words or a scratch of %d bytes", len(k.memo), cap(k.scratch))
	}
}

// TestCanaryCheckReusingAllocs: a turn of `bulwark bench agents`
// (agentTurnTexts) checked with a check made again allocates at least two
// fewer times than with a new check (the check and its memo's table).
func TestCanaryCheckReusingAllocs(t *testing.T) {
	c := NewCanary()
	turn := func(k *CanaryCheck) {
		for _, text := range agentTurnTexts {
			if k.In(text) {
				t.Fatalf("In(%q) = true", text)
			}
		}
	}
	fresh := testing.AllocsPerRun(200, func() { turn(c.Check()) })
	k := c.Check()
	reused := testing.AllocsPerRun(200, func() { turn(c.CheckReusing(k)) })
	t.Logf("allocations a turn: new check %v, made again %v", fresh, reused)
	if reused > fresh-2 {
		t.Errorf("allocations a turn: made again %v, new check %v: want at least 2 fewer", reused, fresh)
	}
}
