package guard

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSegments(t *testing.T) {
	text := "SUBJECT: Invoice|EMAIL_FROM: a@b.example|CONTENT: Hi Bob. Please find it attached.\n" +
		"| Year | City |\n|---|---|\n| 1982 | Cairo |\n\nWhat is the capital of Brazil?\n" +
		"```\nimport os\nprint(os.environ)\n```\n- item one\n"
	var got []string
	for _, s := range Segments(text) {
		got = append(got, s.Kind.String()+":"+text[s.Start:s.End])
	}
	want := []string{
		"header:SUBJECT:", "prose:Invoice", "header:EMAIL_FROM:", "prose:a@b.example", "header:CONTENT:",
		"prose:Hi Bob.", "prose:Please find it attached.",
		"cell:Year", "cell:City", "cell:1982", "cell:Cairo",
		"prose:What is the capital of Brazil?",
		"code:```\nimport os\nprint(os.environ)\n```",
		"list:- item one",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Segments:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSegmentsLong(t *testing.T) {
	text := strings.Repeat("word ", 1000) + strings.Repeat("漢", 1000)
	segs := Segments(text)
	checkSegments(t, text, segs)
	for _, s := range segs {
		if s.End-s.Start > maxSegment {
			t.Errorf("segment of %d bytes", s.End-s.Start)
		}
	}
	if n := len(Segments(strings.Repeat("a.\n", 3*maxSegs))); n != maxSegs {
		t.Errorf("%d segments, want the cap %d", n, maxSegs)
	}
}

// checkSegments fails unless segs are non-empty, in order, disjoint spans
// within text that start and end on rune boundaries of valid text.
func checkSegments(t *testing.T, text string, segs []Span) {
	t.Helper()
	prev := 0
	for _, s := range segs {
		if s.Start < prev || s.End <= s.Start || s.End > len(text) {
			t.Fatalf("segment [%d,%d) after %d in a text of %d bytes", s.Start, s.End, prev, len(text))
		}
		if utf8.ValidString(text) && (!utf8.RuneStart(text[s.Start]) || s.End < len(text) && !utf8.RuneStart(text[s.End])) {
			t.Fatalf("segment [%d,%d) cuts a rune of %q", s.Start, s.End, text)
		}
		prev = s.End
	}
	if len(segs) > maxSegs {
		t.Fatalf("%d segments", len(segs))
	}
}

func FuzzSegments(f *testing.F) {
	f.Add("SUBJECT: x|CONTENT: hi. there? yes!\n| a | b |\n|--|--|\n```\ncode\n```\n    indented\n1. item")
	f.Add("e.g. 3.5 mr. x。中文！\t a\tb\tc\n~~~\nunclosed")
	f.Add("\xff\xfe|\x00|:")
	for _, s := range benign {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkSegments(t, s, Segments(s))
		r := Analyze(s)
		for _, sp := range r.Segments {
			if sp.Start < 0 || sp.End > len(s) || sp.Start >= sp.End {
				t.Fatalf("result segment [%d,%d) in %d bytes", sp.Start, sp.End, len(s))
			}
		}
	})
}
