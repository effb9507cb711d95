package agent

import (
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/bulwark-agents/bulwark"
	"github.com/bulwark-agents/bulwark/guard"
	"golang.org/x/text/unicode/norm"
)

// streamReply streams text, cut into pieces of size bytes (the last
// shorter), through a run's replyStream as the loop does: the pieces,
// then the reply's check (withholdLeaks), then the end. It returns the
// model_delta pieces put together and whether the check found the
// canary.
func streamReply(r *run, text string, size int) (deltas string, found bool) {
	var b strings.Builder
	r.cfg.Sink = func(e bulwark.Event) {
		if e.Type == bulwark.EventModelDelta {
			b.WriteString(e.Text)
		}
	}
	s := r.newReplyStream()
	for i := 0; i < len(text); i += size {
		s.piece(text[i:min(i+size, len(text))])
	}
	found = s.carries(text)
	s.end()
	return b.String(), found
}

// streamRun is a run with a canary, enough for its replyStream.
func streamRun() *run {
	r := &run{cfg: Config{Mask: func(s string) string { return s }, Now: time.Now}}
	r.taint.canary = guard.NewCanary()
	return r
}

// readerView is text as a reader sees it, for finding a piece of the
// token in what streamed: invisible characters and combining marks
// dropped, look-alike and full-width letters folded, tag characters read
// as the ASCII they spell, upper case.
func readerView(text string) string {
	var b strings.Builder
	for _, r := range text {
		if r >= 0xE0020 && r <= 0xE007E {
			b.WriteRune(r - 0xE0000)
			continue
		}
		b.WriteRune(r)
	}
	v := norm.NFKD.String(guard.Normalize(b.String()))
	v = strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, v)
	return strings.ToUpper(v)
}

// tokenPiece returns a piece of tok, five characters or more, that view
// holds, or "".
func tokenPiece(view, tok string) string {
	tok = strings.ToUpper(tok)
	for i := 0; i+5 <= len(tok); i++ {
		if strings.Contains(view, tok[i:i+5]) {
			return tok[i : i+5]
		}
	}
	return ""
}

// prose is filler text without hex-looking words.
func prose(n int) string {
	return strings.Repeat("we told you so, ", n/16+1)[:n]
}

// TestCanaryStreamHoldBoundary: a token written as one word, whose start
// comes at every offset around the 512 bytes the stream holds back and
// whose text is cut into pieces of every size that matters (a byte, a
// few, the hold and a byte), never streams, not a byte of it: the word
// and the 512 bytes before it are held, and the reply is withheld at its
// end.
func TestCanaryStreamHoldBoundary(t *testing.T) {
	r := streamRun()
	tok := r.taint.canary.String()
	for lead := streamHold - 40; lead <= streamHold+streamEvery+40; lead++ {
		text := prose(lead) + " " + tok + " " + prose(3*streamHold)
		for _, size := range []int{1, 3, 7, 64, streamEvery, streamHold + 1} {
			deltas, found := streamReply(r, text, size)
			if !found {
				t.Fatalf("lead %d, pieces of %d: the reply's check did not find the token", lead, size)
			}
			if !strings.HasPrefix(text, deltas) || strings.Contains(deltas, "BWK") {
				t.Fatalf("lead %d, pieces of %d: streamed %q", lead, size, deltas[max(0, len(deltas)-60):])
			}
		}
	}
}

