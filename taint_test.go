package bulwark_test

import (
	"strings"
	"testing"

	"github.com/bulwark-agents/bulwark"
)

func TestParseTaintMode(t *testing.T) {
	for in, want := range map[string]bulwark.TaintMode{"": bulwark.TaintDetected, "detected": bulwark.TaintDetected, "source": bulwark.TaintSource, "off": bulwark.TaintOff} {
		if got, err := bulwark.ParseTaintMode(in); err != nil || got != want {
			t.Errorf("bulwark.ParseTaintMode(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"Source", "strict", "none", " off"} {
		_, err := bulwark.ParseTaintMode(in)
		if bulwark.ErrorKind(err) != bulwark.Invalid || !strings.Contains(bulwark.ErrorMessage(err), "use detected, source or off") {
			t.Errorf("bulwark.ParseTaintMode(%q) = %v, want an bulwark.Invalid error naming the modes", in, err)
		}
	}
}

// The stricter mode wins, whichever side it is on; "" is detected.
func TestStricterTaint(t *testing.T) {
	for _, tt := range []struct{ a, b, want bulwark.TaintMode }{
		{bulwark.TaintOff, bulwark.TaintOff, bulwark.TaintOff},
		{bulwark.TaintOff, "", bulwark.TaintDetected},
		{"", bulwark.TaintOff, bulwark.TaintDetected},
		{"", "", bulwark.TaintDetected},
		{bulwark.TaintOff, bulwark.TaintSource, bulwark.TaintSource},
		{bulwark.TaintSource, bulwark.TaintOff, bulwark.TaintSource},
		{bulwark.TaintDetected, bulwark.TaintSource, bulwark.TaintSource},
		{bulwark.TaintSource, bulwark.TaintDetected, bulwark.TaintSource},
	} {
		if got := bulwark.StricterTaint(tt.a, tt.b); got != tt.want {
			t.Errorf("bulwark.StricterTaint(%q, %q) = %q, want %q", tt.a, tt.b, got, tt.want)
		}
	}
	if !bulwark.TaintOff.Weaker(bulwark.TaintDetected) || !bulwark.TaintDetected.Weaker(bulwark.TaintSource) || bulwark.TaintSource.Weaker("") || bulwark.TaintDetected.Weaker("") {
		t.Error("Weaker does not order off < detected = \"\" < source")
	}
}
