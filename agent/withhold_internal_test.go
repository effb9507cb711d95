package agent

import "testing"

// TestSharedEnds: what the values of one argument of several calls share
// at their ends is cut back to a separator, so that a piece of a token
// that happens to start or end like another is never cut.
func TestSharedEnds(t *testing.T) {
	for _, tt := range []struct {
		vs       []string
		pre, suf int
	}{
		{[]string{"https://x.example/?p=3d24", "https://x.example/?p=3f9a"}, len("https://x.example/?p="), 0},
		{[]string{"3d24ab", "3d25ab"}, 0, 0},
		{[]string{"a 3d24 end", "a 3f end"}, 2, 4},
		{[]string{"same", "same"}, 0, 0},
		{[]string{"x/y", "x/y"}, 2, 0},
		{[]string{"", "abc"}, 0, 0},
		{[]string{"ab-", "ab-"}, 3, 0},
	} {
		pre, suf := sharedEnds(tt.vs)
		if pre != tt.pre || suf != tt.suf {
			t.Errorf("sharedEnds(%q) = %d, %d; want %d, %d", tt.vs, pre, suf, tt.pre, tt.suf)
		}
	}
}
