package agent

import (
	"encoding/base64"
	"encoding/hex"
	"github.com/bulwark-agents/bulwark"
	"strings"
	"testing"
)

// TestCanaryStreamFarPieces: a token cut in two, its first piece (plain,
// hex or base64) followed by more spaces or line breaks than the stream
// holds back before the rest comes, sends no piece of it: the start is
// held until the rest comes and the reply is withheld. The reply's
// check finds it, whatever the stream sent.
func TestCanaryStreamFarPieces(t *testing.T) {
	r := streamRun()
	tok := r.taint.canary.String()
	cut := len("BWK-CANARY-") + 8
	encs := []struct {
		name string
		enc  func(string) string
	}{
		{"plain", func(s string) string { return s }},
		{"hex", func(s string) string { return hex.EncodeToString([]byte(s)) }},
		{"base64", func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }},
	}
	for _, e1 := range encs {
		for _, e2 := range encs {
			for _, gap := range []string{strings.Repeat(" ", 2*streamHold), strings.Repeat("\n", 3*streamHold), strings.Repeat(" . ", streamHold)} {
				text := prose(300) + " " + e1.enc(tok[:cut]) + gap + e2.enc(tok[cut:]) + " " + prose(2*streamHold)
				for _, size := range []int{1, 7, streamEvery, streamHold + 1} {
					deltas, found := streamReply(r, text, size)
					if !found {
						t.Fatalf("%s then %s, pieces of %d: the reply's check did not find the token in %q", e1.name, e2.name, size, text)
					}
					if !strings.HasPrefix(text, deltas) || strings.Contains(deltas, e1.enc(tok[:cut])) {
						t.Errorf("%s then %s, gap of %d, pieces of %d: streamed the first piece: %q", e1.name, e2.name, len(gap), size, deltas[max(0, len(deltas)-80):])
					}
				}
			}
		}
	}
}

// TestCanaryStreamFarPiecesCleanGoesOut: a word that reads as a token's
// start is held only while nothing but separators follows it: once
// another word comes, it streams, and a clean reply streams whole.
func TestCanaryStreamFarPiecesCleanGoesOut(t *testing.T) {
	r := streamRun()
	tok := r.taint.canary.String()
	start := tok[:len("BWK-CANARY-")+8]
	text := prose(300) + " " + start + strings.Repeat(" ", 2*streamHold) + "and so on " + prose(4*streamHold)
	s := r.newReplyStream()
	var sent []string
	r.cfg.Sink = func(e bulwark.Event) { sent = append(sent, e.Text) }
	for i := 0; i < len(text); i += 16 {
		s.piece(text[i:min(i+16, len(text))])
	}
	if got := strings.Join(sent, ""); !strings.Contains(got, start) {
		t.Errorf("before the end, streamed %d bytes without the word %q that another word followed", len(got), start)
	}
	if s.carries(text) {
		t.Fatalf("the check found the token in %q", text)
	}
	s.end()
	if got := strings.Join(sent, ""); got != text {
		t.Errorf("streamed %d bytes of %d", len(got), len(text))
	}
}

// TestCanaryLiveOutputFarPieces: a command that prints a token's first
// piece, more blank lines than the live output holds back, then the rest
// (cat a; cat blank; cat b), sends no byte of the first piece live, and
// the run is told of the leak.
func TestCanaryLiveOutputFarPieces(t *testing.T) {
	r := streamRun()
	tok := r.taint.canary.String()
	cut := len("BWK-CANARY-") + 10
	for _, e := range liveEncodings[:4] {
		first := e.enc(tok[:cut])
		text := prose(200) + "\n" + first + strings.Repeat("\n", 3*streamHold) + e.enc(tok[cut:]) + "\n" + prose(2*streamHold)
		for _, size := range []int{1, 7, streamEvery, streamHold + 1} {
			sent, leak := liveStream(r, chunks(text, size, false))
			if !leak {
				t.Fatalf("%s, pieces of %d: no leak found", e.name, size)
			}
			if strings.Contains(sent[0], first) {
				t.Errorf("%s, pieces of %d: the first piece %q was sent live", e.name, size, first)
			}
		}
	}
}

// TestCanaryStreamFarPiecesWordsBetween: a token whose halves, each in
// base64 or hex, stand more than the hold apart with other words between
// them (which the stream cannot hold for: any word may come before the
// rest) may have its first half streamed, but the reply's check finds it
// in the whole text, which is withheld; the task then ends for the leak
// (TestCanaryTextLeakWithheldEverywhere).
func TestCanaryStreamFarPiecesWordsBetween(t *testing.T) {
	r := streamRun()
	tok := r.taint.canary.String()
	h := len(tok) / 2
	for _, enc := range []func(string) string{
		func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		func(s string) string { return hex.EncodeToString([]byte(s)) },
	} {
		text := prose(100) + " " + enc(tok[:h]) + " " + prose(3*streamHold) + " " + enc(tok[h:]) + " " + prose(100)
		deltas, found := streamReply(r, text, 7)
		if !found {
			t.Errorf("the reply's check did not find the token in %q", text)
		}
		if !strings.HasPrefix(text, deltas) || strings.Contains(deltas, enc(tok[h:])) {
			t.Errorf("streamed the second half: %q", deltas)
		}
	}
}