// tokenForms are ways to write the token that read as one word, which
// the canary check finds.
var tokenForms = []struct {
	name  string
	write func(tok string) string
}{
	{"lower case", strings.ToLower},
	{"full-width", func(tok string) string { return norm.NFKC.String(fullWidth(tok)) }},
	{"zero-width spaces between", func(tok string) string { return interleave(tok, "\u200b") }},
	{"zero-width joiners between", func(tok string) string { return interleave(tok, "\u200d") }},
	{"soft hyphens between", func(tok string) string { return interleave(tok, "\u00ad") }},
	{"combining marks on each", func(tok string) string { return interleave(tok, "\u0301") }},
	{"decomposed marks on each", func(tok string) string { return norm.NFD.String(interleave(tok, "\u0301")) }},
	{"Cyrillic look-alikes", func(tok string) string {
		return strings.NewReplacer("A", "А", "B", "В", "C", "С", "E", "Е", "K", "К", "N", "Н", "R", "Я", "a", "а", "c", "с", "e", "е").Replace(tok)
	}},
	{"tag characters", func(tok string) string {
		return strings.Map(func(r rune) rune { return r + 0xE0000 }, tok)
	}},
	// Padded past the hold: each is a word to a reader.
	{"many zero-width spaces between", func(tok string) string { return interleave(tok, strings.Repeat("\u200b", 12)) }},
	{"many word joiners between", func(tok string) string { return interleave(tok, strings.Repeat("\u2060", 12)) }},
	{"many combining marks on each", func(tok string) string { return interleave(tok, strings.Repeat("\u0301", 16)) }},
	{"full-width, many zero-width spaces between", func(tok string) string { return interleave(fullWidth(tok), strings.Repeat("\u200b", 12)) }},
	{"look-alikes, many marks on each", func(tok string) string {
		return interleave(strings.NewReplacer("A", "А", "B", "В", "C", "С", "E", "Е", "K", "К", "a", "а", "c", "с", "e", "е").Replace(tok), strings.Repeat("\u0301", 16))
	}},
	{"mathematical bold, many word joiners between", func(tok string) string {
		return interleave(strings.Map(func(r rune) rune {
			switch {
			case 'A' <= r && r <= 'Z':
				return r - 'A' + 0x1D400
			case 'a' <= r && r <= 'z':
				return r - 'a' + 0x1D41A
			case '0' <= r && r <= '9':
				return r - '0' + 0x1D7CE
			}
			return r
		}, tok), strings.Repeat("\u2060", 12))
	}},
}

func fullWidth(s string) string {
	return strings.Map(func(r rune) rune {
		if r > ' ' && r <= '~' {
			return r - '!' + '！'
		}
		return r
	}, s)
}

// interleave puts sep after each character of s but the last.
func interleave(s, sep string) string {
	return strings.Join(strings.Split(s, ""), sep)
}

// TestCanaryStreamHoldsUnicodeForms: the token written in look-alike,
// full-width or tag characters, with invisible characters or combining
// marks between its characters, however many, streams no piece of
// itself that a reader would see: to a reader it is one word, and the
// stream holds the word being written.
func TestCanaryStreamHoldsUnicodeForms(t *testing.T) {
	r := streamRun()
	tok := r.taint.canary.String()
	for _, f := range tokenForms {
		written := f.write(tok)
		if !r.taint.canary.In(written) {
			t.Errorf("%s: the check does not find %q: not a form for this test", f.name, written)
			continue
		}
		for _, lead := range []int{10, streamHold - 100, streamHold + 300} {
			text := prose(lead) + " " + written + " " + prose(3*streamHold)
			for _, size := range []int{1, 2, 3, 64} {
				deltas, found := streamReply(r, text, size)
				if !found {
					t.Errorf("%s, lead %d, pieces of %d: the reply's check did not find the token", f.name, lead, size)
				}
				if p := tokenPiece(readerView(deltas), tok); p != "" {
					t.Errorf("%s (%d bytes), lead %d, pieces of %d: a piece of the token streamed: %q", f.name, len(written), lead, size, p)
				}
			}
		}
	}
}

// wordStartWhole is wordStart reading the whole text at once: the
// reference the stream, which reads it a piece at a time, is held to.
func wordStartWhole(text []byte) int {
	return wordStart(text, 0, 0)
}

// FuzzWordStart: the word the stream holds, found a piece at a time
// (runes cut between pieces, invalid UTF-8, pieces of any size), is the
// one found in the whole text so far, after every piece.
func FuzzWordStart(f *testing.F) {
	for _, s := range []string{"ab cd", "a\u200bb\u0301c", "日本 語\u200b", "x\xe2\x80", "\xff\xfeab", "a\u200b\u200b\u0301 b"} {
		f.Add(s, []byte{1, 2, 3})
	}
	f.Fuzz(func(t *testing.T, text string, cuts []byte) {
		r := streamRun()
		s := r.newReplyStream()
		s.push = func(string) string { return "" }
		for i, c := 0, 0; i < len(text); c++ {
			n := 1
			if len(cuts) > 0 {
				n = int(cuts[c%len(cuts)])%7 + 1
			}
			p := text[i:min(i+n, len(text))]
			i += len(p)
			s.piece(p)
			if want := wordStartWhole(s.text); s.word != want {
				t.Fatalf("after %q: the word starts at %d, read whole at %d", s.text, s.word, want)
			}
		}
	})
}
