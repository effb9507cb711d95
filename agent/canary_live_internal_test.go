package agent

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/secret"
)

// liveStream feeds a command's output through a call's liveOutput as the
// sandbox hands it over: pieces of out, each written to its stream, with
// the flush the timer makes after each (the worst case: each piece may go
// out alone), then the call's end. It returns what each stream sent
// live, put together, and whether the run was told of a leak.
func liveStream(r *run, pieces []livePiece) (sent [2]string, leak bool) {
	var b [2]strings.Builder
	r.cfg.Sink = func(e bulwark.Event) {
		if e.Type == bulwark.EventToolOutput {
			i := 0
			if e.IsError {
				i = 1
			}
			b[i].WriteString(e.Text)
		}
	}
	red := secret.NewRedactor()
	r.cfg.MaskStream = func() StreamMasker { return red.NewStream() }
	r.liveLeak = false
	o := r.newLiveOutput("run_shell", "call_1")
	for _, p := range pieces {
		o.write(p.stderr, []byte(p.text))
		o.mu.Lock()
		if !o.done {
			o.flush()
		}
		o.mu.Unlock()
	}
	o.close()
	return [2]string{b[0].String(), b[1].String()}, r.liveLeak
}

// livePiece is a piece of a command's output.
type livePiece struct {
	stderr bool
	text   string
}

// chunks cuts text, written to one stream, into pieces of size bytes.
func chunks(text string, size int, stderr bool) []livePiece {
	var ps []livePiece
	for i := 0; i < len(text); i += size {
		ps = append(ps, livePiece{stderr, text[i:min(i+size, len(text))]})
	}
	return ps
}

// liveEncodings are ways a command prints the token (the model wrote it
// into files so, in halves).
var liveEncodings = []struct {
	name string
	enc  func(string) string
}{
	{"plain", func(s string) string { return s }},
	{"lower case", strings.ToLower},
	{"base64", func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }},
	{"hex", func(s string) string { return hex.EncodeToString([]byte(s)) }},
	{"zero-width spaces between", func(s string) string { return interleave(s, "\u200b") }},
}

// TestCanaryLiveOutputHoldBoundary: a command's output that carries the
// token as one word, in several encodings, starting at every offset
// around the 512 bytes the live output holds back, and cut into pieces of
// every size that matters, never sends a byte of the token live, and the
// run is told of the leak (its result is then withheld).
func TestCanaryLiveOutputHoldBoundary(t *testing.T) {
	r := streamRun()
	tok := r.taint.canary.String()
	for _, e := range liveEncodings {
		word := e.enc(tok)
		for lead := streamHold - 20; lead <= streamHold+streamEvery+20; lead += 3 {
			text := prose(lead) + " " + word + " " + prose(3*streamHold)
			start := strings.Index(text, word)
			for _, size := range []int{1, 7, 64, streamEvery, streamHold + 1, 4096} {
				sent, leak := liveStream(r, chunks(text, size, false))
				if !leak {
					t.Fatalf("%s, lead %d, pieces of %d: no leak found", e.name, lead, size)
				}
				if !strings.HasPrefix(text, sent[0]) || len(sent[0]) > start || sent[1] != "" {
					t.Fatalf("%s, lead %d, pieces of %d: sent %q", e.name, lead, size, sent[0][max(0, len(sent[0])-60):])
				}
			}
		}
	}
}

// TestCanaryLiveOutputAcrossStreams: the token's halves printed one to
// stdout, one to stderr (cat a; cat b >&2), or a half, the other
// stream's text, the other half (a stream on its own holds the token
// whole), send no byte of either half live.
func TestCanaryLiveOutputAcrossStreams(t *testing.T) {
	r := streamRun()
	tok := r.taint.canary.String()
	for _, e := range liveEncodings {
		word := e.enc(tok)
		h := len(word) / 2
		a, b := prose(300)+" "+word[:h], word[h:]+" "+prose(3*streamHold)
		for name, pieces := range map[string][]livePiece{
			"stdout then stderr":               {{false, a}, {true, b}},
			"stderr then stdout":               {{true, a}, {false, b}},
			"split by the other stream's text": {{false, a}, {true, strings.Repeat("warning: slow\n", 80)}, {false, b}},
		} {
			sent, leak := liveStream(r, pieces)
			if !leak {
				t.Fatalf("%s, %s: no leak found", e.name, name)
			}
			for i, s := range sent {
				if strings.Contains(s, word[:min(h, 6)]) || strings.Contains(s, word[h:h+min(len(word)-h, 6)]) {
					t.Errorf("%s, %s: stream %d sent %q", e.name, name, i, s)
				}
			}
		}
	}
}

// TestCanaryLiveOutputCleanStreamsWhole: output without the token goes
// out whole, each stream its own, by the call's end.
func TestCanaryLiveOutputCleanStreamsWhole(t *testing.T) {
	r := streamRun()
	out := prose(3000) + " BWK-CANARY-notthetoken " + prose(700)
	errs := strings.Repeat("warning: slow\n", 80)
	for _, size := range []int{1, 64, 4096} {
		pieces := append(chunks(out, size, false), chunks(errs, size, true)...)
		sent, leak := liveStream(r, pieces)
		if leak || sent[0] != out || sent[1] != errs {
			t.Fatalf("pieces of %d: leak %v, sent %d/%d and %d/%d bytes", size, leak, len(sent[0]), len(out), len(sent[1]), len(errs))
		}
	}
}
