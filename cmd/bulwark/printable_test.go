package main

import "testing"

var printableTests = []struct{ in, want string }{
	{"plain text\nand a tab\t", "plain text\nand a tab\t"},
	{"résumé 报告 ملف", "résumé 报告 ملف"},
	{"\x1b[2Jcleared", `\x1b[2Jcleared`},
	{"c1\u0085", `c1\x85`},
	{"report\u202efdp.exe", `report\u202efdp.exe`},
	{"a\u200bb", `a\u200bb`},
	{"\u2066isolate\u2069", `\u2066isolate\u2069`},
	{"rlm\u200f soft\u00adhyphen", `rlm\u200f soft\xadhyphen`},
	{"tag\U000e0041", `tag\U000e0041`},
	{"line\u2028sep", `line\u2028sep`},
	{"filler\u3164", `filler\u3164`},
}

// TestPrintableShowsInvisibles: a task's title, a schedule's input and a
// task's events are shown in the terminal with controls and invisible
// format characters spelled out, so a name cannot read as another.
func TestPrintableShowsInvisibles(t *testing.T) {
	t.Parallel()
	for _, c := range printableTests {
		if got := printable(c.in); got != c.want {
			t.Errorf("printable(%+q) = %+q, want %+q", c.in, got, c.want)
		}
	}
}
