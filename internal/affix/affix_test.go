package affix

import "testing"

func TestAffix(t *testing.T) {
	for _, tt := range []struct {
		a, b     string
		pre, suf int
	}{
		{"", "", 0, 0},
		{"abc", "", 0, 0},
		{"abc", "abd", 2, 0},
		{"xbc", "abc", 0, 2},
		{"abc", "abc", 3, 3},
		{"ab", "abab", 2, 2},
	} {
		if got := Prefix(tt.a, tt.b); got != tt.pre {
			t.Errorf("Prefix(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.pre)
		}
		if got := Suffix(tt.a, tt.b); got != tt.suf {
			t.Errorf("Suffix(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.suf)
		}
	}
}
