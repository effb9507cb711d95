package bulwark

import "fmt"

// TaintMode says what makes a task tainted: from then on, its calls with
// side effects that the policy allows need a person's approval.
type TaintMode string

const (
	// TaintDetected taints a task when the guard flags text it read as
	// prompt injection. The default.
	TaintDetected TaintMode = "detected"
	// TaintSource taints a task as soon as the model sees text from
	// outside (fetched pages, search results, MCP tools, uploaded files),
	// whatever the guard says of it.
	TaintSource TaintMode = "source"
	// TaintOff never taints a task: untrusted text is still marked and
	// screened, and the guard's findings are still events, but nothing
	// waits for a person because of them.
	TaintOff TaintMode = "off"
)

// ParseTaintMode reads a taint mode; "" is TaintDetected.
func ParseTaintMode(s string) (TaintMode, error) {
	switch m := TaintMode(s); m {
	case "":
		return TaintDetected, nil
	case TaintDetected, TaintSource, TaintOff:
		return m, nil
	}
	return "", Errorf(Invalid, "taint.mode", "unknown taint mode %q: use detected, source or off", s)
}

// strictness orders the modes: off, detected, source.
func (m TaintMode) strictness() int {
	switch m {
	case TaintOff:
		return 0
	case TaintSource:
		return 2
	}
	return 1 // detected, and "" which means it
}

// Weaker reports whether m taints less than other: off is weaker than
// detected, which is weaker than source. A tenant may not choose a mode
// weaker than the operator's.
func (m TaintMode) Weaker(other TaintMode) bool { return m.strictness() < other.strictness() }

// StricterTaint returns the stricter of two modes: the mode a task runs
// in is the stricter of the operator's and its tenant's.
func StricterTaint(a, b TaintMode) TaintMode {
	if a.Weaker(b) {
		a = b
	}
	if a == "" {
		return TaintDetected
	}
	return a
}

// String is the mode's name.
func (m TaintMode) String() string {
	if m == "" {
		return string(TaintDetected)
	}
	return string(m)
}

var _ fmt.Stringer = TaintMode("")
