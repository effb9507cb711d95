package egress

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

var replaceTests = []struct {
	in, want string
}{
	{"", ""},
	{"no placeholder here", "no placeholder here"},
	{"{{secret:A}}", "value-a"},
	{"x{{secret:A}}y{{secret:A}}z", "xvalue-ay value-az"}, // the earliest match wins
	{"{{secret:AB}}", "value-ab"},                         // the longest needle at one place wins
	{"{{secret:A}", "{{secret:A}"},
	{"{{secret:{{secret:A}}}}", "{{secret:value-a}}"},
	{strings.Repeat("-", 100) + "{{secret:A}}", strings.Repeat("-", 100) + "value-a"},
}

func TestReplaceReader(t *testing.T) {
	rules := []rule{
		{needle: "{{secret:A}}", repl: "value-a"},
		{needle: "{{secret:AB}}", repl: "value-ab"},
		{needle: "y{{secret:A}}", repl: "y value-a"},
	}
	for _, tt := range replaceTests {
		// One byte at a time: every needle is split across reads.
		got, err := io.ReadAll(newReplaceReader(iotest.OneByteReader(strings.NewReader(tt.in)), rules, nil))
		if err != nil || string(got) != tt.want {
			t.Errorf("replace(%q) one byte at a time = %q, %v, want %q", tt.in, got, err, tt.want)
		}
		got2, err := replaceString(tt.in, rules, nil)
		if err != nil || got2 != tt.want {
			t.Errorf("replaceString(%q) = %q, %v, want %q", tt.in, got2, err, tt.want)
		}
	}
}

// An escaped rule matches its needle in any mix of percent and JSON
// escapes of its bytes, also when split across reads.
func TestReplaceReaderEscaped(t *testing.T) {
	rules := []rule{{needle: "k%y+/ 1", repl: "[K]", escaped: true}}
	for in, want := range map[string]string{
		"a k%y+/ 1 b":                      "a [K] b",
		`k%25y%2B%2f+1`:                    "[K]",
		`k\u0025y\u002B\/%201.`:            "[K].",
		`"k%y+\u002f\u00201"`:              `"[K]"`,
		"k%y+/ 2 k%25y%2B%2F%201":          "k%y+/ 2 [K]",
		`k%y\u002/ 1 k%2 k%y%2g/ 1 ky+/ 1`: `k%y\u002/ 1 k%2 k%y%2g/ 1 ky+/ 1`,
	} {
		got, err := io.ReadAll(newReplaceReader(iotest.OneByteReader(strings.NewReader(in)), rules, nil))
		if err != nil || string(got) != want {
			t.Errorf("replace(%q) one byte at a time = %q, %v, want %q", in, got, err, want)
		}
	}
}

// An escaped rule also matches with line breaks between its bytes; those
// before or after it are kept.
func TestReplaceReaderLines(t *testing.T) {
	rules := []rule{{needle: "czNjcjN0LVZh", repl: "[K]", escaped: true}}
	for in, want := range map[string]string{
		"x czNjcjN0LVZh y":             "x [K] y",
		"czNj\ncjN0\r\nLVZh":           "[K]",
		`czNjcjN0\nLV\r\nZh\n`:         `[K]\n`,
		"\nczNjcjN0LVZh\n":             "\n[K]\n",
		"czNj\n\ncjN0LVZh czNjcjN0LVZ": "[K] czNjcjN0LVZ",
	} {
		got, err := io.ReadAll(newReplaceReader(iotest.OneByteReader(strings.NewReader(in)), rules, nil))
		if err != nil || string(got) != want {
			t.Errorf("replace(%q) one byte at a time = %q, %v, want %q", in, got, err, want)
		}
	}
}

// A refusing rule stops the stream with onHit's error, before the text
// around the needle is let through.
func TestReplaceReaderRefuses(t *testing.T) {
	errNo := errors.New("no")
	rules := []rule{{needle: "{{secret:B}}", repl: "value-b", refuse: true}}
	onHit := func(r rule) error {
		if r.refuse {
			return errNo
		}
		return nil
	}
	in := strings.Repeat("x", 100000) + "{{secret:B}}" + "tail"
	got, err := io.ReadAll(newReplaceReader(strings.NewReader(in), rules, onHit))
	if !errors.Is(err, errNo) {
		t.Fatalf("replace with a refused needle: err = %v, want the refusal", err)
	}
	if strings.Contains(string(got), "value-b") || strings.Contains(string(got), "tail") {
		t.Errorf("replace with a refused needle let through %q...", got[max(0, len(got)-30):])
	}
}

// FuzzReplaceReader checks that the streaming replacer gives the same text
// however its input is split, and never lets a refused needle through.
func FuzzReplaceReader(f *testing.F) {
	f.Add("a {{secret:A}} b {{secret:B}}", 3)
	f.Add("{{secret:{{secret:A}}}}", 1)
	f.Add("%7B%7Bsecret%3AA%7D%7D", 2)
	f.Add(`v%25al\u002Fue`, 1)
	f.Add("d2V\r\nsbA d2\\nVsbA", 2)
	rules := []rule{
		{needle: "v%al/ue", repl: "[V]", escaped: true},
		{needle: "d2VsbA", repl: "[W]", escaped: true},
		{needle: "{{secret:A}}", repl: "value-a"},
		{needle: "%7B%7Bsecret%3AA%7D%7D", repl: "value%2Da"},
		{needle: "{{secret:B}}", repl: "value-b", refuse: true},
	}
	onHit := func(r rule) error {
		if r.refuse {
			return errors.New("refused")
		}
		return nil
	}
	f.Fuzz(func(t *testing.T, in string, chunk int) {
		chunk = 1 + abs(chunk)%64
		whole, errWhole := replaceString(in, rules, onHit)
		got, errChunk := io.ReadAll(newReplaceReader(iotest.HalfReader(&chunkReader{s: in, n: chunk}), rules, onHit))
		if (errWhole == nil) != (errChunk == nil) {
			t.Fatalf("replace(%q): whole err %v, in chunks of %d err %v", in, errWhole, chunk, errChunk)
		}
		if errWhole == nil && string(got) != whole {
			t.Fatalf("replace(%q) in chunks of %d = %q, at once %q", in, chunk, got, whole)
		}
		if errWhole == nil && strings.Contains(in, "{{secret:B}}") {
			t.Fatalf("replace(%q) let a refused needle through", in)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// chunkReader reads s n bytes at a time.
type chunkReader struct {
	s string
	n int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	k := min(c.n, len(p), len(c.s))
	copy(p, c.s[:k])
	c.s = c.s[k:]
	return k, nil
}

// Character references are read as the bytes they stand for, and
// what only looks like one is left as it is.
func TestCharRef(t *testing.T) {
	for in, want := range map[string]string{
		"&#43;": "+", "&#x2B;": "+", "&#X2b;": "+", "&#0043;": "+", "&amp;": "&", "&quot;": `"`,
		"&#43": "", "&#;": "", "&#x;": "", "&#00043;": "", "&#200;": "", "&ampx": "", "&": "", "&#": "",
	} {
		c, n := charRef([]byte(in + "rest"))
		got := ""
		if n > 0 {
			got = string(c)
			if in[:n] != in {
				t.Errorf("charRef(%q) read %d bytes", in, n)
			}
		}
		if got != want {
			t.Errorf("charRef(%q) = %q, want %q", in, got, want)
		}
	}
}
