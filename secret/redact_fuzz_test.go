package secret

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// fuzzCanaries are registered in the fuzz targets; none may survive, in
// any encoding the redactor promises to mask.
var fuzzCanaries = []string{"c4n4ry-Alpha-91", "Zq7Yx0Wv3Ut6", "pass:word@x/y"}

func fuzzRedactor() *Redactor {
	r := NewRedactor()
	for i, c := range fuzzCanaries {
		r.Add(string(rune('A'+i)), c)
	}
	return r
}

func addSeeds(f *testing.F) {
	for _, s := range append(append([]string{}, benign...), streamTexts...) {
		f.Add(s, uint64(0x9e3779b97f4a7c15))
	}
	for _, tt := range patternTests {
		f.Add(tt.in, uint64(12345))
	}
	for _, c := range fuzzCanaries {
		f.Add("x"+c+"y", uint64(7))
		f.Add(base64.StdEncoding.EncodeToString([]byte("ab"+c)), uint64(3))
		f.Add("token="+hex.EncodeToString([]byte(c)), uint64(1))
		// base64 and hex in lines (the base64 command, MIME, PEM, GitHub's
		// contents API, xxd -p), the value at each offset mod 3
		for pad := range 3 {
			data := []byte(strings.Repeat("x", 55+pad) + c + "\n")
			b64 := base64.StdEncoding.EncodeToString(data)
			f.Add(wrapLines(b64, 76, "\n")+"\n", uint64(pad))
			f.Add(wrapLines(b64, 76, "\r\n"), uint64(5))
			f.Add(wrapLines(b64, 64, "\n"), uint64(0x9e3779b97f4a7c15))
			f.Add(`{"content":"`+wrapLines(b64, 60, `\n`)+`"}`, uint64(12345))
			f.Add(wrapLines(hex.EncodeToString(data), 60, "\n"), uint64(7))
		}
	}
}

// FuzzRedactorChunks checks that any split of any text into chunks gives,
// through Stream and Writer, the result of String, and that no canary
// comes out.
func FuzzRedactorChunks(f *testing.F) {
	addSeeds(f)
	r := fuzzRedactor()
	f.Fuzz(func(t *testing.T, text string, splits uint64) {
		want := r.String(text)
		checkNoCanary(t, text, want)
		// Cut text at points chosen by the bits of splits.
		var chunks []string
		rest := text
		for s := splits; len(rest) > 0; s = s>>5 | s<<59 {
			n := int(s%17) + int(s>>60)%2*int(s%300)
			n = min(n, len(rest))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
			if len(chunks) > 4*len(text)+8 {
				chunks = append(chunks, rest)
				break
			}
		}
		if got := viaStream(r, chunks...); got != want {
			t.Fatalf("Stream of %q in %d chunks:\n got %q\nwant %q", text, len(chunks), got, want)
		}
		if got := viaWriter(t, r, chunks...); got != want {
			t.Fatalf("Writer of %q in %d chunks:\n got %q\nwant %q", text, len(chunks), got, want)
		}
	})
}

// FuzzRedactString checks that String never panics, never lets a canary
// through, changes a text only by putting masks in it, and agrees with
// Bytes. (It is not idempotent: a mask can raise the entropy of a value
// around it enough for a second pass to mask that value too.)
func FuzzRedactString(f *testing.F) {
	addSeeds(f)
	r := fuzzRedactor()
	f.Fuzz(func(t *testing.T, text string, _ uint64) {
		got := r.String(text)
		checkNoCanary(t, text, got)
		if got != text && !strings.Contains(got, maskPrefix) {
			t.Fatalf("String(%q) = %q: changed without a mask", text, got)
		}
		if b := r.Bytes([]byte(text)); string(b) != got {
			t.Fatalf("Bytes(%q) = %q, String = %q", text, b, got)
		}
	})
}

func checkNoCanary(t *testing.T, in, out string) {
	t.Helper()
	for _, c := range fuzzCanaries {
		for _, enc := range []string{c, hex.EncodeToString([]byte(c)), base64.StdEncoding.EncodeToString([]byte(c))} {
			// A canary the input builds out of mask text cannot be blamed
			// on the redactor.
			if strings.Contains(out, enc) && !strings.Contains(strings.ReplaceAll(in, enc, ""), "[REDACTED") {
				t.Fatalf("String(%q) = %q contains canary form %q", in, out, enc)
			}
		}
	}
}

// FuzzRedactWrapped checks that a canary's base64 or hex, broken into
// lines of any width an encoder uses (16 and more) with any of the line
// breaks, before and after any text, is masked wherever it falls, and that
// a Stream fed the text in chunks gives String's result.
func FuzzRedactWrapped(f *testing.F) {
	f.Add("", "", uint8(76), uint8(0), uint8(0), uint64(1))
	f.Add("xx", "tail", uint8(64), uint8(1), uint8(1), uint64(7))
	f.Add("x", `{"a":1}`, uint8(60), uint8(2), uint8(2), uint64(12345))
	f.Add("abc", "", uint8(16), uint8(3), uint8(3), uint64(0x9e3779b97f4a7c15))
	r := fuzzRedactor()
	f.Fuzz(func(t *testing.T, before, after string, width, sep, enc uint8, splits uint64) {
		if len(before) > 200 || len(after) > 200 {
			return
		}
		c := fuzzCanaries[int(enc>>2)%len(fuzzCanaries)]
		data := []byte(before + c + after)
		var text string
		switch enc % 4 {
		case 0:
			text = base64.StdEncoding.EncodeToString(data)
		case 1:
			text = base64.URLEncoding.EncodeToString(data)
		case 2:
			text = base64.RawStdEncoding.EncodeToString(data)
		default:
			text = hex.EncodeToString(data)
		}
		text = wrapLines(text, 16+int(width)%100, []string{"\n", "\r\n", `\n`, `\r\n`}[sep%4])
		got := r.String(text)
		joined := strings.NewReplacer("\r", "", "\n", "", `\r`, "", `\n`, "").Replace(got)
		var forms []string
		for _, nd := range needlesFor("X", c) {
			if nd.flags&wrapOK != 0 {
				forms = append(forms, nd.text)
			}
		}
		for _, form := range forms {
			if strings.Contains(joined, form) {
				t.Fatalf("String(%q) = %q: the canary's form %q is left in", text, got, form)
			}
		}
		var chunks []string
		rest := text
		for s := splits; len(rest) > 0; s = s>>3 | s<<61 {
			n := min(int(s%41)+1, len(rest))
			chunks, rest = append(chunks, rest[:n]), rest[n:]
		}
		if s := viaStream(r, chunks...); s != got {
			t.Fatalf("Stream of %q in %d chunks:\n got %q\nwant %q", text, len(chunks), s, got)
		}
	})
}
