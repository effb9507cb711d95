package files

import (
	"fmt"
	"strings"
	"testing"
)

// oldPlural is plural as fmt wrote it before appendPlural.
func oldPlural(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "ch"):
		noun += "es"
	case strings.HasSuffix(noun, "y"):
		noun = noun[:len(noun)-1] + "ies"
	default:
		noun += "s"
	}
	return fmt.Sprintf("%d %s", n, noun)
}

// TestWroteResultAsFmt holds write_file's result and plural, written
// without fmt, to the bytes fmt wrote: names that %q escapes (quotes,
// backslashes, controls, invalid UTF-8, non-ASCII), sizes and line counts
// of 0, 1 and more, each noun ending plural's three ways.
func TestWroteResultAsFmt(t *testing.T) {
	names := []string{"step-0.txt", "a b/c.go", `quo"te`, `back\slash`, "tab\there", "new\nline", "\x00\x7f", "bad\xffutf8", "日本語.md", "emoji-😀", "\u200bzero", ""}
	contents := []string{"", "x", "x\n", "a\nb", "a\nb\n", strings.Repeat("x", 64), strings.Repeat("line\n", 1000), "\n\n\n"}
	for _, replaced := range []bool{false, true} {
		verb := "created"
		if replaced {
			verb = "replaced"
		}
		for _, name := range names {
			for _, content := range contents {
				want := fmt.Sprintf("%s %q (%s, %s)", verb, name, oldPlural(len(content), "byte"), oldPlural(countLines(content), "line"))
				if got := wroteResult(replaced, name, content); got != want {
					t.Errorf("wroteResult(%v, %q, %q) = %q, want %q", replaced, name, content, got, want)
				}
			}
		}
	}
	for _, noun := range []string{"byte", "line", "entry", "match", "file", "y", "ch"} {
		for _, n := range []int{0, 1, 2, 9, 10, 255, 256, 1 << 20, -1} {
			if got, want := plural(n, noun), oldPlural(n, noun); got != want {
				t.Errorf("plural(%d, %q) = %q, want %q", n, noun, got, want)
			}
		}
	}
}

// TestWroteResultAllocs holds write_file's result to two allocations
// (its buffer and the string), where fmt took seven.
func TestWroteResultAllocs(t *testing.T) {
	content := strings.Repeat("x", 64)
	if n := testing.AllocsPerRun(100, func() { wroteResult(false, "step-3.txt", content) }); n > 2 {
		t.Errorf("wroteResult: %v allocations, want at most 2", n)
	}
	old := testing.AllocsPerRun(100, func() {
		_ = fmt.Sprintf("%s %q (%s, %s)", "created", "step-3.txt", oldPlural(len(content), "byte"), oldPlural(countLines(content), "line"))
	})
	t.Logf("fmt: %v allocations", old)
}
