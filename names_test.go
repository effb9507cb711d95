package bulwark

import "testing"

var invisibleTests = []struct {
	in   string
	want bool
}{
	{"plain name", false},
	{"naïve café 名前", false},
	{"ann@example.com", false},
	{"exe.\u202Egnp", true}, // RIGHT-TO-LEFT OVERRIDE
	{"a\u202Ab", true},
	{"a\u2066b\u2069", true}, // isolates
	{"zero\u200Bwidth", true},
	{"zw\u200Cnj", true},
	{"zw\u200Dj", true},
	{"word\u2060joiner", true},
	{"\uFEFFbom", true},
	{"mark\u200F", true},
	{"\u061Calm", true},
	{"soft\u00ADhyphen", true},
	{"invisible\u2062times", true},
	{"mongolian\u180Evowel", true},
	{"tag\U000E0041s", true},
	{"c1\u0085control", true},
	{"line\u2028sep", true},
	{"cgj\u034F", true},
	{"vs\uFE0F", true},
	{"hangul\u3164filler", true},
	{"interlinear\uFFF9", true},
	{"arabic\u0600number", true},
	{"non\u00A0breaking", false}, // visible as a space
}

func TestHasInvisibleFormat(t *testing.T) {
	for _, c := range invisibleTests {
		if got := HasInvisibleFormat(c.in); got != c.want {
			t.Errorf("HasInvisibleFormat(%+q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestNormalizeEmailRefusesInvisible(t *testing.T) {
	for _, e := range []string{"ann\u202E@example.com", "\u200Bann@example.com", "ann@exa\uFEFFmple.com", "ann\u00A0@example.com", "ann@exa\u3000mple.com", "an\u2009n@example.com", "ann\u00AD@example.com"} {
		if _, err := NormalizeEmail(e); ErrorKind(err) != Invalid {
			t.Errorf("NormalizeEmail(%+q) = %v, want Invalid", e, err)
		}
	}
}
